"""The project's examples validate, compile and draw; YAML and DSL give the same IR hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flowyard.compiler.api import compile_file, compile_flow, compile_text
from flowyard.compiler.cli import main
from flowyard.compiler.ir import validate_ir
from flowyard.dsl.diagnostics import has_errors

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHARED_NAMES = ["order_fulfillment", "subscription", "webhook_fanout"]


def example_files() -> list[Path]:
    return sorted([*EXAMPLES.glob("*.flow.yaml"), *EXAMPLES.glob("*.flow")])


def yaml_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.flow.yaml"))


def dsl_pairs() -> list[tuple[Path, Path]]:
    return [
        (p, p.with_name(p.name.removesuffix(".yaml")))
        for p in yaml_examples()
        if p.with_name(p.name.removesuffix(".yaml")).exists()
    ]


def test_the_normative_examples_are_present() -> None:
    for name in SHARED_NAMES:
        assert (EXAMPLES / f"{name}.flow.yaml").exists(), f"examples/{name}.flow.yaml is missing"


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_validates_without_errors(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    code = main(["validate", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"ok: {path}" in out


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_shared_example_compiles_to_valid_ir(name: str) -> None:
    ir, diagnostics = compile_file(EXAMPLES / f"{name}.flow.yaml")
    assert ir is not None, diagnostics
    assert not has_errors(diagnostics)
    validate_ir(ir)
    again, _ = compile_file(EXAMPLES / f"{name}.flow.yaml")
    assert again == ir


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json", "svg"])
@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_graphs(
    path: Path, fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if fmt == "svg" and shutil.which("dot") is None:
        pytest.skip("graphviz (dot) is not installed")
    out = tmp_path / f"graph.{fmt}"
    assert main(["graph", str(path), "--format", fmt, "-o", str(out)]) == 0
    content = out.read_bytes()
    assert content
    if fmt == "json":
        json.loads(content)
    if fmt == "svg":
        assert b"<svg" in content


@pytest.mark.parametrize("path", yaml_examples(), ids=lambda p: p.name)
def test_yaml_to_dsl_keeps_the_hash(path: Path) -> None:
    from flowyard.dsl.dsl_parser import parse_dsl
    from flowyard.dsl.dsl_printer import format_dsl
    from flowyard.dsl.load import load_flow_file

    flow, _ = load_flow_file(path)
    assert flow is not None
    ir, _ = compile_flow(flow)
    assert ir is not None
    text = format_dsl(flow)
    again, diagnostics = parse_dsl(text, file="converted.flow")
    assert again is not None and not has_errors(diagnostics), (text, diagnostics)
    assert again == flow
    ir2, _ = compile_flow(again)
    assert ir2 is not None and ir2["hash"] == ir["hash"]


@pytest.mark.parametrize("path", yaml_examples(), ids=lambda p: p.name)
def test_cli_convert_round_trips(path: Path, tmp_path: Path) -> None:
    dsl = tmp_path / "x.flow"
    back = tmp_path / "x.flow.yaml"
    assert main(["convert", str(path), "--to", "dsl", "-o", str(dsl)]) == 0
    assert main(["convert", str(dsl), "--to", "yaml", "-o", str(back)]) == 0
    hashes = {compile_file(p)[0]["hash"] for p in (path, dsl, back)}  # type: ignore[index]
    assert len(hashes) == 1


@pytest.mark.parametrize(("yaml_path", "dsl_path"), dsl_pairs(), ids=lambda p: p.name)
def test_hand_written_dsl_matches_yaml(yaml_path: Path, dsl_path: Path) -> None:
    from_yaml, d1 = compile_file(yaml_path)
    from_dsl, d2 = compile_file(dsl_path)
    assert from_yaml is not None and from_dsl is not None, (d1, d2)
    assert from_dsl["hash"] == from_yaml["hash"]


def test_compile_writes_pretty_stable_ir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = EXAMPLES / "order_fulfillment.flow.yaml"
    out = tmp_path / "ir.json"
    assert main(["compile", str(src), "-o", str(out)]) == 0
    first = out.read_text(encoding="utf-8")
    assert main(["compile", str(src)]) == 0
    assert capsys.readouterr().out == first
    ir = json.loads(first)
    validate_ir(ir)
    assert first.startswith('{\n  "ir_version": 1,\n  "flow": "order_fulfillment"')


def test_stdin_with_surface(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    text = (EXAMPLES / "subscription.flow.yaml").read_text(encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["validate", "-", "--surface", "yaml"]) == 0
    assert "ok: <stdin> (flow subscription v2" in capsys.readouterr().out
    ir, _ = compile_text(text, file="<stdin>", surface="yaml")
    assert ir is not None
