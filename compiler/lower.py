"""Lowering: a checked Flow AST -> the IR (docs/ir.md) with every default explicit.

Lowering assumes the semantic checks passed; it resolves nothing by guessing and
adds nothing that depends on the surface the flow was written in, so a YAML flow
and its DSL conversion lower to the same `definition` (and hash).
"""

from __future__ import annotations

from typing import Any

from ..dsl import ast
from ..dsl.spans import Span
from .ir import IR_VERSION, ir_hash
from .lower_expr import lower_expr

DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_RETRY_ATTEMPTS = 3
DEFAULT_BACKOFF_MS = 1_000
DEFAULT_MULTIPLIER = 2.0
DEFAULT_MAX_BACKOFF_MS = 60_000
DEFAULT_JITTER = False
DEFAULT_RETRY_ON = ("timeout", "error", "5xx", "429")
DEFAULT_CONCURRENCY = 1
MAX_ALWAYS_STEPS = 100

JSONDict = dict[str, Any]


def pointer_token(name: str) -> str:
    """One RFC 6901 reference token."""
    return name.replace("~", "~0").replace("/", "~1")


class _Lowerer:
    def __init__(self) -> None:
        self.spans: dict[str, list[int]] = {}

    def mark(self, pointer: str, span: Span) -> None:
        if span.line > 0:
            self.spans[pointer] = span.to_json()

    def expr(self, pointer: str, expr: ast.Expr) -> JSONDict:
        self.mark(pointer, expr.span)
        return lower_expr(expr)

    def ref(self, pointer: str, ref: ast.Ref) -> str:
        self.mark(pointer, ref.span)
        return ref.name

    def opt_expr(self, pointer: str, expr: ast.Expr | None) -> JSONDict | None:
        return None if expr is None else self.expr(pointer, expr)

    def headers(self, pointer: str, headers: tuple[tuple[str, ast.Expr], ...]) -> JSONDict:
        return {
            name: self.expr(f"{pointer}/{pointer_token(name)}", value) for name, value in headers
        }

    # ------------------------------------------------------------ declarations

    def event(self, decl: ast.EventDecl) -> JSONDict:
        p = f"/events/{pointer_token(decl.name)}"
        self.mark(p, decl.span)
        return {
            "topic": decl.topic,
            "match": [{"path": m.path.split("."), "values": list(m.values)} for m in decl.match],
            "match_headers": [
                {"name": m.path, "values": list(m.values)} for m in decl.match_headers
            ],
            "key": self.expr(f"{p}/key", decl.key),
            "schema": None if decl.schema is None else decl.schema.schema,
            "delay_ms": 0 if decl.delay is None else decl.delay.millis,
        }

    def signal(self, decl: ast.SignalDecl) -> JSONDict:
        p = f"/signals/{pointer_token(decl.name)}"
        self.mark(p, decl.span)
        return {
            "schema": None if decl.schema is None else decl.schema.schema,
            "topic": decl.topic,
            "key": self.opt_expr(f"{p}/key", decl.key),
        }

    def effect(self, decl: ast.EffectDecl) -> JSONDict:
        p = f"/effects/{pointer_token(decl.name)}"
        self.mark(p, decl.span)
        out: JSONDict
        match decl.kind:
            case ast.PythonEffect(target=target):
                module, _, function = target.rpartition(":")
                out = {"kind": "python", "python": {"module": module, "function": function}}
            case ast.HttpEffect(method=method, url=url, headers=headers, body=body):
                out = {
                    "kind": "http",
                    "http": {
                        "method": method.upper(),
                        "url": self.expr(f"{p}/http/url", url),
                        "headers": self.headers(f"{p}/http/headers", headers),
                        "body": self.opt_expr(f"{p}/http/body", body),
                    },
                }
            case ast.EmitEffect(topic=topic, key=key, value=value, headers=headers):
                out = {
                    "kind": "emit",
                    "emit": {
                        "topic": topic,
                        "key": self.opt_expr(f"{p}/emit/key", key),
                        "value": self.opt_expr(f"{p}/emit/value", value),
                        "headers": self.headers(f"{p}/emit/headers", headers),
                    },
                }
        out["timeout_ms"] = DEFAULT_TIMEOUT_MS if decl.timeout is None else decl.timeout.millis
        out["retry"] = _retry(decl.retry)
        out["callback"] = (
            None if decl.callback_timeout is None else {"timeout_ms": decl.callback_timeout.millis}
        )
        if decl.concurrency is not None:  # absent when unset: existing IR hashes stay
            out["concurrency"] = decl.concurrency
        return out

    # ------------------------------------------------------------ behaviour

    def actions(self, pointer: str, id_prefix: str, actions: tuple[ast.Action, ...]) -> list[Any]:
        return [self.action(f"{pointer}/{n}", f"{id_prefix}/{n}", a) for n, a in enumerate(actions)]

    def action(self, pointer: str, action_id: str, action: ast.Action) -> JSONDict:
        self.mark(pointer, action.span)
        if isinstance(action, ast.SetAction):
            return {
                "id": action_id,
                "op": "set",
                "assign": [
                    {"field": name, "value": self.expr(f"{pointer}/assign/{n}/value", value)}
                    for n, (name, value) in enumerate(action.assignments)
                ],
            }
        return {
            "id": action_id,
            "op": "call",
            "effect": action.effect,
            "args": self.opt_expr(f"{pointer}/args", action.args),
            "result": action.result,
            "for_each": self.opt_expr(f"{pointer}/for_each", action.for_each),
            "concurrency": (
                None
                if action.for_each is None
                else (DEFAULT_CONCURRENCY if action.concurrency is None else action.concurrency)
            ),
        }

    def candidates(
        self, pointer: str, id_prefix: str, candidates: tuple[ast.Transition, ...]
    ) -> list[Any]:
        return [
            self.transition(f"{pointer}/{n}", f"{id_prefix}/{n}", t)
            for n, t in enumerate(candidates)
        ]

    def transition(self, pointer: str, tid: str, t: ast.Transition) -> JSONDict:
        self.mark(pointer, t.span)
        catch: JSONDict | None = None
        if t.catch is not None:
            self.mark(f"{pointer}/catch", t.catch.span)
            catch = {
                "actions": self.actions(
                    f"{pointer}/catch/actions", f"{tid}/catch", t.catch.actions
                ),
                "target": t.catch.goto,
            }
        return {
            "id": tid,
            "when": self.opt_expr(f"{pointer}/when", t.when),
            "actions": self.actions(f"{pointer}/actions", f"{tid}/do", t.actions),
            "target": t.goto,
            "catch": catch,
        }

    def state(self, state: ast.State) -> JSONDict:
        sid = state.name
        p = f"/states/{pointer_token(sid)}"
        self.mark(p, state.span)
        on: JSONDict = {}
        for clause in state.on:
            cp = f"{p}/on/{pointer_token(clause.trigger)}"
            self.mark(cp, clause.span)
            on[clause.trigger] = self.candidates(
                cp, f"{sid}/on/{clause.trigger}", clause.candidates
            )
        timers: list[Any] = []
        for n, after in enumerate(state.after):
            tp = f"{p}/timers/{len(timers)}"
            self.mark(tp, after.span)
            tid = f"{sid}/after/{n}"
            timers.append(
                {
                    "id": tid,
                    "kind": "after",
                    "delay_ms": after.delay.millis,
                    "candidates": self.candidates(f"{tp}/candidates", tid, after.candidates),
                }
            )
        for n, at in enumerate(state.at):
            tp = f"{p}/timers/{len(timers)}"
            self.mark(tp, at.span)
            tid = f"{sid}/at/{n}"
            timers.append(
                {
                    "id": tid,
                    "kind": "at",
                    "time": self.expr(f"{tp}/time", at.time),
                    "candidates": self.candidates(f"{tp}/candidates", tid, at.candidates),
                }
            )
        return {
            "final": state.final,
            "enter": self.actions(f"{p}/enter", f"{sid}/enter", state.enter),
            "exit": self.actions(f"{p}/exit", f"{sid}/exit", state.exit),
            "on": on,
            "timers": timers,
            "always": self.candidates(f"{p}/always", f"{sid}/always", state.always),
            "defer": [self.ref(f"{p}/defer/{n}", ref) for n, ref in enumerate(state.defer)],
        }

    def definition(self, flow: ast.Flow) -> JSONDict:
        self.mark("", flow.span)
        self.mark("/initial", flow.initial_span)
        data: JSONDict = {}
        for f in flow.data:
            self.mark(f"/data/{pointer_token(f.name)}", f.span)
            data[f.name] = {"schema": f.schema.schema, "default": f.default}
        return {
            "description": flow.description,
            "key": flow.key,
            "events": {e.name: self.event(e) for e in flow.events},
            "signals": {s.name: self.signal(s) for s in flow.signals},
            "effects": {e.name: self.effect(e) for e in flow.effects},
            "data": data,
            "initial": flow.initial,
            "states": {s.name: self.state(s) for s in flow.states},
            "limits": {"max_always_steps": MAX_ALWAYS_STEPS},
        }


def _retry(policy: ast.RetryPolicy | None) -> JSONDict:
    p = policy or ast.RetryPolicy()
    return {
        "attempts": DEFAULT_RETRY_ATTEMPTS if p.attempts is None else p.attempts,
        "backoff_ms": DEFAULT_BACKOFF_MS if p.backoff is None else p.backoff.millis,
        "multiplier": DEFAULT_MULTIPLIER,
        "max_backoff_ms": DEFAULT_MAX_BACKOFF_MS if p.max_backoff is None else p.max_backoff.millis,
        "jitter": DEFAULT_JITTER if p.jitter is None else p.jitter,
        "retry_on": list(dict.fromkeys(DEFAULT_RETRY_ON if p.retry_on is None else p.retry_on)),
    }


def _in_source_order(spans: dict[str, list[int]]) -> dict[str, list[int]]:
    return dict(sorted(spans.items(), key=lambda item: (item[1], item[0])))


def lower(flow: ast.Flow) -> dict[str, Any]:
    """The IR of a flow that passed the checks: definition, hash and source map."""
    lowerer = _Lowerer()
    definition = lowerer.definition(flow)
    ir: dict[str, Any] = {
        "ir_version": IR_VERSION,
        "flow": flow.name,
        "version": flow.version,
        "hash": "",
        "definition": definition,
        "source": {"file": flow.span.file, "spans": _in_source_order(lowerer.spans)},
    }
    ir["hash"] = ir_hash(ir)
    return ir
