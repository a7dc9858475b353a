"""Source positions shared by both surfaces, the compiler and the IR's source map."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; the end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, file: str, line: int, column: int, width: int = 1) -> Span:
        return cls(file=file, line=line, column=column, end_line=line, end_column=column + width)

    def to_json(self) -> list[int]:
        return [self.line, self.column, self.end_line, self.end_column]


NO_SPAN = Span(file="<generated>", line=0, column=0, end_line=0, end_column=0)
