"""Reading a flow from either surface: the one entry point `flowc` and `flowd` use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from .ast import Flow
from .diagnostics import Diagnostic, did_you_mean, has_errors
from .spans import Span
from .yaml_loader import YMap, YSeq, compose

Surface = Literal["yaml", "dsl"]


def surface_for(path: str | Path) -> Surface:
    """`.flow` files are the DSL; everything else (`.flow.yaml`, `.yaml`, `.yml`) is YAML."""
    return "dsl" if str(path).endswith(".flow") else "yaml"


def load_flow_file(path: str | Path) -> tuple[Flow | None, list[Diagnostic]]:
    """Reads and parses a flow file; the surface follows the file's extension."""
    text, problem = read_flow_source(path)
    if problem is not None:
        return None, [problem]
    return load_flow_text(text, file=str(path), surface=surface_for(path))


def read_flow_source(path: str | Path) -> tuple[str, Diagnostic | None]:
    """The file's text, or "" and an FY001 diagnostic saying why it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return "", Diagnostic(
            code="FY001",
            message=f"cannot read {path}: {reason}",
            span=Span(file=str(path), line=0, column=0, end_line=0, end_column=0),
            hint="check the path and that the file is readable",
        )
    return decode_source(data, file=str(path))


def decode_source(data: bytes, *, file: str) -> tuple[str, Diagnostic | None]:
    """`data` as UTF-8 text, or "" and an FY001 diagnostic pointing at the first bad byte."""
    try:
        # A byte order mark says nothing a UTF-8 reader needs; positions start after it.
        return data.decode("utf-8").removeprefix("\ufeff"), None
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        binary = b"\0" in data[:8192]
        what = "a binary file, not text" if binary else "not UTF-8 text"
        return "", Diagnostic(
            code="FY001",
            message=f"cannot read {file}: it is {what} "
            f"(byte 0x{data[exc.start]:02X} at line {line}, column {column})",
            span=Span.point(file, line, column),
            hint="flows are UTF-8 text; save the file as UTF-8"
            if not binary
            else "give the path of a .flow.yaml or .flow file",
        )


def sniff_surface(text: str) -> Surface:
    """The surface of text with no file name (stdin): the DSL starts `flow NAME`, YAML `flow:`."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return "dsl" if _DSL_START.match(stripped) else "yaml"
    return "yaml"


_FLOW_KEYS = (
    "flow", "version", "description", "key", "events", "signals", "effects", "data",
    "initial", "states",
)  # fmt: skip
_DSL_START = re.compile(r"flow\s+[^\s:]")


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
    if not isinstance(root, YMap):
        kind = "a list" if isinstance(root, YSeq) else f"the single value {root.value!r}"
        return None, [
            Diagnostic(
                code="FY102",
                message=f"a flow file holds a mapping of keys, not {kind}",
                span=Span.point(file, root.span.line, root.span.column),
                hint="write 'flow: NAME', 'version', 'initial' and 'states' as keys"
                + (", without '- ' before them" if isinstance(root, YSeq) else ""),
            )
        ]
    if not any(key in _FLOW_KEYS or did_you_mean(key, _FLOW_KEYS) for key in root.index):
        # Some other YAML file (a compose file, a CI config): one message, not one per key.
        return None, [
            Diagnostic(
                code="FY103",
                message="this YAML is not a flow: it has none of a flow's keys",
                span=Span.point(file, root.span.line, root.span.column),
                hint="a flow has 'flow: NAME', 'version: 1', 'initial' and 'states'; "
                "check that this is the file you meant",
            )
        ]
    from .yaml_schema import validate_tree

    diagnostics = validate_tree(root)
    if diagnostics:
        return None, diagnostics
    from .yaml_surface import build_flow

    return build_flow(root)
