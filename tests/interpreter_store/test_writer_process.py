"""The SQLite writer process: what crosses the pipe, and what happens when a side dies.

The store contract (writes, batching, per-write failures, SIGKILL of the
writing process) runs on it through the `sqlite-process` backend of the other
store tests; these are its own ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from flowyard.interpreter.store import (
    InboxItem,
    SourcePosition,
    SQLiteStore,
    StepCommit,
    StoreClosedError,
    StoreError,
)
from flowyard.interpreter.store import sqlite_writes as writes
from flowyard.interpreter.store.groupcommit import Call, Job
from flowyard.interpreter.store.writer_codec import (
    COMMITS,
    HEADER,
    INGEST,
    PICKLED,
    decode_job,
    encode_job,
)
from flowyard.interpreter.store.writer_process import ProcessCommitter

CommitFor = Callable[..., StepCommit]


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(db_path, writer="process")
    try:
        yield opened
    finally:
        await opened.close()


def writer_of(store: SQLiteStore) -> ProcessCommitter:
    committer = store._committer
    assert isinstance(committer, ProcessCommitter) and committer.pid is not None
    return committer


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by its parent) is not alive either.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state != "Z"


def decoded(data: bytes) -> Job:
    (size,) = HEADER.unpack_from(data)
    assert size == len(data) - HEADER.size
    return decode_job(data[HEADER.size : HEADER.size + 1], memoryview(data)[HEADER.size + 1 :])


def test_an_ingest_call_crosses_as_json_with_its_input_once(commit_for: CommitFor) -> None:
    items = [
        InboxItem("orders", "a", {"n": 1}, 5, None, "kafka:t:0@orders", 7),
        InboxItem("orders", "b", {"n": 2}, 5),
    ]
    step = commit_for("a", 0)
    step = StepCommit(
        step.flow, step.key, step.instance, step.journal.__class__(0, items[0].input, {}, 5)
    )
    call = writes.IngestCall(
        items=tuple(items),
        sources=(SourcePosition(source="kafka:t:0", position=7, updated_ms=5),),
        dead_letters=(),
        effect_updates=(),
        timers_fired=(),
        applied=(step, None),
    )
    data = encode_job(Job(None, writes.ingest, call))
    assert data[HEADER.size : HEADER.size + 1] == INGEST
    assert data.count(b'"n":1') == 1  # the journal's input is the item's
    job = decoded(data)
    assert job.merge is writes.ingest and job.item == call


def test_steps_cross_as_json_and_anything_else_pickled(commit_for: CommitFor) -> None:
    steps = (commit_for("a", 0), commit_for("b", 3, data={"x": [1, 2]}))
    data = encode_job(Job(None, writes.commit_turns, steps))
    assert data[HEADER.size : HEADER.size + 1] == COMMITS
    assert decoded(data).item == steps

    huge = (commit_for("a", 0, data={"big": 10**30}),)  # beyond what orjson writes
    data = encode_job(Job(None, writes.commit_turns, huge))
    assert data[HEADER.size : HEADER.size + 1] == PICKLED
    assert decoded(data).item == huge

    call = Call(writes.save_ir, ("ir",))
    data = encode_job(Job(call))
    assert data[HEADER.size : HEADER.size + 1] == PICKLED
    assert decoded(data).write == call


async def test_the_store_works_through_its_writer_process(
    store: SQLiteStore, commit_for: CommitFor
) -> None:
    big = {"big": 10**30, "text": "\u00e9\u4e2d"}
    await asyncio.gather(*(store.commit(commit_for(f"k{i}", data={"i": i})) for i in range(50)))
    await store.commit(commit_for("huge", data=big))
    assert len(await store.instances()) == 51
    loaded = await store.load_instance("orders", "huge")
    assert loaded is not None and loaded.snapshot["data"] == big
    assert store.stats.operations == 51
    assert store.stats.transactions < 51


async def test_a_write_that_cannot_cross_fails_alone(
    store: SQLiteStore, commit_for: CommitFor
) -> None:
    with pytest.raises(StoreError, match="cannot be handed to the store's writer process"):
        await writer_of(store).submit(lambda conn: None)
    await store.commit(commit_for("after"))
    assert [i.key for i in await store.instances()] == ["after"]


async def test_close_writes_everything_sent_before_it(db_path: Path, commit_for: CommitFor) -> None:
    store = await SQLiteStore.open(db_path, writer="process")
    sent = [asyncio.ensure_future(store.commit(commit_for(f"k{i}"))) for i in range(40)]
    await asyncio.sleep(0)  # every commit is on its way
    await store.close()
    assert all(f.done() and f.exception() is None for f in sent)
    with pytest.raises(StoreClosedError):
        await store.commit(commit_for("late"))
    async with await SQLiteStore.open(db_path) as reopened:
        assert len(await reopened.instances()) == 40


async def test_a_killed_writer_fails_what_it_held_and_refuses_more(
    store: SQLiteStore, commit_for: CommitFor
) -> None:
    writer = writer_of(store)
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGSTOP)
    held = asyncio.ensure_future(store.commit(commit_for("held")))
    await asyncio.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    with pytest.raises(StoreClosedError, match="writer process ended"):
        await asyncio.wait_for(held, 10)
    with pytest.raises(StoreClosedError):
        await store.commit(commit_for("after"))


async def test_a_store_that_cannot_be_opened_says_why(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a database"):
        await SQLiteStore.open(db_path, writer="process")


def test_the_writer_process_ends_with_its_parent(db_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from flowyard.interpreter.store import SQLiteStore\n"
        "async def main():\n"
        f"    store = await SQLiteStore.open({str(db_path)!r}, writer='process')\n"
        "    print(store._committer.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    command = [sys.executable, "-c", script]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            writer = int(parent.stdout.readline())
            assert alive(writer)
        finally:
            parent.kill()
    deadline = time.monotonic() + 10
    while alive(writer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(writer)


async def test_the_wal_is_copied_back_beside_the_commits(
    store: SQLiteStore, db_path: Path, commit_for: CommitFor
) -> None:
    """Long before the writer's own checkpoint (10,000 pages), the checkpoint
    thread has copied the commits into the database file itself."""
    await asyncio.gather(*(store.commit(commit_for(f"k{i}")) for i in range(200)))
    uri = f"file:{db_path}?immutable=1"  # the file alone, without its WAL

    def in_file() -> int:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM instances").fetchone()[0])
            except sqlite3.OperationalError:  # not even the tables yet
                return 0

    deadline = time.monotonic() + 10
    while in_file() < 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert in_file() == 200
