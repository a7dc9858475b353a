"""One owner per store file, named to whoever comes second, released on exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flowyard.interpreter.store.ownership import StoreBusyError, StoreOwnership


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
