"""Checking an instance's data against the schemas of its fields, with messages people can act on.

The validator is built once per program (see `Program.data_validator`); this
module turns its errors into `DataProblem`s naming the field, the place inside
it and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator


@dataclass(frozen=True, slots=True)
class DataProblem:
    """One schema violation: the top-level data field, the path inside it, and why."""

    field: str | None
    path: str
    message: str

    def __str__(self) -> str:
        if self.field is None:
            return self.message
        return f"data.{self.path}: {self.message}"


def data_problems(validator: Draft202012Validator | None, data: Any) -> list[DataProblem]:
    """Every violation of the data schema, ordered by where it is."""
    if validator is None:
        return []
    problems = []
    for err in validator.iter_errors(data):
        parts = [str(p) for p in err.absolute_path]
        problems.append(
            DataProblem(
                field=parts[0] if parts else None,
                path=".".join(parts),
                message=err.message,
            )
        )
    problems.sort(key=lambda p: (p.path, p.message))
    return problems


def describe(problems: list[DataProblem], after: str) -> str:
    """One incident reason: which fields are wrong and after which transition."""
    fields = sorted({p.field for p in problems if p.field is not None})
    named = f" (field {', '.join(repr(f) for f in fields)})" if fields else ""
    details = "; ".join(str(p) for p in problems)
    return f"data does not match its schema after {after}{named}: {details}"
