"""The admin commands read a SQLite store read-only: while a flowd holds it,
they never open a writer, create, migrate or change the file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from flowyard.interpreter import cli
from flowyard.interpreter.store import DeadLetter, SQLiteStore, StoreError
from flowyard.interpreter.store import sqlite as sqlite_store
from flowyard.interpreter.store.ownership import StoreOwnership

LETTER = DeadLetter(source="file:x:1", topic="jobs", reason="not JSON", payload="{", at_ms=1)


async def _store_with_a_dead_letter(db: Path) -> None:
    async with await SQLiteStore.open(db) as store:
        await store.dead_letter(LETTER)


def _fingerprint(db: Path) -> tuple[bytes, int]:
    return db.read_bytes(), db.stat().st_mtime_ns


def _no_writer(path: str, synchronous: sqlite_store.Synchronous) -> None:
    raise AssertionError(f"a read command opened a writer on {path}")


def test_read_commands_leave_a_held_store_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "flowd.db"
    asyncio.run(_store_with_a_dead_letter(db))
    before = _fingerprint(db)
    ownership = StoreOwnership.claim(db)  # as a running flowd holds it
    holder = sqlite3.connect(db, isolation_level=None)
    monkeypatch.setattr(sqlite_store, "open_writer", _no_writer)
    try:
        holder.execute("PRAGMA journal_mode = WAL")
        for command in (
            ["instances", "jobs"],
            ["incidents"],
            ["dead-letters"],
            ["emitted", "--topic", "jobs-done"],
            ["top", "--once"],
        ):
            assert cli.main([*command, "--store", str(db)]) == 0, command
    finally:
        holder.close()
        ownership.release()
    out = capsys.readouterr().out
    assert "0 instance(s) of jobs" in out
    assert "0 incident(s)" in out
    assert "not JSON" in out and "1 dead letter(s)" in out
    assert _fingerprint(db) == before


async def test_a_read_only_store_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "flowd.db"
    await _store_with_a_dead_letter(db)
    before = _fingerprint(db)
    store = await SQLiteStore.open_read_only(db)
    try:
        assert store.read_only
        assert [row.reason for row in await store.dead_letters()] == ["not JSON"]
        with pytest.raises(StoreError, match="read-only"):
            await store.dead_letter(LETTER)
        with pytest.raises(StoreError, match="read-only"):
            await store.ingest([])
    finally:
        await store.close()
    assert _fingerprint(db) == before


async def test_a_read_only_open_creates_and_migrates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="cannot read the store"):
        await SQLiteStore.open_read_only(missing)
    assert not missing.exists()
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()
    old.write_bytes(b"")  # an empty file: schema version 0
    with pytest.raises(StoreError, match="schema version 0"):
        await SQLiteStore.open_read_only(old)
    assert old.read_bytes() == b""
