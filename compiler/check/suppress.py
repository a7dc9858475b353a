"""Suppressions written in the flow: `# flowc: allow RULE(SUBJECT) — reason`.

A comment anywhere in the flow file (both surfaces use `#` comments) allows the
findings of RULE (a rule name, an alias such as `unhandled`, or a code such as
FY601) whose subjects include SUBJECT (an event, a state, a transition id or a
data field; no parentheses: every finding of the rule). The reason is required:
a suppression without one does not apply, and is itself reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rules import ALIASES, BY_CODE, BY_NAME, Finding

_COMMENT = re.compile(
    r"#\s*flowc:\s*allow\s+(?P<rule>[\w-]+)\s*(?:\((?P<subject>[^)]*)\))?\s*"
    r"(?:(?:—|--|-|:)\s*(?P<reason>\S.*?))?\s*$"
)


@dataclass(frozen=True, slots=True)
class Allow:
    rule: str | None  # a rule name, or None when the name is unknown
    written: str
    subject: str | None
    reason: str | None
    line: int
    column: int


def allowances(text: str) -> list[Allow]:
    """Every `# flowc: allow` comment of a flow's source text, in order."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _COMMENT.search(line)
        if match is None:
            continue
        written = match["rule"]
        name = ALIASES.get(written, written)
        rule = BY_CODE[name].name if name in BY_CODE else name if name in BY_NAME else None
        subject = (match["subject"] or "").strip() or None
        out.append(Allow(rule, written, subject, match["reason"], number, match.start() + 1))
    return out


def apply(findings: list[Finding], allows: list[Allow]) -> None:
    """Mark each finding an allowance with a reason covers (`suppressed` holds the reason)."""
    for finding in findings:
        for allow in allows:
            if allow.rule != finding.rule.name or allow.reason is None:
                continue
            if allow.subject is None or allow.subject in finding.subjects:
                finding.suppressed = f"{allow.reason} (line {allow.line})"
                break
