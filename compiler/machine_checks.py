"""What a flow needs from the machine it will run on: `env` names and python effects.

`flowc validate` warns when a flow reads `env.NAME` and NAME is not set in the
environment flowc runs in, and when a python effect's module cannot be found or
plainly lacks its async function. These are warnings, not errors: the flow may
well run on another machine, where both are there.

Nothing is imported or executed to tell. A module is looked for the way
`flowd run` imports it (its working directory first, then Python's path; the
flow's own folder is tried too), and its source is read, not run: a function
bound by `def` / `async def`, an assignment or an import at the module's top
level is found. Where the source cannot say (a compiled module, a namespace
package, `from x import *`, a module `__getattr__`, a decorated `def`), no
warning is given. This is the only part of the compiler that looks at the
machine; the CLI calls it, `compile_text` never does.
"""

from __future__ import annotations

import ast as pyast
import dataclasses
import importlib.machinery
import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ..dsl import ast
from ..dsl.diagnostics import Diagnostic
from ..dsl.spans import Span
from .checks.walk import span_of


def machine_diagnostics(
    flow: ast.Flow, source: str, *, environ: Mapping[str, str], search: Sequence[str]
) -> list[Diagnostic]:
    """FY408 for each `env` name not in `environ`; FY510 for python effects not found.

    `source` is the flow's text (a flow whose text never says `env` reads no env
    name, and large flows are not walked for nothing); `search` holds the folders
    looked in before Python's path (the working directory and the flow's folder).
    """
    names = env_names(flow) if "env" in source else {}
    out = [
        Diagnostic(
            code="FY408",
            message=f"`env.{name}` is not set in this environment",
            span=span,
            hint=f"set {name} where flowd runs and pass `flowd run --env {name}`; "
            "if it is set only there, ignore this warning",
        )
        for name, span in names.items()
        if name not in environ
    ]
    for effect in flow.effects:
        if isinstance(effect.kind, ast.PythonEffect):
            problem = python_effect_problem(effect.kind.target, search)
            if problem is not None:
                message, hint = problem
                span = span_of(effect.kind.span, effect.span)
                out.append(Diagnostic(code="FY510", message=message, span=span, hint=hint))
    return out


def env_names(flow: ast.Flow) -> dict[str, Span]:
    """Each `env` name the flow reads, with where it is first read."""
    found: dict[str, Span] = {}
    for node in _nodes(flow):
        if not isinstance(node, ast.Field | ast.Index) or not _is_env(node.target):
            continue
        name: str | None = None
        if isinstance(node, ast.Field):
            name = node.name
        elif isinstance(node.index, ast.Literal) and isinstance(node.index.value, str):
            name = node.index.value
        if name is not None and name not in found:
            found[name] = span_of(node.span, flow.span)
    return found


def _is_env(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Name) and expr.name == "env"


def _nodes(node: object) -> Iterator[object]:
    """Every AST node under `node` (itself included), depth first in field order."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple | list):
            stack.extend(reversed(current))
            continue
        names = _child_fields(type(current))
        if names is None:
            continue
        yield current
        stack.extend(getattr(current, name) for name in reversed(names))


_CHILD_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _child_fields(kind: type) -> tuple[str, ...] | None:
    """The fields of an AST node type that may hold nodes; None for what is not a node."""
    if kind not in _CHILD_FIELDS:
        _CHILD_FIELDS[kind] = (
            None
            if not dataclasses.is_dataclass(kind) or kind is Span
            else tuple(f.name for f in dataclasses.fields(kind) if "Span" not in str(f.type))
        )
    return _CHILD_FIELDS[kind]


def python_effect_problem(target: str, search: Sequence[str]) -> tuple[str, str] | None:
    """(message, hint) when `module:function` surely cannot be loaded, else None."""
    module, _, function = target.partition(":")
    if not module or not function:
        return None  # the structure checks report a malformed target
    spec = _find_module(module, search)
    if spec is None:
        return (
            f"python effect module '{module}' is not found from the working directory, "
            "the flow's folder or Python's path",
            "flowd run imports it from its working directory or Python's path: "
            "run from the folder that holds it, or install it; "
            "if it exists only where flowd runs, ignore this warning",
        )
    origin = spec.origin
    if origin is None or not origin.endswith(".py"):
        return None  # compiled or namespace: only importing it could tell
    try:
        source = Path(origin).read_text(encoding="utf-8")
        tree = pyast.parse(source, filename=origin)
    except SyntaxError as exc:
        return (
            f"python effect module '{module}' does not parse ({origin}, line {exc.lineno})",
            "fix the syntax error in the module",
        )
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    binding = _top_level_binding(tree, function)
    if binding is _UNKNOWN or binding is _ASYNC:
        return None
    if binding is None:
        return (
            f"python effect module '{module}' ({origin}) defines no '{function}'",
            f"define `async def {function}(args, ctx)` there, or correct the name",
        )
    if binding is _PLAIN_DEF:
        return (
            f"python effect '{target}' is a plain function; flowd needs an async one",
            f"write `async def {function}(args, ctx)`",
        )
    return None


def _find_module(module: str, search: Sequence[str]) -> importlib.machinery.ModuleSpec | None:
    """The module's spec, found without importing or running anything."""
    parts = module.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0], list(search))
    if spec is None:
        try:
            spec = importlib.util.find_spec(parts[0])
        except (ImportError, ValueError):
            return None
    for depth in range(1, len(parts)):
        locations = spec.submodule_search_locations if spec is not None else None
        if locations is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(
            ".".join(parts[: depth + 1]), list(locations)
        )
    return spec


# What the name is bound to at a module's top level, as far as its source tells.
_ASYNC, _PLAIN_DEF, _OTHER, _UNKNOWN = object(), object(), object(), object()


def _top_level_binding(tree: pyast.Module, name: str) -> object | None:
    """_ASYNC, _PLAIN_DEF, _OTHER (assigned or imported), _UNKNOWN, or None (not bound)."""
    found: set[object] = set()
    for stmt in _top_level_statements(tree.body):
        if isinstance(stmt, pyast.AsyncFunctionDef) and stmt.name == name:
            found.add(_ASYNC)
        elif isinstance(stmt, pyast.FunctionDef) and stmt.name == "__getattr__":
            return _UNKNOWN
        elif isinstance(stmt, pyast.FunctionDef) and stmt.name == name:
            found.add(_UNKNOWN if stmt.decorator_list else _PLAIN_DEF)
        elif isinstance(stmt, pyast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            return _UNKNOWN
        elif name in _bound_names(stmt):
            found.add(_OTHER)
    if len(found) > 1:
        return _UNKNOWN  # bound more than one way (under if/try): which one wins depends
    return found.pop() if found else None


def _top_level_statements(body: list[pyast.stmt]) -> Iterator[pyast.stmt]:
    """Statements at module level, including those inside top-level if/try/with blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, pyast.If | pyast.With | pyast.AsyncWith):
            yield from _top_level_statements(stmt.body)
            if isinstance(stmt, pyast.If):
                yield from _top_level_statements(stmt.orelse)
        elif isinstance(stmt, pyast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                yield from _top_level_statements(block)
            for handler in stmt.handlers:
                yield from _top_level_statements(handler.body)


def _bound_names(stmt: pyast.stmt) -> set[str]:
    if isinstance(stmt, pyast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, pyast.Import | pyast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    targets: list[pyast.expr] = []
    if isinstance(stmt, pyast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, pyast.AnnAssign | pyast.AugAssign):
        targets = [stmt.target]
    return {n.id for t in targets for n in pyast.walk(t) if isinstance(n, pyast.Name)}
