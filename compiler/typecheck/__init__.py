"""Static types for the expression language, inferred from the flow's JSON Schemas.

Use `FlowTypes.of(flow)` for a flow's data and payload types, one of the scope
builders for where the expression is written, then `check_expression` (type and
diagnostics) or `infer` (type only).
"""

from __future__ import annotations

from .infer import check_expression, check_guard, infer
from .scopes import FlowTypes, Scope, effect_scope, key_scope, state_scope
from .types import Type, describe, display

__all__ = [
    "FlowTypes",
    "Scope",
    "Type",
    "check_expression",
    "check_guard",
    "describe",
    "display",
    "effect_scope",
    "infer",
    "key_scope",
    "state_scope",
]
