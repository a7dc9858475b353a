"""Semantic checks of a flow's AST, run before lowering it to IR.

`check_flow(flow)` returns every diagnostic, sorted and de-duplicated; the flow
may be lowered when none of them is an error.
"""

from __future__ import annotations

from ...dsl.ast import Flow
from ...dsl.diagnostics import Diagnostic, normalise
from .durations import check_durations
from .effects import check_effects
from .expressions import check_expressions
from .names import check_names
from .schemas import check_schemas
from .structure import check_structure

__all__ = ["check_flow"]


def check_flow(flow: Flow) -> list[Diagnostic]:
    """All semantic diagnostics for `flow` (names, structure, durations, effects, types)."""
    diagnostics: list[Diagnostic] = []
    diagnostics += check_schemas(flow)
    diagnostics += check_names(flow)
    diagnostics += check_structure(flow)
    diagnostics += check_durations(flow)
    diagnostics += check_effects(flow)
    diagnostics += check_expressions(flow)
    return normalise(diagnostics)
