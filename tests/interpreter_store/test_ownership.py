"""One owner per store (a SQLite file, a PostgreSQL schema), named to whoever comes
second, released on exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flowyard.interpreter.store.ownership import StoreBusyError, StoreOwnership
from flowyard.interpreter.store.targets import PostgresClaim
from store_backends import Backend


def test_a_second_claim_is_refused_until_the_first_is_released(db_path: Path) -> None:
    first = StoreOwnership.claim(db_path)
    with pytest.raises(StoreBusyError, match=rf"in use by flowd \(pid {os.getpid()}\)"):
        StoreOwnership.claim(db_path)
    first.release()
    first.release()  # idempotent
    StoreOwnership.claim(db_path).release()


def test_a_killed_owner_leaves_the_store_free(db_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from flowyard.interpreter.store.ownership import StoreOwnership\n"
        f"StoreOwnership.claim({str(db_path)!r})\n"
        "os._exit(0)  # no release: the kernel drops the lock with the process\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    StoreOwnership.claim(db_path).release()


# --- PostgreSQL: a session advisory lock per schema ------------------------------------


def test_a_postgres_schema_has_one_owner_until_released_or_killed(pg: Backend) -> None:
    url = f"{pg.dsn}?schema={pg.schema}"

    async def claims() -> None:
        first = await PostgresClaim.claim(url)
        with pytest.raises(StoreBusyError, match=rf"in use by flowd pid {os.getpid()}"):
            await PostgresClaim.claim(url)
        other = await PostgresClaim.claim(f"{url}_other")  # another schema is free
        await first.release()
        await first.release()  # idempotent
        await (await PostgresClaim.claim(url)).release()
        await other.release()

    asyncio.run(claims())
    code = (
        "import asyncio, os, sys\n"
        "from flowyard.interpreter.store.targets import PostgresClaim\n"
        "asyncio.run(PostgresClaim.claim(sys.argv[1]))\n"
        "os._exit(0)  # no release: the server drops the lock with the session\n"
    )
    subprocess.run([sys.executable, "-c", code, url], check=True, timeout=60)

    async def free() -> None:
        await (await PostgresClaim.claim(url)).release()

    asyncio.run(free())
