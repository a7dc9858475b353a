"""`ast.Flow` -> canonical `.flow` text that parses back to an equal flow.

    text = format_dsl(flow)

Declarations come out in a fixed order (header, events, signals, effects, data,
initial, states), two-space indented; long maps and lists are broken over lines.
"""

from __future__ import annotations

import re

from . import ast
from .comments import NO_COMMENTS, AttachedComments
from .expr_printer import format_expr, format_key, format_literal, is_identifier, quote_string

_WIDTH = 100
_DURATION = re.compile(r"[0-9][0-9A-Za-z.]*|P[0-9A-Za-z.]+")
_DIGITS = re.compile(r"[0-9]+")


def format_dsl(flow: ast.Flow, comments: AttachedComments = NO_COMMENTS) -> str:
    """Canonical `.flow` source for `flow`, with `comments` before the nodes they belong to."""
    out: list[str] = [f"#{text}" for text in comments.at_top]
    out.append(f"flow {_name(flow.name)} version {flow.version}")
    if flow.description is not None:
        out.append(f"description {quote_string(flow.description)}")
    if flow.key is not None:
        out.append(f"key {_name(flow.key)}")
    for event in flow.events:
        out += ["", *comments.lines("", event), *_event(event)]
    for signal in flow.signals:
        out += ["", *comments.lines("", signal), *_signal(signal)]
    for effect in flow.effects:
        out += ["", *comments.lines("", effect), *_effect(effect)]
    if flow.data:
        out.append("")
        for field in flow.data:
            out += [*comments.lines("", field), *_data(field)]
    if flow.initial:
        out += ["", f"initial {_name(flow.initial)}"]
    for state in flow.states:
        out += ["", *comments.lines("", state), *_state(state, comments)]
    if comments.at_end:
        out += ["", *(f"#{text}" for text in comments.at_end)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- leaves


def _name(name: str) -> str:
    return name if is_identifier(name) else quote_string(name)


def _duration(duration: ast.Duration) -> str:
    text = duration.text
    return text if _DURATION.fullmatch(text) else quote_string(text)


def _json_expr(value: ast.JSON) -> ast.Expr:
    if isinstance(value, dict):
        return ast.MapLit(entries=tuple((k, _json_expr(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ast.ListLit(items=tuple(_json_expr(v) for v in value))
    return ast.Literal(value=value)


def _value(expr: ast.Expr, indent: int, prefix: str = "", suffix: str = "") -> list[str]:
    """`prefix` + expr + `suffix`, maps and lists broken over lines when they do not fit."""
    pad = "  " * indent
    flat = format_expr(expr)
    fits = len(pad) + len(prefix) + len(flat) + len(suffix) <= _WIDTH
    if fits or not isinstance(expr, ast.MapLit | ast.ListLit) or not _items(expr):
        return [f"{pad}{prefix}{flat}{suffix}"]
    lines = [f"{pad}{prefix}{'{' if isinstance(expr, ast.MapLit) else '['}"]
    if isinstance(expr, ast.MapLit):
        for key, item in expr.entries:
            sub = _value(item, indent + 1, f"{format_key(key)}: ")
            sub[-1] += ","
            lines += sub
        lines.append(f"{pad}}}{suffix}")
    else:
        for item in expr.items:
            sub = _value(item, indent + 1)
            sub[-1] += ","
            lines += sub
        lines.append(f"{pad}]{suffix}")
    return lines


def _items(expr: ast.MapLit | ast.ListLit) -> int:
    return len(expr.entries) if isinstance(expr, ast.MapLit) else len(expr.items)


def _json(value: ast.JSON, indent: int, prefix: str) -> list[str]:
    return _value(_json_expr(value), indent, prefix)


# ---------------------------------------------------------------- declarations


def _braced(head: str, body: list[str]) -> list[str]:
    if not body:
        return [f"{head} {{}}"]
    return [f"{head} {{", *body, "}"]


def _match(keyword: str, entries: tuple[ast.MatchEntry, ...]) -> list[str]:
    if not entries:
        return []
    parts: list[tuple[str, ast.Expr]] = []
    for entry in entries:
        values = [ast.Literal(value=v) for v in entry.values]
        value: ast.Expr = values[0] if len(values) == 1 else ast.ListLit(items=tuple(values))
        parts.append((entry.path, value))
    return _value(ast.MapLit(entries=tuple(parts)), 1, f"{keyword} ")


def _description(text: str | None, indent: int) -> list[str]:
    return [] if text is None else ["  " * indent + f"description {quote_string(text)}"]


def _event(event: ast.EventDecl) -> list[str]:
    body = _description(event.description, 1)
    body.append(f"  topic {quote_string(event.topic)}")
    body += _match("match", event.match)
    body += _match("match headers", event.match_headers)
    body += _value(event.key, 1, "key ")
    if event.schema is not None:
        body += _json(event.schema.schema, 1, "schema ")
    if event.delay is not None:
        body.append(f"  delay {_duration(event.delay)}")
    return _braced(f"event {_name(event.name)}", body)


def _signal(signal: ast.SignalDecl) -> list[str]:
    body = _description(signal.description, 1)
    if signal.topic is not None:
        body.append(f"  topic {quote_string(signal.topic)}")
    if signal.key is not None:
        body += _value(signal.key, 1, "key ")
    if signal.schema is not None:
        body += _json(signal.schema.schema, 1, "schema ")
    head = f"signal {_name(signal.name)}"
    return [head] if not body else _braced(head, body)


def _headers(headers: tuple[tuple[str, ast.Expr], ...]) -> list[str]:
    return _value(ast.MapLit(entries=headers), 1, "headers ") if headers else []


def _effect(effect: ast.EffectDecl) -> list[str]:
    body = _description(effect.description, 1)
    kind = effect.kind
    if isinstance(kind, ast.PythonEffect):
        body.append(f"  python {quote_string(kind.target)}")
    elif isinstance(kind, ast.HttpEffect):
        body += _value(kind.url, 1, f"http {_name(kind.method)} ")
        body += _headers(kind.headers)
        if kind.body is not None:
            body += _value(kind.body, 1, "body ")
    else:
        body.append(f"  emit {quote_string(kind.topic)}")
        if kind.key is not None:
            body += _value(kind.key, 1, "key ")
        if kind.value is not None:
            body += _value(kind.value, 1, "value ")
        body += _headers(kind.headers)
    if effect.timeout is not None:
        body.append(f"  timeout {_duration(effect.timeout)}")
    if effect.retry is not None:
        body.append("  " + _retry(effect.retry))
    if effect.callback_timeout is not None:
        body.append(f"  callback timeout {_duration(effect.callback_timeout)}")
    if effect.concurrency is not None:
        body.append(f"  concurrency {effect.concurrency}")
    return _braced(f"effect {_name(effect.name)}", body)


def _retry_word(word: str) -> str:
    return word if is_identifier(word) or _DIGITS.fullmatch(word) else quote_string(word)


def _retry(retry: ast.RetryPolicy) -> str:
    parts = ["retry"]
    if retry.attempts is not None:
        parts.append(f"attempts {retry.attempts}")
    if retry.backoff is not None:
        parts.append(f"backoff {_duration(retry.backoff)}")
    if retry.max_backoff is not None:
        parts.append(f"max_backoff {_duration(retry.max_backoff)}")
    if retry.jitter is not None:
        parts.append("jitter" if retry.jitter else "jitter false")
    if retry.retry_on is not None:
        parts.append(f"retry_on [{', '.join(_retry_word(w) for w in retry.retry_on)}]")
    return " ".join(parts)


def _data(field: ast.DataField) -> list[str]:
    head = f"data {_name(field.name)}"
    schema = field.schema.schema
    if not field.has_default:
        return _json(schema, 0, head + ": ") if schema else [head]
    default = format_literal(field.default) if not isinstance(field.default, dict | list) else ""
    if schema:
        if default:
            return _value(_json_expr(schema), 0, head + ": ", f" = {default}")
        lines = _json(schema, 0, head + ": ")
        return lines[:-1] + _json(field.default, 0, lines[-1] + " = ")
    return _json(field.default, 0, head + " = ")


# ---------------------------------------------------------------- states


def _state(state: ast.State, notes: AttachedComments) -> list[str]:
    body = _description(state.description, 1)
    for keyword, actions in (("enter", state.enter), ("exit", state.exit)):
        if actions:
            body += _block(keyword, actions, None, None, 1, notes=notes)
    for clause in state.on:
        head = f"on {_name(clause.trigger)}"
        body += _candidates(head, clause.candidates, 1, notes, clause)
    for after in state.after:
        head = f"after {_duration(after.delay)}"
        body += _candidates(head, after.candidates, 1, notes, after)
    for at in state.at:
        body += _candidates(f"at {format_expr(at.time)}", at.candidates, 1, notes, at)
    for transition in state.always:
        body += _candidates("always", (transition,), 1, notes, None)
    if state.defer:
        body.append("  defer " + ", ".join(_name(ref.name) for ref in state.defer))
    head = f"state {_name(state.name)}" + (" final" if state.final else "")
    return [head] if not body else _braced(head, body)


def _candidates(
    head: str,
    candidates: tuple[ast.Transition, ...],
    indent: int,
    notes: AttachedComments,
    trigger: object,
) -> list[str]:
    pad = "  " * indent
    if not candidates:
        return [*notes.lines(pad, trigger), f"{pad}{head} ignore"]
    if len(candidates) == 1:
        # One candidate is written on its trigger's line: their comments go before it.
        above = notes.lines(pad, trigger, candidates[0])
        return [*above, *_transition(head, candidates[0], indent, notes)]
    lines = [*notes.lines(pad, trigger), f"{pad}{head} {{"]
    for candidate in candidates:
        lines += notes.lines(pad + "  ", candidate)
        lines += _transition("", candidate, indent + 1, notes)
    lines.append(f"{pad}}}")
    return lines


def _transition(
    head: str, transition: ast.Transition, indent: int, notes: AttachedComments
) -> list[str]:
    """`head [when g] { ... }`; with an empty head, a candidate (`when g {}` / `else {}`)."""
    if transition.when is not None:
        guard = f"when {format_expr(transition.when)}"
        head = f"{head} {guard}" if head else guard
    elif not head:
        head = "else"
    return _block(head, transition.actions, transition.goto, transition.catch, indent, notes=notes)


def _block(
    head: str,
    actions: tuple[ast.Action, ...],
    goto: str | None,
    catch: ast.Catch | None,
    indent: int,
    *,
    notes: AttachedComments,
) -> list[str]:
    pad = "  " * indent
    body: list[str] = []
    for action in actions:
        body += notes.lines(pad + "  ", action)
        body += _action(action, indent + 1)
    if goto is not None:
        body.append(f"{pad}  goto {_name(goto)}")
    if catch is not None:
        body += _block("catch", catch.actions, catch.goto, None, indent + 1, notes=notes)
    if not body:
        return [f"{pad}{head} {{}}"]
    if len(body) == 1:
        line = f"{pad}{head} {{ {body[0].strip()} }}"
        if len(line) <= _WIDTH:
            return [line]
    return [f"{pad}{head} {{", *body, f"{pad}}}"]


def _action(action: ast.Action, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(action, ast.SetAction):
        items = [f"{_name(k)} = {format_expr(v)}" for k, v in action.assignments]
        flat = f"{pad}set {', '.join(items)}"
        if len(flat) <= _WIDTH or len(items) == 1:
            return [flat]
        lines = [f"{pad}set {items[0]}"] + [f"{pad}    {item}" for item in items[1:]]
        return [line + "," for line in lines[:-1]] + [lines[-1]]
    head = f"call {_name(action.effect)}"
    tail = ""
    if action.for_each is not None:
        tail += f" for each {format_expr(action.for_each)}"
    if action.concurrency is not None:
        tail += f" concurrency {action.concurrency}"
    if action.result is not None:
        tail += f" -> {_name(action.result)}"
    if action.args is None:
        return [f"{pad}{head}{tail}"]
    return _value(action.args, indent, head + " ", tail)
