"""`Program.from_ir`: version and shape checks, indexes, validators and shell queries."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from core_helpers import call, make_ir, path, python_effect, set_, state, trans
from flowyard.interpreter.expr import ExprError
from flowyard.interpreter.program import Program, ProgramError, validator


def sample() -> dict[str, Any]:
    ir = make_ir(
        {
            "a": state(
                on={
                    "Go": [
                        trans(
                            "a/on/Go/0",
                            "b",
                            actions=[set_("a/on/Go/0/do/0", n=1), call("a/on/Go/0/do/1", "fx")],
                        )
                    ]
                },
                timers=[
                    {
                        "id": "a/after/0",
                        "kind": "after",
                        "delay_ms": 5,
                        "candidates": [trans("a/after/0/0", "b")],
                    }
                ],
                defer=["Later"],
            ),
            "b": state(final=True),
        },
        events=["Go", "Later"],
        effects={"fx": python_effect()},
        data={"n": ({"type": "integer"}, 0)},
    )
    ir["definition"]["events"]["Go"]["schema"] = {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}},
    }
    ir["definition"]["events"]["Go"]["match_headers"] = [{"name": "ce-type", "values": ["go"]}]
    ir["source"]["spans"] = {"/states/a/on/Go/0": [3, 5, 3, 20], "/states/a": [2, 3, 9, 1]}
    return ir


def test_indexes_everything_by_id() -> None:
    program = Program.from_ir(sample())
    assert set(program.transitions) == {"a/on/Go/0", "a/after/0/0"}
    assert set(program.actions) == {"a/on/Go/0/do/0", "a/on/Go/0/do/1"}
    assert program.timers["a/after/0"].state == "a"
    assert program.states["a"].defer == frozenset({"Later"})
    assert program.data_defaults == {"n": 0}


def test_rejects_other_ir_versions_and_malformed_ir() -> None:
    ir = sample()
    ir["ir_version"] = 2
    with pytest.raises(ProgramError, match="IR version 2 is not supported"):
        Program.from_ir(ir)
    broken = sample()
    del broken["definition"]["states"]
    with pytest.raises(ProgramError, match="malformed IR"):
        Program.from_ir(broken)
    bad_expr = sample()
    bad_expr["definition"]["states"]["a"]["on"]["Go"][0]["when"] = {"op": "exec"}
    with pytest.raises(ProgramError, match=r"unknown expression op 'exec' \(at "):
        Program.from_ir(bad_expr)
    bad_target = sample()
    bad_target["definition"]["states"]["a"]["on"]["Go"][0]["target"] = "zz"
    with pytest.raises(ProgramError, match="unknown state 'zz'"):
        Program.from_ir(bad_target)
    bad_effect = sample()
    del bad_effect["definition"]["effects"]["fx"]
    with pytest.raises(ProgramError, match="unknown effect 'fx'"):
        Program.from_ir(bad_effect)


def test_does_not_modify_the_ir() -> None:
    ir = sample()
    before = copy.deepcopy(ir)
    Program.from_ir(ir)
    assert ir == before


def test_event_routing_and_validation() -> None:
    program = Program.from_ir(sample())
    assert program.event_for("in", {"type": "Go", "id": "1"}, {"ce-type": "go"}) == "Go"
    assert program.event_for("in", {"type": "Go", "id": "1"}, {}) is None
    assert program.event_for("in", {"type": "Later"}, {}) == "Later"
    assert program.event_for("other", {"type": "Go"}, {"ce-type": "go"}) is None
    assert program.event_for("in", "not an object", {}) is None
    # Every record is a Later now too: the first event declared that matches wins.
    catch_all = sample()
    catch_all["definition"]["events"]["Later"]["match"] = []
    either = Program.from_ir(catch_all)
    assert either.event_for("in", {"type": "Go", "id": "1"}, {"ce-type": "go"}) == "Go"
    assert either.event_for("in", {"type": "Go", "id": "1"}, {}) == "Later"
    assert program.validate_event("Go", {"id": "x"}) == []
    assert program.validate_event("Go", {"id": 3}) == ["id: 3 is not of type 'string'"]
    assert program.validate_event("Later", 3) == []
    assert program.events["Go"].key({"event": {"id": "k"}}) == "k"
    assert program.starts_instance("Go") and program.starts_instance("Later")


def test_span_for_walks_up_to_the_nearest_span() -> None:
    program = Program.from_ir(sample())
    assert program.span_for("/states/a/on/Go/0/when/left") == ("t.flow.yaml", [3, 5, 3, 20])
    assert program.span_for("/states/a/timers/0") == ("t.flow.yaml", [2, 3, 9, 1])
    assert program.span_for("/effects/fx") is None


def test_validators_are_shared_and_check_formats() -> None:
    schema = {"type": "string", "format": "date-time"}
    assert validator(schema) is validator(dict(schema))
    assert not validator(schema).is_valid("yesterday")
    assert validator(schema).is_valid("2026-01-01T00:00:00Z")


def test_data_problems_name_the_field() -> None:
    program = Program.from_ir(sample())
    (problem,) = program.validate_data({"n": "x"})
    assert problem.field == "n"
    assert str(problem) == "data.n: 'x' is not of type 'integer'"
    assert program.validate_data({"n": 3}) == []


def test_key_expression_errors_point_at_the_event() -> None:
    program = Program.from_ir(sample())
    with pytest.raises(ExprError, match="no field 'id'") as info:
        program.events["Go"].key({"event": {}})
    assert info.value.pointer == "/events/Go/key"
    assert path("event.id") == sample()["definition"]["events"]["Go"]["key"]


def test_every_documented_format_is_checked_and_nothing_slow_is_imported() -> None:
    import subprocess
    import sys

    code = (
        "import sys, flowyard.interpreter.serve\n"
        "from flowyard.interpreter.formats import FORMAT_CHECKER\n"
        "print(' '.join(sorted(FORMAT_CHECKER.checkers)))\n"
        "print(any(m in sys.modules for m in ('rfc3987_syntax', 'arrow')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split("\n")
    checked = set(out[0].split())
    documented = {
        "date-time", "date", "time", "duration", "email", "hostname", "idn-hostname",
        "ipv4", "ipv6", "uri", "uri-reference", "uri-template", "uuid", "regex", "json-pointer",
    }  # fmt: skip
    assert documented <= checked, documented - checked
    # rfc3987-syntax (the `iri` checker) builds a parser at import, a second per start;
    # isoduration brings arrow, a quarter of one.
    assert out[1] == "False"
