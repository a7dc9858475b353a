"""The compiler's entry points: source or AST in, `(ir or None, diagnostics)` out.

Pure and synchronous; nothing here prints. The IR is None exactly when some
diagnostic is an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..dsl.ast import Flow
from ..dsl.diagnostics import Diagnostic, has_errors, normalise
from ..dsl.load import Surface, load_flow_text, surface_for

CompileResult = tuple[dict[str, Any] | None, list[Diagnostic]]

CHECK_IR_ENV = "FLOWYARD_CHECK_IR"
"""Set to 1 to check every IR the compiler produces against specs/ir.schema.json."""


def check_ir_requested() -> bool:
    """Whether FLOWYARD_CHECK_IR asks for the IR self-check (the test suite sets it)."""
    return os.environ.get(CHECK_IR_ENV, "") not in ("", "0")


def check(flow: Flow) -> list[Diagnostic]:
    """The semantic checks (names, structure, types) for a parsed flow."""
    from .checks import check_flow

    return check_flow(flow)


def compile_flow(flow: Flow, *, check_ir: bool | None = None) -> CompileResult:
    """Check a parsed flow and, when it has no errors, lower it to IR.

    `check_ir` (default: FLOWYARD_CHECK_IR) also validates the IR against
    specs/ir.schema.json and raises InvalidIRError when lowering broke the contract.
    It is off by default: the IR is our own output, the test suite checks every IR
    it compiles, and on a large flow the schema check costs far more than the
    compilation. IR read from outside (`flowd run x.json`) is always validated.
    """
    from .lower import lower

    diagnostics = normalise(check(flow))
    if has_errors(diagnostics):
        return None, diagnostics
    ir = lower(flow)
    if check_ir_requested() if check_ir is None else check_ir:
        from .ir import validate_ir

        validate_ir(ir)
    return ir, diagnostics


def parse_text(text: str, *, file: str, surface: Surface) -> tuple[Flow | None, list[Diagnostic]]:
    """Parse source text of either surface into the AST (no semantic checks)."""
    flow, diagnostics = load_flow_text(text, file=file, surface=surface)
    return flow, list(diagnostics)


def compile_text(
    text: str, *, file: str, surface: Surface, check_ir: bool | None = None
) -> CompileResult:
    """Parse, check and lower source text (`check_ir` as for compile_flow)."""
    _, ir, diagnostics = compile_text_keeping_ast(
        text, file=file, surface=surface, check_ir=check_ir
    )
    return ir, diagnostics


def compile_text_keeping_ast(
    text: str, *, file: str, surface: Surface, check_ir: bool | None = None
) -> tuple[Flow | None, dict[str, Any] | None, list[Diagnostic]]:
    """compile_text, also giving the parsed flow (None when it did not parse)."""
    flow, diagnostics = parse_text(text, file=file, surface=surface)
    if flow is None or has_errors(diagnostics):
        return flow, None, normalise(diagnostics)
    ir, more = compile_flow(flow, check_ir=check_ir)
    return flow, ir, normalise([*diagnostics, *more])


def compile_file(path: str | Path, *, check_ir: bool | None = None) -> CompileResult:
    """Read, parse, check and lower a file; the surface follows the file name."""
    text, problem = read_source(path)
    if problem is not None:
        return None, [problem]
    return compile_text(text, file=str(path), surface=surface_for(path), check_ir=check_ir)


def read_source(path: str | Path) -> tuple[str, Diagnostic | None]:
    """The file's text, or an FY001 diagnostic saying why it cannot be read."""
    from ..dsl.load import read_flow_source

    return read_flow_source(path)
