"""Schema migrations on open, and the per-database callback secret."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from flowyard.interpreter.store import NewEffectCall, SQLiteStore, StepCommit, StoreError
from flowyard.interpreter.store.sqlite_schema import SCHEMA_VERSION, migrate, schema_version


def test_fresh_database_is_at_the_current_version(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert schema_version(conn) == 0
    assert migrate(conn) == 0
    assert schema_version(conn) == SCHEMA_VERSION
    assert migrate(conn) == SCHEMA_VERSION
    conn.close()


async def test_an_old_database_is_migrated_and_keeps_its_data(
    db_path: Path, commit_for: object
) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, target=1)
    conn.execute(
        "INSERT INTO instances VALUES ('orders', 'a', 'h', 3, 'paid', 'active', '{\"x\":1}', 5)"
    )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "effect_calls" not in tables
    conn.close()

    async with await SQLiteStore.open(db_path) as store:
        old = await store.load_instance("orders", "a")
        assert old is not None and (old.seq, old.snapshot) == (3, {"x": 1})
        assert callable(commit_for)
        commit: StepCommit = commit_for(
            "a",
            3,
            effect_calls=(NewEffectCall(call_id="c", effect="e", request={}, idempotency_key="i"),),
        )
        await store.commit(commit)
        assert [c.call_id for c in await store.effect_calls("pending")] == ["c"]

    conn = sqlite3.connect(db_path)
    assert schema_version(conn) == SCHEMA_VERSION
    conn.close()


async def test_a_newer_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn)
    conn.execute(
        "UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore.open(db_path)


async def test_the_callback_secret_is_random_and_kept(tmp_path: Path) -> None:
    async with await SQLiteStore.open(tmp_path / "one.db") as one:
        secret = one.callback_secret
        assert len(secret) == 32
    async with await SQLiteStore.open(tmp_path / "one.db") as again:
        assert again.callback_secret == secret
    async with await SQLiteStore.open(tmp_path / "two.db") as two:
        assert two.callback_secret != secret


async def test_open_sets_wal_and_refuses_bad_settings(db_path: Path) -> None:
    async with await SQLiteStore.open(db_path, synchronous="OFF"):
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="synchronous"):
        await SQLiteStore.open(db_path, synchronous="SOMETIMES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="file path"):
        await SQLiteStore.open(":memory:")


async def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        await SQLiteStore.open(tmp_path / "missing" / "flowd.db")
