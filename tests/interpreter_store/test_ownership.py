"""One owner per store (a SQLite file, a PostgreSQL schema), named to whoever comes
second, released on exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flowyard.interpreter.store import StoreError
from flowyard.interpreter.store.ownership import StoreBusyError, StoreOwnership
from flowyard.interpreter.store.targets import PostgresClaim, claim_store, open_store
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


# --- partitioned processes: the same lock, shared ---------------------------------------


async def test_partitioned_processes_share_a_postgres_schema_that_a_solo_one_owns_alone(
    pg: Backend,
) -> None:
    url = f"{pg.dsn}?schema={pg.schema}"
    me = f"flowd pid {os.getpid()}"
    first = await claim_store(url, shared=True)
    second = await claim_store(url, shared=True)
    with pytest.raises(StoreBusyError) as refused:
        await claim_store(url)
    assert str(refused.value) == (
        f"the store {url} is in use by {me} (partitioned), {me} (partitioned), partitioned: "
        "stop them to run a flowd alone on it, or run this one partitioned too"
    )
    await first.release()
    with pytest.raises(StoreBusyError, match=r"\(partitioned\), partitioned: stop them"):
        await claim_store(url)
    await second.release()

    solo = await claim_store(url)
    with pytest.raises(StoreBusyError) as refused:
        await claim_store(url, shared=True)
    assert str(refused.value) == (
        f"the store {url} is in use by {me}, which runs alone: stop it before starting "
        "partitioned processes on it"
    )
    await solo.release()
    await (await claim_store(url, shared=True)).release()


async def test_a_sqlite_store_cannot_be_shared_or_opened_partitioned(db_path: Path) -> None:
    with pytest.raises(StoreError, match=r"is a SQLite file: partitioned mode .* needs PostgreSQL"):
        await claim_store(db_path, shared=True)
    with pytest.raises(StoreError, match="needs PostgreSQL"):
        await open_store(db_path, partitioned=True)
    assert not db_path.exists()
