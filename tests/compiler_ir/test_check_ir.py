"""The IR schema self-check: off by default in flowc, on in tests, on demand by flag or env."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler import api, lower
from flowyard.compiler.api import CHECK_IR_ENV, check_ir_requested, compile_file
from flowyard.compiler.cli import main
from flowyard.compiler.ir import InvalidIRError, inline_refs, load_schema, schema_errors
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "order_fulfillment.flow.yaml"
# A `set` whose value is an expression broken deep down (the recursive part of the schema).
BAD_SET = {
    "id": "a0",
    "op": "set",
    "assign": [
        {
            "field": "total",
            "value": {
                "op": "binary",
                "operator": "+",
                "left": {"op": "lit", "value": 1},
                "right": {"op": "field", "target": {"op": "lit"}, "name": "x"},
            },
        }
    ],
}


@pytest.fixture
def broken_lowering(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lowering that breaks the IR contract, as a compiler bug would."""
    real = lower.lower

    def broken(flow: Any) -> dict[str, Any]:
        ir = real(flow)
        ir["definition"]["limits"]["extra"] = 1
        return ir

    monkeypatch.setattr(lower, "lower", broken)


def test_the_test_suite_checks_every_ir() -> None:
    assert check_ir_requested()


@pytest.mark.usefixtures("broken_lowering")
def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHECK_IR_ENV)
    assert not check_ir_requested()
    ir, diagnostics = compile_file(EXAMPLE)
    assert ir is not None and ir["definition"]["limits"]["extra"] == 1
    assert diagnostics == []


@pytest.mark.usefixtures("broken_lowering")
@pytest.mark.parametrize("value", ["1", "yes"])
def test_env_turns_it_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(CHECK_IR_ENV, value)
    with pytest.raises(InvalidIRError, match="extra"):
        compile_file(EXAMPLE)
    monkeypatch.setenv(CHECK_IR_ENV, "0")
    assert compile_file(EXAMPLE)[0] is not None


@pytest.mark.usefixtures("broken_lowering")
def test_argument_overrides_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHECK_IR_ENV, "1")
    assert api.compile_file(EXAMPLE, check_ir=False)[0] is not None
    monkeypatch.delenv(CHECK_IR_ENV)
    with pytest.raises(InvalidIRError):
        api.compile_file(EXAMPLE, check_ir=True)


@pytest.mark.usefixtures("broken_lowering")
@pytest.mark.parametrize("command", ["validate", "compile"])
def test_flowc_check_ir_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.delenv(CHECK_IR_ENV)
    with redirect_stdout(io.StringIO()):
        assert main([command, str(EXAMPLE)]) == 0
    assert main([command, "--check-ir", str(EXAMPLE)]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "extra" in err


def test_inline_refs_keeps_recursive_definitions_and_sibling_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"$ref": "#/$defs/small", "minimum": 1},
            "tree": {"$ref": "#/$defs/node"},
        },
        "$defs": {
            "small": {"type": "integer", "maximum": 3},
            "node": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        },
    }
    inlined = inline_refs(schema)
    assert inlined["properties"]["n"] == {
        "allOf": [{"type": "integer", "maximum": 3}, {"minimum": 1}]
    }
    assert inlined["properties"]["tree"] == {"$ref": "#/$defs/node"}
    assert set(inlined["$defs"]) == {"node"}
    plain, fast = Draft202012Validator(schema), Draft202012Validator(inlined)
    for doc in ({"n": 2, "tree": [[], [[]]]}, {"n": 0}, {"n": 4}, {"tree": [[1]]}, {"n": "x"}):
        assert plain.is_valid(doc) == fast.is_valid(doc), doc


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ((), None),
        (("definition", "limits", "extra"), 1),
        (("definition", "states", "new", "final"), "no"),
        (("definition", "states", "new", "on"), {"E": [{"id": 3}]}),
        (("definition", "states", "new", "enter"), [BAD_SET]),
    ],
)
def test_inlined_ir_schema_reports_what_the_shipped_one_does(
    path: tuple[str, ...], value: object
) -> None:
    ir, _ = compile_file(EXAMPLE, check_ir=False)
    assert ir is not None
    if path:
        target = ir
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    shipped = Draft202012Validator(load_schema())
    expected = sorted(f"{e.json_path}: {e.message}" for e in shipped.iter_errors(ir))
    assert sorted(schema_errors(ir)) == expected
    assert bool(expected) == bool(path)
