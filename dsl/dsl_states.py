"""The .flow builder for states: transitions, timers, actions and catch blocks."""

from __future__ import annotations

from lark import Token, Tree

from . import ast
from .dsl_values import Builder, subtrees, tokens
from .spans import Span

_TransitionParts = tuple[ast.Expr | None, Tree[Token], Tree[Token]]


class StateBuilder:
    def __init__(self, builder: Builder) -> None:
        self.b = builder

    def state(self, tree: Tree[Token]) -> ast.State:
        name, name_span = self.b.name(subtrees(tree)[0])
        final = any(t.type == "FINAL" for t in tokens(tree))
        where = f"state '{name}'"
        seen: dict[str, Span] = {}
        description: str | None = None
        enter: tuple[ast.Action, ...] = ()
        exit_: tuple[ast.Action, ...] = ()
        on: list[ast.OnClause] = []
        after: list[ast.AfterTimer] = []
        at: list[ast.AtTimer] = []
        always: list[ast.Transition] = []
        defer: list[ast.Ref] = []
        for stmt in subtrees(tree)[1:]:
            kind, span = str(stmt.data), self.b.span(stmt)
            if kind == "description":
                if self.b.once(seen, kind, span, where):
                    description = self.b.string(tokens(stmt)[0])
            elif kind in ("enter", "exit"):
                actions = self.actions_only(subtrees(stmt)[0], kind)
                if self.b.once(seen, kind, span, where):
                    if kind == "enter":
                        enter = actions
                    else:
                        exit_ = actions
            elif kind == "on":
                self.on(stmt, on, where)
            elif kind == "after":
                delay = self.b.duration(subtrees(stmt)[0])
                after.append(
                    ast.AfterTimer(delay=delay, candidates=self.candidates(stmt), span=span)
                )
            elif kind == "at":
                time = self.b.expr(stmt.children[0])
                at.append(ast.AtTimer(time=time, candidates=self.candidates(stmt), span=span))
            elif kind == "always":
                always += self.candidates(stmt, skip=0)
            else:
                defer += [ast.Ref(name=n, span=s) for n, s in map(self.b.name, subtrees(stmt))]
        return ast.State(
            name=name,
            final=final,
            description=description,
            enter=enter,
            exit=exit_,
            on=tuple(on),
            after=tuple(after),
            at=tuple(at),
            always=tuple(always),
            defer=tuple(defer),
            span=self.b.span(tree),
            name_span=name_span,
        )

    def on(self, stmt: Tree[Token], clauses: list[ast.OnClause], where: str) -> None:
        trigger, trigger_span = self.b.name(subtrees(stmt)[0])
        candidates = self.candidates(stmt)
        if clauses and clauses[-1].trigger == trigger:
            # Consecutive `on X` clauses are the ordered candidates of one trigger.
            last = clauses.pop()
            clauses.append(
                ast.OnClause(
                    trigger=trigger,
                    candidates=last.candidates + candidates,
                    span=last.span,
                    trigger_span=last.trigger_span,
                )
            )
            return
        if any(c.trigger == trigger for c in clauses):
            self.b.report(
                "FY201",
                f"'on {trigger}' appears twice in {where} with other triggers in between",
                trigger_span,
                f"write all candidates for '{trigger}' together, in the order they are tried",
            )
        clauses.append(
            ast.OnClause(
                trigger=trigger,
                candidates=candidates,
                span=self.b.span(stmt),
                trigger_span=trigger_span,
            )
        )

    def candidates(self, stmt: Tree[Token], skip: int = 1) -> tuple[ast.Transition, ...]:
        """The candidates of an `on`/`after`/`at`/`always` clause after its `skip` heads."""
        rest = stmt.children[skip:]
        last = rest[-1]
        assert isinstance(last, Tree)
        if last.data == "ignore":
            return ()
        if last.data == "candidates":
            out: list[ast.Transition] = []
            for candidate in subtrees(last):
                parts = candidate.children
                when = self.b.expr(parts[0]) if len(parts) == 2 else None
                block = parts[-1]
                assert isinstance(block, Tree)
                out.append(self.transition(when, block, candidate))
            return tuple(out)
        guard = rest[0] if len(rest) == 2 else None
        when = None
        if isinstance(guard, Tree):
            when = self.b.expr(guard.children[0])
        return (self.transition(when, last, stmt),)

    def transition(
        self, when: ast.Expr | None, block: Tree[Token], whole: Tree[Token]
    ) -> ast.Transition:
        span = self.b.span(whole)
        actions, goto, goto_span, catch = self.block(block, "a transition", allow_catch=True)
        return ast.Transition(
            when=when,
            actions=actions,
            goto=goto,
            catch=catch,
            span=span,
            goto_span=goto_span or span,
        )

    def block(
        self, block: Tree[Token], where: str, *, allow_catch: bool
    ) -> tuple[tuple[ast.Action, ...], str | None, Span | None, ast.Catch | None]:
        seen: dict[str, Span] = {}
        actions: list[ast.Action] = []
        goto: str | None = None
        goto_span: Span | None = None
        catch: ast.Catch | None = None
        for stmt in subtrees(block):
            kind, span = str(stmt.data), self.b.span(stmt)
            if kind == "set":
                actions.append(self.set_action(stmt))
            elif kind == "call":
                actions.append(self.call_action(stmt))
            elif kind == "goto":
                name, name_span = self.b.name(subtrees(stmt)[0])
                if self.b.once(seen, "goto", span, where):
                    goto, goto_span = name, name_span
            elif not allow_catch:
                self.b.report(
                    "FY004",
                    f"'catch' is not allowed in {where}",
                    span,
                    "a catch belongs to a transition: on, after, at or always",
                )
            elif self.b.once(seen, "catch", span, where):
                inner, target, target_span, _ = self.block(
                    subtrees(stmt)[0], "a catch block", allow_catch=False
                )
                catch = ast.Catch(
                    actions=inner, goto=target, span=span, goto_span=target_span or span
                )
        return tuple(actions), goto, goto_span, catch

    def actions_only(self, block: Tree[Token], kind: str) -> tuple[ast.Action, ...]:
        actions, goto, goto_span, _ = self.block(block, f"'{kind}'", allow_catch=False)
        if goto is not None and goto_span is not None:
            self.b.report(
                "FY004",
                f"'goto' is not allowed in '{kind}'",
                goto_span,
                "move the goto into a transition (on, after, at or always)",
            )
        return actions

    def set_action(self, stmt: Tree[Token]) -> ast.SetAction:
        assignments: list[tuple[str, ast.Expr]] = []
        name_spans: list[Span] = []
        for assign in subtrees(stmt):
            name_tree, value = assign.children
            assert isinstance(name_tree, Tree)
            name, name_span = self.b.name(name_tree)
            assignments.append((name, self.b.expr(value)))
            name_spans.append(name_span)
        return ast.SetAction(
            assignments=tuple(assignments), span=self.b.span(stmt), name_spans=tuple(name_spans)
        )

    def call_action(self, stmt: Tree[Token]) -> ast.CallAction:
        parts = subtrees(stmt)
        effect, effect_span = self.b.name(parts[0])
        args: ast.MapLit | None = None
        for_each: ast.Expr | None = None
        concurrency: int | None = None
        result: str | None = None
        result_span = self.b.span(stmt)
        for part in parts[1:]:
            if part.data == "map":
                built = self.b.expr(part)
                assert isinstance(built, ast.MapLit)
                args = built
            elif part.data == "for_each":
                for_each = self.b.expr(part.children[0])
            elif part.data == "concurrency":
                concurrency = self.b.integer(tokens(part)[0])
            else:
                result, result_span = self.b.name(subtrees(part)[0])
        return ast.CallAction(
            effect=effect,
            args=args,
            result=result,
            for_each=for_each,
            concurrency=concurrency,
            span=self.b.span(stmt),
            effect_span=effect_span,
            result_span=result_span,
        )
