"""Effect definitions: kinds (FY506), retry policies (FY502), templates' scope (FY505),
concurrency (FY504)."""

from __future__ import annotations

import re

from ...dsl.ast import EffectDecl, EmitEffect, Expr, Flow, HttpEffect, PythonEffect
from ...dsl.diagnostics import Diagnostic, did_you_mean
from ...dsl.spans import Span
from ..typecheck.infer import check_expression
from ..typecheck.scopes import effect_scope
from .walk import span_of

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_BACKOFF_MS = 1000
DEFAULT_MAX_BACKOFF_MS = 60_000

_PYTHON_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_STATUS = re.compile(r"^[1-5]\d\d$")
_HTTP_ONLY = ("5xx", "4xx")


def check_effects(flow: Flow) -> list[Diagnostic]:
    """FY502, FY504, FY505 and FY506 for every declared effect."""
    out: list[Diagnostic] = []
    for effect in flow.effects:
        if effect.concurrency is not None and effect.concurrency < 1:
            out.append(
                Diagnostic(
                    code="FY504",
                    message=f"effect '{effect.name}' has concurrency {effect.concurrency}, "
                    "but at least one call must run at a time",
                    span=span_of(effect.name_span, effect.span),
                    hint="use concurrency 1 or more, or leave it out for no bound",
                )
            )
        out += _kind(effect)
        out += _retry(effect)
        out += _templates(effect)
    return out


def _kind(effect: EffectDecl) -> list[Diagnostic]:
    kind = effect.kind
    span = span_of(getattr(kind, "span", None), effect.name_span, effect.span)
    out: list[Diagnostic] = []
    if isinstance(kind, PythonEffect) and not _PYTHON_TARGET.match(kind.target):
        out.append(
            Diagnostic(
                code="FY506",
                message=f"effect {effect.name}: python target '{kind.target}' is not "
                "'module.path:function'",
                span=span,
                hint="name the module and the async function, e.g. `python: examples.shop:reserve`",
            )
        )
    elif isinstance(kind, HttpEffect) and kind.method not in HTTP_METHODS:
        upper = kind.method.upper()
        out.append(
            Diagnostic(
                code="FY506",
                message=f"effect {effect.name}: '{kind.method}' is not an HTTP method",
                span=span,
                hint=f"write it in capitals: {upper}"
                if upper in HTTP_METHODS
                else f"use one of {', '.join(HTTP_METHODS)}",
            )
        )
    elif isinstance(kind, EmitEffect):
        if not kind.topic.strip():
            out.append(
                Diagnostic(
                    code="FY506",
                    message=f"effect {effect.name}: emit has an empty topic",
                    span=span,
                    hint="name the Kafka topic to produce to",
                )
            )
        if effect.callback_timeout is not None:
            out.append(
                Diagnostic(
                    code="FY506",
                    message=f"effect {effect.name}: an emit effect cannot complete by callback",
                    span=span,
                    hint="remove `callback:`, or use an http or python effect",
                )
            )
    return out


def _retry(effect: EffectDecl) -> list[Diagnostic]:
    retry = effect.retry
    if retry is None:
        return []
    span = span_of(retry.span, effect.name_span, effect.span)
    out: list[Diagnostic] = []

    def bad(message: str, hint: str, at: Span | None = None) -> None:
        out.append(
            Diagnostic(
                code="FY502",
                message=f"effect {effect.name}: {message}",
                span=span_of(at, span),
                hint=hint,
            )
        )

    if retry.attempts is not None and retry.attempts < 1:
        bad(
            f"retry attempts is {retry.attempts}, but it counts the first try too",
            "use attempts: 1 for no retries, or more to retry",
            retry.attempts_span,
        )
    backoff = retry.backoff.millis if retry.backoff else DEFAULT_BACKOFF_MS
    max_backoff = retry.max_backoff.millis if retry.max_backoff else DEFAULT_MAX_BACKOFF_MS
    if backoff > max_backoff:
        shown = retry.max_backoff.text if retry.max_backoff else "1m (the default)"
        shown_backoff = retry.backoff.text if retry.backoff else "1s (the default)"
        bad(
            f"backoff {shown_backoff} is longer than max_backoff {shown}",
            "make max_backoff at least as long as backoff",
        )
    word_spans = retry.retry_on_spans
    for i, word in enumerate(retry.retry_on or ()):
        at = word_spans[i] if i < len(word_spans) else None
        if word in ("timeout", "error"):
            continue
        if word in _HTTP_ONLY or _STATUS.match(word):
            if not isinstance(effect.kind, HttpEffect):
                kind = "python" if isinstance(effect.kind, PythonEffect) else "emit"
                bad(
                    f"retry_on '{word}' is an HTTP status, but this is a {kind} effect",
                    f"a {kind} effect can retry on `timeout` and `error` only",
                    at,
                )
            continue
        usual = "timeout, error, 5xx, 4xx or a three-digit status code such as '429'"
        guess = did_you_mean(word, ["timeout", "error", "5xx", "4xx"])
        bad(
            f"unknown retry_on '{word}'",
            f"did you mean '{guess}'? (use {usual})" if guess else f"use {usual}",
            at,
        )
    return out


def _templates(effect: EffectDecl) -> list[Diagnostic]:
    kind = effect.kind
    exprs: list[Expr] = []
    if isinstance(kind, HttpEffect):
        exprs.append(kind.url)
        exprs.extend(value for _, value in kind.headers)
        if kind.body is not None:
            exprs.append(kind.body)
    elif isinstance(kind, EmitEffect):
        exprs.extend(e for e in (kind.key, kind.value) if e is not None)
        exprs.extend(value for _, value in kind.headers)
    scope = effect_scope(effect=effect.name, has_callback=effect.callback_timeout is not None)
    fallback = span_of(getattr(kind, "span", None), effect.name_span, effect.span)
    out: list[Diagnostic] = []
    for expr in exprs:
        out += check_expression(expr, scope, fallback=fallback)[1]
    return out
