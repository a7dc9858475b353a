"""Wrong scenarios fail, and say where, what was expected and what was found."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from flowyard.interpreter.cli import main
from flowyard.interpreter.runtime import Runtime
from flowyard.interpreter.scenario import ScenarioError, load_scenario, run_scenario_file
from flowyard.interpreter.scenario import runner as runner_module
from flowyard.interpreter.scenario.runner import ScenarioResult
from flowyard.interpreter.verify import Mismatch, VerifyReport

FLOWS = Path(__file__).resolve().parent / "flows"


def _write(tmp_path: Path, body: str, name: str = "case.scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


async def _failure(tmp_path: Path, body: str) -> tuple[int, str]:
    result = await run_scenario_file(_write(tmp_path, body))
    assert result.error is None, result.error
    assert result.failure is not None, "the scenario should have failed"
    return result.failure.where.line, str(result.failure)


async def test_wrong_state_names_the_step_and_both_states(tmp_path: Path) -> None:
    line, message = await _failure(
        tmp_path,
        f"""
        scenario: wrong state
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - event: {{topic: clock, value: {{type: start, id: a}}}}
          - advance: 9m
          - expect: {{key: a, state: expired}}
          - expect: {{key: a, state: waiting}}
        """,
    )
    assert line == 6
    assert "case.scenario.yaml:6: expect a: timers/a: state: expected 'expired'" in message
    assert "found 'waiting'" in message


async def test_failure_stops_the_scenario(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
        scenario: stops early
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - expect: {{key: nobody, state: idle}}
          - event: {{topic: clock, value: {{type: start, id: a}}}}
        """,
    )
    result = await run_scenario_file(path)
    assert result.failure is not None
    assert "expected an instance, but there is none" in result.failure.message
    assert (result.steps_run, result.steps_total) == (0, 2)


async def test_wrong_data_names_the_field(tmp_path: Path) -> None:
    line, message = await _failure(
        tmp_path,
        f"""
        scenario: wrong data
        flow: {FLOWS / "always.flow.yaml"}
        steps:
          - event: {{topic: scores, value: {{id: p, points: 5}}}}
          - expect: {{key: p, data: {{points: 6}}}}
        """,
    )
    assert line == 5
    assert "data.points: expected 6, found 5" in message


async def test_stub_list_running_out_fails_clearly(tmp_path: Path) -> None:
    line, message = await _failure(
        tmp_path,
        f"""
        scenario: too few outcomes
        flow: {FLOWS / "failures.flow.yaml"}
        stubs:
          pay: [{{error: down}}]
        steps:
          - event: {{topic: jobs, value: {{type: charge, id: k}}}}
          - advance: 1s
        """,
    )
    assert line == 7
    assert "stubs.pay ran out: no outcome left for attempt 2" in message
    assert "case.scenario.yaml:4" in message


async def test_unstubbed_http_effect_fails_clearly(tmp_path: Path) -> None:
    line, message = await _failure(
        tmp_path,
        f"""
        scenario: no stub for an http effect
        flow: {FLOWS / "failures.flow.yaml"}
        steps:
          - event: {{topic: jobs, value: {{type: book, id: k}}}}
        """,
    )
    assert line == 4
    assert "'book' is an http effect with no stub" in message
    assert "add stubs.book" in message


async def test_unexpected_dead_letter_shows_the_reason(tmp_path: Path) -> None:
    _, message = await _failure(
        tmp_path,
        f"""
        scenario: bad event
        flow: {FLOWS / "always.flow.yaml"}
        steps:
          - event: {{topic: scores, value: {{id: p, points: many}}}}
        """,
    )
    assert "expected the event to be accepted, but it was dead_lettered" in message
    assert "schema violation" in message


async def test_wrong_calls_emits_and_dead_letters(tmp_path: Path) -> None:
    body = f"""
        scenario: wrong effect expectations
        flow: {FLOWS / "actions.flow.yaml"}
        stubs:
          lookup: {{result: {{sku: s}}}}
        steps:
          - event: {{topic: act, value: {{type: go, id: k}}}}
          - EXPECTATION
        """
    cases = {
        "expect_calls: {effect: lookup, count: 2}": "expected 2 call(s), found 1",
        "expect_calls: {effect: lookup, args: {id: j}}": 'args.id: expected "j", found "k"',
        "expect_calls: {effect: lookup, attempts: 3}": "expected 3 attempt(s) in all, found 1",
        "expect_calls: {effect: lookup, status: failed}": "but actions/k/0/a/on/Go/0/do/1 is",
        "expect_emitted: {topic: announcements, values: [{found: {sku: t}}]}": (
            'record 1.found.sku: expected "t", found "s"'
        ),
        "expect_emitted: {topic: announcements, count: 0}": "expected 0, found 1",
        "expect_dead_letters: {count: 1}": "dead letters: expected 1, found 0",
    }
    for index, (expectation, wanted) in enumerate(cases.items()):
        case = tmp_path / str(index)
        case.mkdir()
        _, message = await _failure(case, body.replace("EXPECTATION", expectation))
        assert wanted in message, (expectation, message)


async def test_replay_mismatch_fails_the_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def diverging(store: Any, **_: Any) -> VerifyReport:
        return VerifyReport(1, 3, (Mismatch("timers", "a", "replay diverged at seq 2"),))

    monkeypatch.setattr(runner_module, "verify_store", diverging)
    line, message = await _failure(
        tmp_path,
        f"""
        scenario: replay
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - event: {{topic: clock, value: {{type: start, id: a}}}}
        """,
    )
    assert line == 4
    assert "replay (after the last step): the journal does not rebuild" in message
    assert "timers/a: replay diverged at seq 2" in message


async def test_an_interpreter_error_fails_the_step_instead_of_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Runtime, "ingest_events", broken)
    line, message = await _failure(
        tmp_path,
        f"""
        scenario: interpreter bug
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - advance: 1s
          - event: {{topic: clock, value: {{type: start, id: a}}}}
        """,
    )
    assert line == 5
    assert "the interpreter raised RuntimeError: disk on fire" in message


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("body", "line", "wanted"),
    [
        ("scenario: x\nflow: f.flow.yaml\nsteps: [{evnt: {}}]\n", 3, "did you mean 'event'?"),
        ("scenario: x\nflow: f.flow.yaml\n", 1, "missing field 'steps'"),
        ("scenario: x\nflow: f.flow.yaml\nsteps:\n  - {advance: soon}\n", 4, "not a duration"),
        ("scenario: x\nflow: f\nsteps:\n  - {advance: 1s, expect: {key: k}}\n", 4, "exactly one"),
        ("scenario: x\nflow: f\nsteps: [{advance: 1s}]\nstart: tomorrow\n", 4, "RFC 3339"),
        ("scenario: x\nflow: f\nsteps: [{expect: {state: s}}]\n", 3, "missing field 'key'"),
        ("scenario: x\nflow: f\nsteps:\n  - event: {topic: t}\n", 4, "as `value` (JSON) or `raw`"),
        (
            "scenario: x\nflow: f\nsteps:\n  - event: {topic: t, value: 1, raw: '1'}\n",
            4,
            "as `value` (JSON) or `raw` (text)",
        ),
        (
            "scenario: x\nflow: f\nstubs:\n  pay: [{reslt: 1}]\nsteps: [{advance: 1s}]\n",
            4,
            "unknown field 'reslt' (did you mean 'result'?)",
        ),
        (
            "scenario: x\nflow: f\nstubs:\n  pay: {result: 1, error: e}\nsteps: [{advance: 1s}]\n",
            4,
            "exactly one of result, error, status, timeout",
        ),
        (
            "scenario: x\nflow: f\nstubs:\n  pay: {error: e, callback: {}}\n"
            "steps: [{advance: 1s}]\n",
            4,
            "a callback follows an accepted request",
        ),
        (
            "scenario: x\nflow: f\nstubs:\n  pay: {error: e, body: {}}\nsteps: [{advance: 1s}]\n",
            4,
            "'body' goes with 'status'",
        ),
        ("scenario: x\nflow: f\nsteps: [{expect: {key: k, status: done}}]\n", 3, "must be one of"),
        ("scenario: [x\n", 2, "not valid YAML"),
        ("", 1, "the file is empty"),
    ],
)
def test_bad_scenario_files_are_rejected_at_their_line(
    tmp_path: Path, body: str, line: int, wanted: str
) -> None:
    path = tmp_path / "bad.scenario.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert f"bad.scenario.yaml:{line}: " in str(info.value)
    assert wanted in str(info.value)


async def _error(tmp_path: Path, body: str) -> str:
    result: ScenarioResult = await run_scenario_file(_write(tmp_path, body))
    assert result.error is not None, result.failure
    return str(result.error)


async def test_flow_that_does_not_compile_shows_its_diagnostics(tmp_path: Path) -> None:
    flow = tmp_path / "broken.flow.yaml"
    flow.write_text("flow: broken\nversion: 1\ninitial: nowhere\nstates: {a: {final: true}}\n")
    message = await _error(
        tmp_path, "scenario: x\nflow: broken.flow.yaml\nsteps: [{advance: 1s}]\n"
    )
    assert "case.scenario.yaml:2: the flow" in message and "does not compile" in message
    assert "broken.flow.yaml:3" in message


async def test_stub_for_an_unknown_effect_is_rejected(tmp_path: Path) -> None:
    message = await _error(
        tmp_path,
        f"""
        scenario: x
        flow: {FLOWS / "failures.flow.yaml"}
        stubs:
          charge_card: {{result: 1}}
        steps: [{{advance: 1s}}]
        """,
    )
    assert "case.scenario.yaml:4: stubs.charge_card: no flow declares this effect" in message
    assert "effects: book, pay" in message


async def test_missing_flow_file_is_rejected(tmp_path: Path) -> None:
    message = await _error(tmp_path, "scenario: x\nflow: nope.flow.yaml\nsteps: [{advance: 1s}]\n")
    assert "no flow file" in message


# ---------------------------------------------------------------- flowd test


def test_flowd_test_exit_codes_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(
        tmp_path,
        f"""
        scenario: passes
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - event: {{topic: clock, value: {{type: start, id: a}}}}
          - expect: {{key: a, state: waiting}}
        """,
        "good.scenario.yaml",
    )
    bad_step = _write(
        tmp_path,
        f"""
        scenario: fails
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - expect: {{key: a, state: waiting}}
        """,
        "failing.scenario.yaml",
    )
    broken = _write(tmp_path, "scenario: x\n", "broken.scenario.yaml")

    assert main(["test", str(good)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "passes" in out and "1 passed" in out

    assert main(["test", str(good), str(bad_step), str(broken)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "failing.scenario.yaml:4: expect a" in out
    assert "ERROR" in out and "broken.scenario.yaml:1" in out
    assert "1 passed, 1 failed, 1 could not run" in out

    assert main(["test", str(broken)]) == 2
    capsys.readouterr()

    assert main(["test", "--verbose", str(good)]) == 0
    out = capsys.readouterr().out
    assert "good.scenario.yaml:4: event on clock" in out
    assert "idle ─Start→ waiting" in out
    assert "replayed 1 instance(s)" in out


def test_flowd_test_runs_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(
        tmp_path,
        f"""
        scenario: in a folder
        flow: {FLOWS / "timers.flow.yaml"}
        steps:
          - event: {{topic: clock, value: {{type: start, id: a}}}}
        """,
        "one.scenario.yaml",
    )
    assert main(["test", str(tmp_path)]) == 0
    assert "one.scenario.yaml" in capsys.readouterr().out
    assert main(["test", str(tmp_path / "empty-dir-does-not-exist")]) == 2
