"""Reading a flow from either surface: the one entry point `flowc` and `flowd` use."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .ast import Flow
from .diagnostics import Diagnostic, has_errors
from .spans import Span
from .yaml_loader import YMap, compose

Surface = Literal["yaml", "dsl"]


def surface_for(path: str | Path) -> Surface:
    """`.flow` files are the DSL; everything else (`.flow.yaml`, `.yaml`, `.yml`) is YAML."""
    return "dsl" if str(path).endswith(".flow") else "yaml"


def load_flow_file(path: str | Path) -> tuple[Flow | None, list[Diagnostic]]:
    """Reads and parses a flow file; the surface follows the file's extension."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [
            Diagnostic(
                code="FY001",
                message=f"cannot read {file}: {reason}",
                span=Span.point(file, 1, 1),
                hint="check the path exists, is readable and is UTF-8 text",
            )
        ]
    return load_flow_text(text, file=file, surface=surface_for(path))


def load_flow_text(
    text: str, *, file: str, surface: Surface
) -> tuple[Flow | None, list[Diagnostic]]:
    """Parses flow source text; `file` is the name diagnostics point at."""
    if surface == "dsl":
        from .dsl_parser import parse_dsl

        return parse_dsl(text, file=file)
    return load_yaml_text(text, file=file)


def load_yaml_text(text: str, *, file: str) -> tuple[Flow | None, list[Diagnostic]]:
    """YAML text -> AST: compose, check against the flow schema, build.

    Each stage runs only when the one before found no errors, so one mistake
    is reported once rather than echoed by every later stage.
    """
    root, diagnostics = compose(text, file=file)
    if has_errors(diagnostics):
        return None, diagnostics
    if root is None:
        return None, [
            Diagnostic(
                code="FY103",
                message="the file is empty",
                span=Span.point(file, 1, 1),
                hint="a flow needs at least 'flow', 'version', 'initial' and 'states'",
            )
        ]
    from .yaml_schema import validate_tree

    diagnostics = validate_tree(root)
    if diagnostics or not isinstance(root, YMap):
        return None, diagnostics
    from .yaml_surface import build_flow

    return build_flow(root)
