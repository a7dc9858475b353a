"""`flowc`: exit codes, output streams, colour, stdin, start-up time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flowyard.compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "order_fulfillment.flow.yaml"
BROKEN = "flow: x\nversion: 1\ninitial: a\nstates:\n  a:\n    always:\n      - goto: nowhere\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("flowc ")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["validate"],
        ["convert", "x.flow.yaml"],
        ["graph", "x", "--format", "png"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_missing_file_is_an_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.flow.yaml"
    assert main(["validate", str(missing)]) == 2
    assert "error[FY001]" in capsys.readouterr().out
    assert main(["compile", str(missing)]) == 2
    assert "error[FY001]" in capsys.readouterr().err


def test_unwritable_output_is_an_io_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "dir" / "ir.json"
    assert main(["compile", str(EXAMPLE), "-o", str(out)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_errors_exit_1_and_compile_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "broken.flow.yaml"
    src.write_text(BROKEN, encoding="utf-8")
    assert main(["compile", str(src)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error[FY202]" in err and "goto: nowhere" in err


def test_validate_several_files_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "broken.flow.yaml"
    src.write_text(BROKEN, encoding="utf-8")
    argv = ["validate", str(EXAMPLE), str(src), "--format", "json", "--no-machine-checks"]
    assert main(argv) == 1
    data = json.loads(capsys.readouterr().out)
    assert {d["file"] for d in data} == {str(src)}
    assert all(
        set(d)
        == {
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "code",
            "severity",
            "message",
            "hint",
        }
        for d in data
    )


def test_stdin_dsl_surface(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("flow x version 1\ninitial a\nstate a final\n"))
    assert main(["validate", "-", "--surface", "dsl"]) == 0
    assert "ok: <stdin> (flow x v1, 1 state, 0 transitions)" in capsys.readouterr().out


def test_stdin_surface_follows_the_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(
        "sys.stdin", io.StringIO("# a flow\nflow x version 1\ninitial a\nstate a final\n")
    )
    assert main(["validate", "-"]) == 0
    assert "ok: <stdin>" in capsys.readouterr().out


def test_binary_stdin_is_an_io_error_not_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flowyard.compiler.cli", "validate", "-"],
        input=bytes(range(256)),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert b"FY001" in result.stderr + result.stdout
    assert b"binary file" in result.stderr + result.stdout


def test_colour_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "broken.flow.yaml"
    src.write_text(BROKEN, encoding="utf-8")
    monkeypatch.delenv("NO_COLOR", raising=False)
    main(["validate", str(src)])
    assert "\x1b[" not in capsys.readouterr().out  # captured output is not a terminal
    main(["--color", "always", "validate", str(src)])
    coloured = capsys.readouterr().out
    assert "\x1b[" in coloured and "FY202" in coloured


def test_version_starts_fast() -> None:
    def best(cmd: list[str]) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return min(times)

    baseline = best([sys.executable, "-c", "pass"])
    flowc = best(
        [sys.executable, "-c", "from flowyard.compiler.cli import main; main(['--version'])"]
    )
    assert flowc < 4 * baseline, (flowc, baseline)


def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys; from flowyard.compiler.cli import main; main(['--version']);"
        "heavy = {'rich', 'jsonschema', 'yaml', 'lark', 'argparse'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip().endswith("[]")


def test_invalid_ir_is_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowyard.compiler import api, ir

    def broken(*args: object, **kwargs: object) -> None:
        raise ir.InvalidIRError(["$.definition: boom"])

    monkeypatch.setattr(api, "compile_text", broken)
    assert main(["compile", str(EXAMPLE)]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "$.definition: boom" in err
    assert "Traceback" not in err


def test_the_garbage_collector_is_off_only_while_compiling(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc

    from flowyard.compiler import api

    seen: list[bool] = []
    real = api.compile_text_keeping_ast

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "compile_text_keeping_ast", spy)
    assert gc.isenabled()
    assert main(["validate", str(EXAMPLE)]) == 0
    assert seen == [False]
    assert gc.isenabled()
    capsys.readouterr()


def test_compile_several_files_into_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsl = ROOT / "examples" / "order_fulfillment.flow"
    out = tmp_path / "build" / "ir"
    assert main(["compile", str(EXAMPLE), str(dsl), "-o", str(out)]) == 2  # same name twice
    assert "would both be written to" in capsys.readouterr().err and not out.exists()
    other = tmp_path / "other.flow"
    other.write_text(dsl.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["compile", str(EXAMPLE), str(other), "-o", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["order_fulfillment.ir.json", "other.ir.json"]
    first = json.loads((out / "order_fulfillment.ir.json").read_text(encoding="utf-8"))
    assert first["flow"] == "order_fulfillment"
    assert f"wrote {out / 'other.ir.json'}" in capsys.readouterr().out


def test_compile_into_a_folder_writes_nothing_when_one_flow_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.flow.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    out = tmp_path / "ir"
    assert main(["compile", str(EXAMPLE), str(broken), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error[FY202]" in err and err.endswith("1 error; nothing written\n")
    assert not out.exists()


def test_compile_one_file_into_a_named_folder(tmp_path: Path) -> None:
    assert main(["compile", str(EXAMPLE), "-o", f"{tmp_path / 'ir'}/"]) == 0
    assert (tmp_path / "ir" / "order_fulfillment.ir.json").is_file()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["compile", "a.flow.yaml", "b.flow.yaml"], "give the folder to write them into"),
        (["compile", "-", "b.flow.yaml", "-o", "out"], "standard input has no file name"),
    ],
)
def test_compile_several_files_needs_a_folder(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_strict_validate_fails_on_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "warned.flow.yaml"
    src.write_text(
        "flow: x\nversion: 1\ninitial: a\nstates:\n  a: {final: true}\n  b: {final: true}\n",
        encoding="utf-8",
    )
    assert main(["validate", str(src)]) == 0
    assert "warning[FY302]" in capsys.readouterr().out  # b is unreachable
    assert main(["validate", "--strict", str(src)]) == 1
    assert capsys.readouterr().out.endswith("1 warning (--strict: warnings fail too)\n")
    assert main(["validate", "--strict", str(EXAMPLE), "--no-machine-checks"]) == 0
