"""The `.flow` DSL: text -> `ast.Flow`, the same AST the YAML surface builds.

    flow, diagnostics = parse_dsl(text, file="order_fulfillment.flow")

Syntax errors are FY004 diagnostics (never exceptions); docs/dsl.md describes the
syntax and grammar.lark is its grammar.
"""

from __future__ import annotations

from lark import Token, Tree

from . import ast
from .diagnostics import Diagnostic, has_errors
from .dsl_lark import Origin, SyntaxFailureError, parse_tree
from .dsl_states import StateBuilder
from .dsl_values import Builder, subtrees, tokens
from .spans import Span


def parse_dsl(text: str, *, file: str) -> tuple[ast.Flow | None, list[Diagnostic]]:
    """Parse a `.flow` file. Returns the flow (None when there are errors) and diagnostics."""
    origin = Origin(file)
    text = text.removeprefix("\ufeff")
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return None, [
            Diagnostic(
                code="FY103",
                message="the file is empty",
                span=Span.point(file, 1, 1),
                hint="a .flow file starts with `flow NAME version 1`, then `initial` and states",
            )
        ]
    try:
        tree = parse_tree(text, "flow", origin, "FY004")
    except SyntaxFailureError as failure:
        return None, [failure.diagnostic]
    builder = FlowBuilder(origin)
    try:
        flow = builder.flow(tree)
    except RecursionError:
        return None, [
            Diagnostic(
                code="FY004",
                message="the flow is nested too deeply",
                span=Span.point(file, 1, 1),
                hint="split deeply nested expressions into smaller parts",
            )
        ]
    diagnostics = builder.diagnostics + builder.exprs.diagnostics
    return (None if has_errors(diagnostics) else flow), diagnostics


def _stmts(tree: Tree[Token]) -> list[Tree[Token]]:
    return subtrees(tree)[1:]  # after the declaration's name


class FlowBuilder(Builder):
    def flow(self, tree: Tree[Token]) -> ast.Flow:
        header, *statements = subtrees(tree)
        name, _ = self.name(subtrees(header)[0])
        version_token = tokens(header)[0]
        version = self.integer(version_token)
        if int(version_token) < 1:
            self.report(
                "FY104",
                f"'version' is {version}, but it must be at least 1",
                self.span(version_token),
                "number versions from 1: `flow NAME version 1`",
            )
        seen: dict[str, Span] = {}
        description: str | None = None
        key: str | None = None
        initial, initial_span = "", self.span(header)
        events: list[ast.EventDecl] = []
        signals: list[ast.SignalDecl] = []
        effects: list[ast.EffectDecl] = []
        data: list[ast.DataField] = []
        states: list[ast.State] = []
        state_builder = StateBuilder(self)
        where = f"flow '{name}'"
        for stmt in statements:
            kind, span = str(stmt.data), self.span(stmt)
            if kind == "description":
                if self.once(seen, kind, span, where):
                    description = self.string(tokens(stmt)[0])
            elif kind == "flow_key":
                if self.once(seen, "key", span, where):
                    key = self.name(subtrees(stmt)[0])[0]
            elif kind == "initial":
                if self.once(seen, kind, span, where):
                    initial, initial_span = self.name(subtrees(stmt)[0])
            elif kind == "event":
                events.append(self.event(stmt))
            elif kind == "signal":
                signals.append(self.signal(stmt))
            elif kind == "effect":
                effects.append(self.effect(stmt))
            elif kind == "data":
                data.append(self.data_field(stmt))
            else:
                states.append(state_builder.state(stmt))
        if not initial:
            self.missing("initial", where, self.span(header), "initial new")
        return ast.Flow(
            name=name,
            version=version,
            description=description,
            key=key,
            events=tuple(events),
            signals=tuple(signals),
            effects=tuple(effects),
            data=tuple(data),
            initial=initial,
            states=tuple(states),
            span=self.span(tree),
            initial_span=initial_span,
        )

    def _once(self, seen: dict[str, Span], stmt: Tree[Token], where: str) -> bool:
        kind = {"key_expr": "key", "match_headers": "match headers"}.get(
            str(stmt.data), str(stmt.data)
        )
        return self.once(seen, kind, self.span(stmt), where)

    def match(self, stmt: Tree[Token]) -> tuple[ast.MatchEntry, ...]:
        entries: list[ast.MatchEntry] = []
        for entry in subtrees(subtrees(stmt)[0]):
            key, value = entry.children
            assert isinstance(key, Token)
            path = self.string(key) if key.type == "STRING" else str(key.value)
            constant = self.constant(value, "a match value")
            values = constant if isinstance(constant, list) else [constant]
            scalars: list[bool | int | float | str | None] = []
            for v in values:
                if isinstance(v, list | dict):
                    self.report(
                        "FY507",
                        f"match values for '{path}' must be strings, numbers, booleans or null",
                        self.span(entry),
                        'write one value or a list of values: {type: ["a", "b"]}',
                    )
                else:
                    scalars.append(v)
            entries.append(ast.MatchEntry(path=path, values=tuple(scalars), span=self.span(entry)))
        return tuple(entries)

    def event(self, tree: Tree[Token]) -> ast.EventDecl:
        name, name_span = self.name(subtrees(tree)[0])
        where = f"event '{name}'"
        seen: dict[str, Span] = {}
        description = topic = None
        key: ast.Expr | None = None
        match: tuple[ast.MatchEntry, ...] = ()
        match_headers: tuple[ast.MatchEntry, ...] = ()
        schema: ast.SchemaDecl | None = None
        delay: ast.Duration | None = None
        for stmt in _stmts(tree):
            if not self._once(seen, stmt, where):
                continue
            kind = str(stmt.data)
            if kind == "description":
                description = self.string(tokens(stmt)[0])
            elif kind == "topic":
                topic = self.string(tokens(stmt)[0])
            elif kind == "match":
                match = self.match(stmt)
            elif kind == "match_headers":
                match_headers = self.match(stmt)
            elif kind == "key_expr":
                key = self.expr(stmt.children[0])
            elif kind == "schema":
                schema = self.schema(subtrees(stmt)[0], "a schema")
            else:
                delay = self.duration(subtrees(stmt)[0])
        if topic is None:
            self.missing("topic", where, name_span, 'topic "orders"')
        if key is None:
            self.missing("key", where, name_span, "key event.order_id")
        return ast.EventDecl(
            name=name,
            topic=topic or "",
            key=key or ast.Literal(value=None),
            match=match,
            match_headers=match_headers,
            schema=schema,
            delay=delay,
            description=description,
            span=self.span(tree),
            name_span=name_span,
        )

    def signal(self, tree: Tree[Token]) -> ast.SignalDecl:
        name, name_span = self.name(subtrees(tree)[0])
        where = f"signal '{name}'"
        seen: dict[str, Span] = {}
        description = topic = None
        key: ast.Expr | None = None
        schema: ast.SchemaDecl | None = None
        for stmt in _stmts(tree):
            if not self._once(seen, stmt, where):
                continue
            kind = str(stmt.data)
            if kind == "description":
                description = self.string(tokens(stmt)[0])
            elif kind == "topic":
                topic = self.string(tokens(stmt)[0])
            elif kind == "schema":
                schema = self.schema(subtrees(stmt)[0], "a schema")
            else:
                key = self.expr(stmt.children[0])
        return ast.SignalDecl(
            name=name,
            schema=schema,
            topic=topic,
            key=key,
            description=description,
            span=self.span(tree),
            name_span=name_span,
        )

    def effect(self, tree: Tree[Token]) -> ast.EffectDecl:
        name, name_span = self.name(subtrees(tree)[0])
        where = f"effect '{name}'"
        seen: dict[str, Span] = {}
        kinds: list[tuple[str, Tree[Token]]] = []
        parts: dict[str, Tree[Token]] = {}  # kind-specific clauses: headers, body, key, value
        description: str | None = None
        timeout = callback = None
        concurrency: int | None = None
        retry: ast.RetryPolicy | None = None
        for stmt in _stmts(tree):
            kind = str(stmt.data)
            if kind in ("python", "http", "emit"):
                kinds.append((kind, stmt))
                continue
            if not self._once(seen, stmt, where):
                continue
            if kind == "description":
                description = self.string(tokens(stmt)[0])
            elif kind in ("headers", "body", "key_expr", "value"):
                parts[kind.removesuffix("_expr")] = stmt
            elif kind == "timeout":
                timeout = self.duration(subtrees(stmt)[0])
            elif kind == "callback":
                callback = self.duration(subtrees(stmt)[0])
            elif kind == "concurrency":
                concurrency = self.integer(tokens(stmt)[0])
            else:
                retry = self.retry(stmt)
        span = self.span(tree)
        return ast.EffectDecl(
            name=name,
            kind=self.effect_kind(kinds, parts, where, name_span),
            timeout=timeout,
            retry=retry,
            callback_timeout=callback,
            concurrency=concurrency,
            description=description,
            span=span,
            name_span=name_span,
        )

    def effect_kind(
        self,
        kinds: list[tuple[str, Tree[Token]]],
        parts: dict[str, Tree[Token]],
        where: str,
        name_span: Span,
    ) -> ast.EffectKind:
        if not kinds:
            self.missing("python, http or emit", where, name_span, 'python "pkg.module:function"')
            return ast.PythonEffect(target="", span=name_span)
        for _, extra in kinds[1:]:
            self.report(
                "FY506",
                f"{where} has more than one kind",
                self.span(extra),
                "an effect is one of python, http or emit; declare another effect",
            )
        kind, stmt = kinds[0]
        allowed = {"python": (), "http": ("headers", "body"), "emit": ("headers", "key", "value")}
        for part, part_stmt in parts.items():
            if part not in allowed[kind]:
                self.report(
                    "FY506",
                    f"'{part}' does not apply to {_article(kind)} {kind} effect ({where})",
                    self.span(part_stmt),
                    f"{_article(kind)} {kind} effect takes: {', '.join(allowed[kind]) or 'none'}",
                )

        def expr_part(key: str) -> ast.Expr | None:
            return self.expr(parts[key].children[0]) if key in parts else None

        headers = self.exprs.entries(subtrees(parts["headers"])[0]) if "headers" in parts else ()
        span = self.span(stmt)
        if kind == "python":
            return ast.PythonEffect(target=self.string(tokens(stmt)[0]), span=span)
        if kind == "http":
            method_tree, url = stmt.children
            assert isinstance(method_tree, Tree)
            method = self.name(method_tree)[0]
            return ast.HttpEffect(
                method=method,
                url=self.expr(url),
                headers=headers,
                body=expr_part("body"),
                span=span,
            )
        return ast.EmitEffect(
            topic=self.string(tokens(stmt)[0]),
            key=expr_part("key"),
            value=expr_part("value"),
            headers=headers,
            span=span,
        )

    def retry(self, stmt: Tree[Token]) -> ast.RetryPolicy:
        seen: dict[str, Span] = {}
        attempts: int | None = None
        backoff = max_backoff = None
        jitter: bool | None = None
        retry_on: tuple[str, ...] | None = None
        attempts_span = self.span(stmt)
        retry_on_spans: tuple[Span, ...] = ()
        for option in subtrees(stmt):
            kind = str(option.data)
            if not self.once(seen, kind, self.span(option), "a retry policy"):
                continue
            if kind == "attempts":
                attempts = self.integer(tokens(option)[0])
                attempts_span = self.span(option)
            elif kind == "backoff":
                backoff = self.duration(subtrees(option)[0])
            elif kind == "max_backoff":
                max_backoff = self.duration(subtrees(option)[0])
            elif kind == "jitter":
                jitter = all(t.type != "FALSE" for t in tokens(option))
            else:
                words = [tokens(w)[0] for w in subtrees(option)]
                retry_on = tuple(
                    self.string(w) if w.type == "STRING" else str(w.value) for w in words
                )
                retry_on_spans = tuple(self.span(w) for w in words)
        return ast.RetryPolicy(
            attempts=attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            jitter=jitter,
            retry_on=retry_on,
            span=self.span(stmt),
            attempts_span=attempts_span,
            retry_on_spans=retry_on_spans,
        )

    def data_field(self, tree: Tree[Token]) -> ast.DataField:
        name_tree, *rest = tree.children
        assert isinstance(name_tree, Tree)
        name, name_span = self.name(name_tree)
        schema: dict[str, ast.JSON] = {}
        schema_span = name_span
        schema_places: dict[ast.JsonPath, Span] = {}
        default: ast.JSON = None
        has_default = False
        for part in rest:
            if isinstance(part, Tree) and part.data == "map" and part is rest[0]:
                written = self.schema(part, "a schema")
                schema, schema_span, schema_places = written.schema, written.span, written.places
            else:
                default, has_default = self.constant(part, "a default value"), True
        if "default" in schema:
            if has_default:
                self.report(
                    "FY104",
                    f"data '{name}' has a default in its schema and after '='",
                    schema_span,
                    "keep only the one after '='",
                )
            else:
                default, has_default = schema["default"], True
            schema = {k: v for k, v in schema.items() if k != "default"}
        return ast.DataField(
            name=name,
            schema=ast.SchemaDecl(schema=schema, span=schema_span, places=schema_places),
            default=default,
            has_default=has_default,
            span=self.span(tree),
            name_span=name_span,
        )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
