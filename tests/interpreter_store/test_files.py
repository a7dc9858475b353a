"""The store's files are private, and a store made read-only underneath flowd
fails its writes with a reason instead of killing the process (SIGBUS)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flowyard.interpreter.store import DeadLetter, SQLiteStore
from flowyard.interpreter.store.ownership import StoreOwnership


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_store_its_wal_shm_and_lock_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "flowd.db"
    ownership = StoreOwnership.claim(db)
    store = await SQLiteStore.open(db)
    try:
        await store.dead_letter(
            DeadLetter(source="s", topic=None, reason="r", payload="p", at_ms=1)
        )
        for name in ("flowd.db", "flowd.db-wal", "flowd.db-shm", "flowd.db.lock"):
            assert _mode(tmp_path / name) == 0o600, name
    finally:
        await store.close()
        ownership.release()


SCRIPT = """
import asyncio, os, subprocess, sys
from flowyard.interpreter.store import DeadLetter, SQLiteStore, StoreError
from flowyard.interpreter.store.files import left_open

async def main(db, target):
    store = await SQLiteStore.open(db)
    def letter(source):
        return DeadLetter(source=source, topic=None, reason="r", payload="p" * 500, at_ms=1)

    for i in range(20):
        await store.dead_letter(letter(f"a{i}"))
    subprocess.run(["chattr", "+i", target], check=True)
    try:
        for i in range(2000):
            await store.dead_letter(letter(f"b{i}"))
        print("written")
    except StoreError as exc:
        print("refused:", exc)
    await store.close()
    print("closed", flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
if left_open():  # as flowd run does: finalizing the connections would write
    os._exit(0)
"""


def _chattr_works(path: Path) -> bool:
    if shutil.which("chattr") is None or os.geteuid() != 0:
        return False
    probe = path / "probe"
    probe.write_text("x")
    chattr = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False)
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=False)
    works = chattr.returncode == 0
    return works


@pytest.mark.parametrize("suffix", ["-shm", "", "-wal"])
def test_an_immutable_store_file_fails_writes_with_a_reason(tmp_path: Path, suffix: str) -> None:
    if not _chattr_works(tmp_path):
        pytest.skip("needs root and a file system where chattr +i works")
    db = tmp_path / "flowd.db"
    target = Path(f"{db}{suffix}")
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SCRIPT), str(db), str(target)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(["chattr", "-i", str(target)], capture_output=True, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr)  # -7 would be SIGBUS
    assert (
        f"refused: the transaction failed and was rolled back: the store file {target}"
        in done.stdout
    )
    assert "chattr -i" in done.stdout
    assert "closed" in done.stdout
