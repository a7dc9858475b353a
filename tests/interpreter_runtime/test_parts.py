"""The shell's parts on their own: clocks, the key scheduler, effect loading, HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flowyard.interpreter.runtime import SystemClock, VirtualClock
from flowyard.interpreter.runtime.activity import Activity
from flowyard.interpreter.runtime.effects.http import HttpEffectRunner, HttpRequest, HttpStatusError
from flowyard.interpreter.runtime.effects.python import EffectLoadError, PythonEffectLoader
from flowyard.interpreter.runtime.scheduler import KeyScheduler


async def test_virtual_clock_wakes_sleepers_in_due_order() -> None:
    clock = VirtualClock(start_ms=1000)
    woke: list[tuple[str, int]] = []

    async def sleeper(name: str, due: int) -> None:
        await clock.sleep_until(due)
        woke.append((name, clock.now_ms()))

    tasks = [
        asyncio.create_task(sleeper("c", 3000)),
        asyncio.create_task(sleeper("a", 1500)),
        asyncio.create_task(sleeper("b", 2000)),
        asyncio.create_task(sleeper("late", 9000)),
    ]
    await asyncio.sleep(0)
    assert clock.next_due_ms() == 1500
    await clock.advance(2500)
    assert woke == [("a", 1500), ("b", 2000), ("c", 3000)]
    assert clock.now_ms() == 3500
    tasks[3].cancel()
    await asyncio.sleep(0)
    assert clock.next_due_ms() is None
    await clock.sleep_until(100)  # already past: returns at once
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_system_clock_sleeps_until_due() -> None:
    clock = SystemClock()
    due = clock.now_ms() + 30
    await clock.sleep_until(due)
    assert clock.now_ms() >= due


async def test_scheduler_runs_one_task_per_key_and_bounds_concurrency() -> None:
    running: set[str] = set()
    peak = 0
    runs: list[str] = []
    release = asyncio.Event()

    async def run_key(key: str) -> bool:
        nonlocal peak
        assert key not in running
        running.add(key)
        peak = max(peak, len(running))
        runs.append(key)
        await release.wait()
        running.discard(key)
        return False

    activity = Activity()
    scheduler: KeyScheduler[str] = KeyScheduler(run_key, max_concurrent=3, activity=activity)
    for key in ["a", "b", "a", "c", "d", "e", "a"]:
        scheduler.notify(key)
    await asyncio.sleep(0.01)
    assert (scheduler.running, scheduler.queued) == (3, 2)
    release.set()
    await activity.wait_idle()
    assert peak == 3
    # "a" was notified again while it ran, so it ran a second time, after the others queued.
    assert runs == ["a", "b", "c", "d", "e", "a"]


def recording_scheduler() -> tuple[KeyScheduler[str], list[str], Activity]:
    """A scheduler of two slots whose runs return at once, recording the keys run."""
    runs: list[str] = []

    async def run_key(key: str) -> bool:
        runs.append(key)
        return False

    activity = Activity()
    return KeyScheduler(run_key, max_concurrent=2, activity=activity), runs, activity


async def test_a_claimed_key_is_not_run_until_released_and_then_runs_if_notified() -> None:
    scheduler, runs, _ = recording_scheduler()
    assert scheduler.claim(["a"]) == ["a"]
    assert scheduler.claim(["a"]) == []
    scheduler.notify("a")
    scheduler.notify("b")
    await asyncio.sleep(0.01)
    assert runs == ["b"]
    # Nor can a key whose run has been started and not finished.
    scheduler.notify("c")
    assert scheduler.claim(["c", "e"]) == ["e"]
    scheduler.release(["e"])
    stopping = asyncio.ensure_future(scheduler.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()  # stop waits for the claim to be released
    scheduler.release(["a"])
    await stopping
    assert scheduler.claim(["d"]) == []


async def test_a_released_key_notified_while_claimed_runs_once() -> None:
    scheduler, runs, activity = recording_scheduler()
    assert scheduler.claim(["a"]) == ["a"]
    scheduler.notify("a")
    scheduler.notify("a")
    scheduler.release(["a"])
    await activity.wait_idle()
    assert runs == ["a"]
    assert scheduler.claim(["a"]) == ["a"]
    scheduler.release(["a"])
    with pytest.raises(ValueError, match="not claimed"):
        scheduler.release(["a"])
    await activity.wait_idle()
    assert runs == ["a"]


async def test_scheduler_retries_a_key_whose_run_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowyard.interpreter.runtime import scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "RETRY_AFTER_ERROR_S", 0.01)
    attempts = 0

    async def run_key(key: str) -> bool:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")
        return False

    scheduler: KeyScheduler[str] = KeyScheduler(run_key, max_concurrent=1)
    scheduler.notify("k")
    for _ in range(100):
        if attempts == 2:
            break
        await asyncio.sleep(0.01)
    assert attempts == 2
    await scheduler.stop()


def test_python_effect_loader(tmp_path: Any) -> None:
    (tmp_path / "loader_mod.py").write_text(
        "async def good(args, ctx):\n    return 1\n\nsync = 3\n"
    )
    loader = PythonEffectLoader([str(tmp_path)])
    assert loader.load("loader_mod", "good") is loader.load("loader_mod", "good")
    with pytest.raises(EffectLoadError, match="is not a function"):
        loader.load("loader_mod", "sync")
    with pytest.raises(EffectLoadError, match="has no attribute"):
        loader.load("loader_mod", "missing")
    with pytest.raises(EffectLoadError, match="cannot import"):
        loader.load("no_such_module_here", "f")


async def test_http_runner_result_and_status_errors(http_server: Any) -> None:
    http_server.script["/bad"] = [503]
    runner = HttpEffectRunner()
    try:
        ok = await runner.send(
            HttpRequest(method="POST", url=http_server.url + "/ok", body={"a": 1}), "idem-1"
        )
        assert ok["status"] == 200 and ok["body"] == {"path": "/ok", "status": 200}
        path, headers, body = http_server.requests[0]
        assert (path, headers["Idempotency-Key"], body) == ("/ok", "idem-1", {"a": 1})
        assert headers["Content-Type"] == "application/json"
        with pytest.raises(HttpStatusError) as caught:
            await runner.send(HttpRequest(method="GET", url=http_server.url + "/bad"), "idem-2")
        assert caught.value.status == 503
        assert caught.value.to_failure().status == 503
    finally:
        await runner.close()
