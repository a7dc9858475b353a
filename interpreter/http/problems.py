"""Errors in one JSON shape: RFC 9457 problem details.

Every error answer has `type` (a URI naming the kind of problem, here
`about:blank` as the status says it all), `title` (a short summary, the same
for every occurrence of the kind), `status` and `detail` (this occurrence,
for people). Two extension members: `error` repeats the title for clients of
the older `{"error", "detail"}` shape, and `errors` lists the individual
problems when there are several (e.g. each schema violation). They are sent
as `application/problem+json` (RFC 9457's media type; it is JSON, and clients
that parse any `+json` as JSON read it as before).
"""

from __future__ import annotations

import json
from typing import Any

PROBLEM_TYPE = "about:blank"
PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON_MEDIA_TYPE = "application/json"
_PROBLEM_MEMBERS = frozenset({"type", "title", "status"})


def problem(status: int, title: str, detail: Any = None) -> dict[str, Any]:
    """The problem details body for an error answer."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": None,
        "error": title,
    }
    if detail is None or isinstance(detail, str):
        body["detail"] = detail
    elif isinstance(detail, list | tuple):
        body["detail"] = "; ".join(str(item) for item in detail)
        body["errors"] = list(detail)
    else:
        body["detail"] = json.dumps(detail, ensure_ascii=False, default=str)
        body["errors"] = [detail]
    if body["detail"] is None:
        del body["detail"]
    return body


def media_type(status: int, body: Any) -> str:
    """The Content-Type of an answer: problem details for an error answer whose
    body is one, plain JSON otherwise."""
    if status >= 400 and isinstance(body, dict) and body.keys() >= _PROBLEM_MEMBERS:
        return PROBLEM_MEDIA_TYPE
    return JSON_MEDIA_TYPE
