"""A schema-checked `.flow.yaml` node tree -> the flow AST, with spans.

The tree has already passed specs/flow.schema.json, so shapes are as the schema
says; what is left to check here is what a JSON Schema cannot: expressions,
value templates and durations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from . import ast
from .diagnostics import Diagnostic
from .durations import duration_hint, parse_duration
from .expressions import parse_expression
from .spans import Span
from .templates import parse_value_string
from .yaml_loader import Scalar, YMap, YNode, YScalar, YSeq

T = TypeVar("T")


def _join(start: Span, end: Span) -> Span:
    return Span(
        file=start.file,
        line=start.line,
        column=start.column,
        end_line=end.end_line,
        end_column=end.end_column,
    )


def _places(node: YNode, path: ast.JsonPath = ()) -> dict[ast.JsonPath, Span]:
    """The span of every part of `node`, by its path below `node`."""
    out: dict[ast.JsonPath, Span] = {}
    if isinstance(node, YMap):
        for key, value in node.entries:
            here = (*path, str(key.value))
            out[here] = value.span
            out.update(_places(value, here))
    elif isinstance(node, YSeq):
        for index, item in enumerate(node.items):
            out[(*path, index)] = item.span
            out.update(_places(item, (*path, index)))
    return out


def _map(node: YNode) -> YMap:
    if not isinstance(node, YMap):  # the schema rules this out
        raise TypeError(f"expected a mapping at {node.span}")
    return node


def _seq(node: YNode) -> YSeq:
    if not isinstance(node, YSeq):  # the schema rules this out
        raise TypeError(f"expected a list at {node.span}")
    return node


def _scalar(node: YNode) -> YScalar:
    if not isinstance(node, YScalar):  # the schema rules this out
        raise TypeError(f"expected a scalar at {node.span}")
    return node


def _text(node: YNode | None) -> str | None:
    if node is None:
        return None
    value = _scalar(node).value
    return value if isinstance(value, str) else str(value)


def _literal(node: YNode) -> ast.Literal:
    value = _scalar(node).value
    return ast.Literal(value=value, span=node.span)


def build_flow(root: YMap) -> tuple[ast.Flow | None, list[Diagnostic]]:
    """The AST of a schema-valid flow mapping, or None with the diagnostics why not."""
    surface = _Surface(root.span.file)
    flow = surface.flow(root)
    return (None if surface.diagnostics else flow), surface.diagnostics


class _Surface:
    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    # ------------------------------------------------------------ leaves

    def expression(self, node: YNode) -> ast.Expr:
        """A bare expression (`when`, `key`); a whole-value `${ }` wrapper is accepted."""
        scalar = _scalar(node)
        if not isinstance(scalar.value, str):
            return ast.Literal(value=scalar.value, span=node.span)
        text = scalar.value
        line, column = node.span.line, node.span.column + (0 if scalar.plain else 1)
        stripped = text.strip()
        if stripped.startswith("${") and stripped.endswith("}") and stripped.count("${") == 1:
            column += text.index("${") + 2
            text = stripped[2:-1]
        expr, diagnostics = parse_expression(text, file=self.file, line=line, column=column)
        self.diagnostics.extend(diagnostics)
        return expr if expr is not None else ast.Literal(value=None, span=node.span)

    def value(self, node: YNode) -> ast.Expr:
        """A value: literals as written, `${ }` strings as expressions, nested maps and lists."""
        if isinstance(node, YMap):
            return ast.MapLit(
                entries=tuple((str(k.value), self.value(v)) for k, v in node.entries),
                span=node.span,
            )
        if isinstance(node, YSeq):
            return ast.ListLit(items=tuple(self.value(item) for item in node.items), span=node.span)
        if not isinstance(node.value, str):
            return ast.Literal(value=node.value, span=node.span)
        expr, diagnostics = parse_value_string(
            node.value,
            file=self.file,
            line=node.span.line,
            column=node.span.column,
            quoted=not node.plain,
        )
        self.diagnostics.extend(diagnostics)
        return expr if expr is not None else ast.Literal(value=node.value, span=node.span)

    def values(self, node: YNode) -> tuple[tuple[str, ast.Expr], ...]:
        return tuple((str(k.value), self.value(v)) for k, v in _map(node).entries)

    def duration(self, text: str, span: Span) -> ast.Duration:
        millis = parse_duration(text)
        if millis is None:
            self.diagnostics.append(
                Diagnostic(
                    code="FY501",
                    message=f"invalid duration '{text}'",
                    span=span,
                    hint=duration_hint(text),
                )
            )
            millis = 0
        return ast.Duration(text=text, millis=millis, span=span)

    def duration_at(self, node: YNode | None) -> ast.Duration | None:
        if node is None:
            return None
        return self.duration(_text(node) or "", node.span)

    def schema(self, node: YNode | None) -> ast.SchemaDecl | None:
        if node is None:
            return None
        return ast.SchemaDecl(schema=_map(node).value, span=node.span, places=_places(node))

    def named(
        self, node: YNode | None, build: Callable[[str, YMap, Span, Span], T]
    ) -> tuple[T, ...]:
        """Builds one declaration per entry of a `name: {...}` section."""
        if node is None:
            return ()
        return tuple(
            build(str(key.value), _map(value), _join(key.span, value.span), key.span)
            for key, value in _map(node).entries
        )

    # ------------------------------------------------------------ declarations

    def flow(self, root: YMap) -> ast.Flow:
        initial = root.get("initial")
        version = root.get("version")
        return ast.Flow(
            name=_text(root.get("flow")) or "",
            version=int(_scalar(version).value or 0) if version is not None else 0,
            description=_text(root.get("description")),
            key=_text(root.get("key")),
            events=self.named(root.get("events"), self.event),
            signals=self.named(root.get("signals"), self.signal),
            effects=self.named(root.get("effects"), self.effect),
            data=self.named(root.get("data"), self.data_field),
            initial=_text(initial) or "",
            states=self.named(root.get("states"), self.state),
            span=root.span,
            initial_span=initial.span if initial is not None else root.span,
        )

    def match(self, node: YNode | None) -> tuple[ast.MatchEntry, ...]:
        if node is None:
            return ()
        entries = []
        for key, value in _map(node).entries:
            values: list[ast.JSON] = value.value if isinstance(value.value, list) else [value.value]
            entries.append(
                ast.MatchEntry(
                    path=str(key.value),
                    values=tuple(cast(list[Scalar], values)),
                    span=_join(key.span, value.span),
                )
            )
        return tuple(entries)

    def event(self, name: str, node: YMap, span: Span, name_span: Span) -> ast.EventDecl:
        key = node.get("key")
        return ast.EventDecl(
            name=name,
            topic=_text(node.get("topic")) or "",
            key=self.expression(key) if key is not None else ast.Literal(value=None),
            match=self.match(node.get("match")),
            match_headers=self.match(node.get("match_headers")),
            schema=self.schema(node.get("schema")),
            delay=self.duration_at(node.get("delay")),
            description=_text(node.get("description")),
            span=span,
            name_span=name_span,
        )

    def signal(self, name: str, node: YMap, span: Span, name_span: Span) -> ast.SignalDecl:
        key = node.get("key")
        return ast.SignalDecl(
            name=name,
            schema=self.schema(node.get("schema")),
            topic=_text(node.get("topic")),
            key=self.expression(key) if key is not None else None,
            description=_text(node.get("description")),
            span=span,
            name_span=name_span,
        )

    def retry(self, node: YNode | None) -> ast.RetryPolicy | None:
        if node is None:
            return None
        retry = _map(node)
        attempts = retry.get("attempts")
        jitter = retry.get("jitter")
        retry_on = retry.get("retry_on")
        return ast.RetryPolicy(
            attempts=int(_scalar(attempts).value or 0) if attempts is not None else None,
            backoff=self.duration_at(retry.get("backoff")),
            max_backoff=self.duration_at(retry.get("max_backoff")),
            jitter=bool(_scalar(jitter).value) if jitter is not None else None,
            retry_on=(
                tuple(str(item.value) for item in _seq(retry_on).items)
                if retry_on is not None
                else None
            ),
            span=node.span,
            attempts_span=attempts.span if attempts is not None else node.span,
            retry_on_spans=(
                tuple(item.span for item in _seq(retry_on).items) if retry_on is not None else ()
            ),
        )

    def effect_kind(self, node: YMap) -> ast.EffectKind:
        python = node.get("python")
        if python is not None:
            return ast.PythonEffect(target=_text(python) or "", span=python.span)
        http = node.get("http")
        if http is not None:
            spec = _map(http)
            url, body, headers = spec.get("url"), spec.get("body"), spec.get("headers")
            return ast.HttpEffect(
                method=_text(spec.get("method")) or "",
                url=self.value(url) if url is not None else ast.Literal(value=""),
                headers=self.values(headers) if headers is not None else (),
                body=self.value(body) if body is not None else None,
                span=http.span,
            )
        emit = node.get("emit")
        if emit is None:  # the schema requires one of python, http or emit
            raise TypeError(f"effect without a kind at {node.span}")
        spec = _map(emit)
        key, value, headers = spec.get("key"), spec.get("value"), spec.get("headers")
        return ast.EmitEffect(
            topic=_text(spec.get("topic")) or "",
            key=self.value(key) if key is not None else None,
            value=self.value(value) if value is not None else None,
            headers=self.values(headers) if headers is not None else (),
            span=spec.span,
        )

    def effect(self, name: str, node: YMap, span: Span, name_span: Span) -> ast.EffectDecl:
        callback, concurrency = node.get("callback"), node.get("concurrency")
        return ast.EffectDecl(
            name=name,
            kind=self.effect_kind(node),
            timeout=self.duration_at(node.get("timeout")),
            retry=self.retry(node.get("retry")),
            callback_timeout=(
                self.duration_at(_map(callback).get("timeout")) if callback is not None else None
            ),
            concurrency=(int(_scalar(concurrency).value or 0) if concurrency is not None else None),
            description=_text(node.get("description")),
            span=span,
            name_span=name_span,
        )

    def data_field(self, name: str, node: YMap, span: Span, name_span: Span) -> ast.DataField:
        schema: dict[str, Any] = {k: v for k, v in node.value.items() if k != "default"}
        return ast.DataField(
            name=name,
            schema=ast.SchemaDecl(schema=schema, span=node.span, places=_places(node)),
            default=node.value.get("default"),
            has_default="default" in node.value,
            span=span,
            name_span=name_span,
        )

    # ------------------------------------------------------------ states

    def action(self, node: YNode) -> ast.Action:
        action = _map(node)
        assignments = action.get("set")
        if assignments is not None:
            return ast.SetAction(
                assignments=self.values(assignments),
                span=node.span,
                name_spans=tuple(key.span for key, _ in _map(assignments).entries),
            )
        call = action.get("call")
        result = action.get("result")
        args, for_each, concurrency = (
            action.get("with"),
            action.get("for_each"),
            action.get("concurrency"),
        )
        return ast.CallAction(
            effect=_text(call) or "",
            args=(
                ast.MapLit(entries=self.values(args), span=args.span) if args is not None else None
            ),
            result=_text(result),
            for_each=self.value(for_each) if for_each is not None else None,
            concurrency=(int(_scalar(concurrency).value or 0) if concurrency is not None else None),
            span=node.span,
            effect_span=call.span if call is not None else node.span,
            result_span=result.span if result is not None else node.span,
        )

    def actions(self, node: YNode | None) -> tuple[ast.Action, ...]:
        if node is None:
            return ()
        return tuple(self.action(item) for item in _seq(node).items)

    def catch(self, node: YNode | None) -> ast.Catch | None:
        if node is None:
            return None
        catch = _map(node)
        goto = catch.get("goto")
        return ast.Catch(
            actions=self.actions(catch.get("do")),
            goto=_text(goto),
            span=node.span,
            goto_span=goto.span if goto is not None else node.span,
        )

    def transition(self, node: YNode) -> ast.Transition:
        transition = _map(node)
        when, goto = transition.get("when"), transition.get("goto")
        return ast.Transition(
            when=self.expression(when) if when is not None else None,
            actions=self.actions(transition.get("do")),
            goto=_text(goto),
            catch=self.catch(transition.get("catch")),
            span=node.span,
            goto_span=goto.span if goto is not None else node.span,
        )

    def transitions(self, node: YNode) -> tuple[ast.Transition, ...]:
        if isinstance(node, YSeq):
            return tuple(self.transition(item) for item in node.items)
        return (self.transition(node),)

    def at_timer(self, node: YNode) -> ast.AtTimer:
        entry = _map(node)
        time = entry.get("time")
        candidates = entry.get("candidates")
        return ast.AtTimer(
            time=self.value(time) if time is not None else ast.Literal(value=None),
            candidates=(
                self.transitions(candidates)
                if candidates is not None
                else (self.transition(entry),)
            ),
            span=node.span,
        )

    def state(self, name: str, node: YMap, span: Span, name_span: Span) -> ast.State:
        on, after, at, always, defer, final = (
            node.get("on"),
            node.get("after"),
            node.get("at"),
            node.get("always"),
            node.get("defer"),
            node.get("final"),
        )
        return ast.State(
            name=name,
            final=bool(_scalar(final).value) if final is not None else False,
            description=_text(node.get("description")),
            enter=self.actions(node.get("enter")),
            exit=self.actions(node.get("exit")),
            on=tuple(
                ast.OnClause(
                    trigger=str(key.value),
                    candidates=self.transitions(value),
                    span=_join(key.span, value.span),
                    trigger_span=key.span,
                )
                for key, value in (_map(on).entries if on is not None else ())
            ),
            after=tuple(
                ast.AfterTimer(
                    delay=self.duration(str(key.value), key.span),
                    candidates=self.transitions(value),
                    span=_join(key.span, value.span),
                )
                for key, value in (_map(after).entries if after is not None else ())
            ),
            at=tuple(self.at_timer(item) for item in (_seq(at).items if at is not None else ())),
            always=self.transitions(always) if always is not None else (),
            defer=tuple(
                ast.Ref(name=_text(item) or "", span=item.span)
                for item in (_seq(defer).items if defer is not None else ())
            ),
            span=span,
            name_span=name_span,
        )
