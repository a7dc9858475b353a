"""Hypothesis strategies for small, valid Flow ASTs (they pass the checks and lower).

The flows cover every declaration kind, every action and timer kind, catch and
always, and typed expressions of every node kind, so printing and re-reading
them exercises both surfaces end to end.
"""

from __future__ import annotations

from flowyard.dsl import ast
from hypothesis import strategies as st

EVENT_NAMES = ["OrderPlaced", "PaymentConfirmed", "OrderCancelled"]
TOPICS = ["orders", "payments"]
DURATIONS = [
    ("500ms", 500),
    ("30s", 30_000),
    ("5m", 300_000),
    ("2h", 7_200_000),
    ("1d", 86_400_000),
    ("PT30M", 1_800_000),
]
BACKOFFS = [("500ms", 500), ("1s", 1_000), ("30s", 30_000)]
TEXTS = ["An order.", "Renews monthly", "with: colon and 'quotes'", 'a "quoted" word']
WORDS = ["", "hello", "it's", "a b", "cost: $5", "x: y", "#hash", "true", "12"]

SCHEMAS: dict[str, dict[str, ast.JSON]] = {
    "count": {"type": "integer"},
    "note": {"type": "string"},
    "flag": {"type": "boolean"},
    "items": {"type": "array", "items": {"type": "object"}},
}
DEFAULTS: dict[str, ast.JSON] = {"count": 0, "note": "", "flag": False, "items": []}


def _data(name: str) -> ast.Expr:
    return ast.Field(target=ast.Name(name="data"), name=name)


def _lit(value: bool | int | float | str | None) -> ast.Literal:
    return ast.Literal(value=value)


def ints(fields: list[str]) -> st.SearchStrategy[ast.Expr]:
    base: st.SearchStrategy[ast.Expr] = st.integers(-5, 10_000).map(_lit)
    if "count" in fields:
        base = base | st.integers(0, 9).map(
            lambda n: ast.Binary(op="+", left=_data("count"), right=_lit(n))
        )
    if "items" in fields:
        base = base | st.just(ast.Call(function="size", args=(_data("items"),)))
    return base


def strings(fields: list[str]) -> st.SearchStrategy[ast.Expr]:
    base: st.SearchStrategy[ast.Expr] = st.sampled_from(WORDS).map(_lit)
    base = base | st.sampled_from(["id-", "order "]).map(
        lambda prefix: ast.Template(parts=(prefix, ast.Name(name="key"), "!"))
    )
    if "count" in fields:
        base = base | st.just(ast.Call(function="string", args=(_data("count"),)))
    return base


def bools(fields: list[str]) -> st.SearchStrategy[ast.Expr]:
    base: st.SearchStrategy[ast.Expr] = st.booleans().map(_lit)
    base = base | st.sampled_from(["k1", "k2"]).map(
        lambda k: ast.Binary(op="==", left=ast.Name(name="key"), right=_lit(k))
    )
    base = base | st.just(
        ast.Binary(
            op="in",
            left=ast.Name(name="key"),
            right=ast.ListLit(items=(_lit("a"), _lit("b"))),
        )
    )
    if "flag" in fields:
        base = base | st.just(ast.Unary(op="!", operand=_data("flag")))
    if "count" in fields:
        base = base | st.builds(
            lambda n, op: ast.Binary(op=op, left=_data("count"), right=_lit(n)),
            st.integers(0, 100),
            st.sampled_from([">=", "<", "!=", ">"]),
        )
        base = base | st.just(
            ast.Binary(
                op="&&",
                left=ast.Binary(op=">", left=_data("count"), right=_lit(0)),
                right=ast.Binary(
                    op="<",
                    left=ast.Binary(op="%", left=_data("count"), right=_lit(7)),
                    right=_lit(3),
                ),
            )
        )
    return base


def values_for(field: str, fields: list[str]) -> st.SearchStrategy[ast.Expr]:
    if field == "count":
        count = ints(fields)
        return count | st.builds(
            lambda c, a, b: ast.Conditional(condition=c, then=a, otherwise=b),
            bools(fields),
            count,
            count,
        )
    if field == "note":
        return strings(fields)
    if field == "flag":
        return bools(fields)
    return st.just(
        ast.ListLit(items=(ast.MapLit(entries=(("url", _lit("https://a.example/hook")),)),))
    )


def durations(choices: list[tuple[str, int]] = DURATIONS) -> st.SearchStrategy[ast.Duration]:
    return st.sampled_from(choices).map(lambda d: ast.Duration(text=d[0], millis=d[1]))


@st.composite
def events(draw: st.DrawFn) -> tuple[ast.EventDecl, ...]:
    names = draw(st.lists(st.sampled_from(EVENT_NAMES), min_size=1, max_size=3, unique=True))
    out = []
    for name in names:
        match: tuple[ast.MatchEntry, ...] = ()
        if draw(st.booleans()):
            value = draw(st.sampled_from(["order.placed", "x", "a b"]))
            match = (ast.MatchEntry(path="type", values=(value,)),)
        headers: tuple[ast.MatchEntry, ...] = ()
        if draw(st.booleans()):
            headers = (ast.MatchEntry(path="ce-type", values=("a", "b")),)
        schema = None
        if draw(st.booleans()):
            schema = ast.SchemaDecl(
                schema={
                    "type": "object",
                    "required": ["order_id"],
                    "properties": {"order_id": {"type": "string"}, "type": {"type": "string"}},
                }
            )
        out.append(
            ast.EventDecl(
                name=name,
                topic=draw(st.sampled_from(TOPICS)),
                key=ast.Field(target=ast.Name(name="event"), name="order_id"),
                match=match,
                match_headers=headers,
                schema=schema,
                delay=draw(st.none() | durations()),
                description=draw(st.none() | st.sampled_from(TEXTS)),
            )
        )
    return tuple(out)


@st.composite
def signals(draw: st.DrawFn) -> tuple[ast.SignalDecl, ...]:
    if not draw(st.booleans()):
        return ()
    from_kafka = draw(st.booleans())
    schema = ast.SchemaDecl(
        schema={"type": "object", "properties": {"approved": {"type": "boolean"}}}
    )
    return (
        ast.SignalDecl(
            name="approve",
            schema=draw(st.none() | st.just(schema)),
            topic="approvals" if from_kafka else None,
            key=ast.Field(target=ast.Name(name="event"), name="id") if from_kafka else None,
            description=draw(st.none() | st.sampled_from(TEXTS)),
        ),
    )


@st.composite
def effects(draw: st.DrawFn) -> tuple[ast.EffectDecl, ...]:
    out = []
    if draw(st.booleans()):
        retry = None
        if draw(st.booleans()):
            retry = ast.RetryPolicy(
                attempts=draw(st.none() | st.integers(1, 9)),
                backoff=draw(st.none() | durations(BACKOFFS)),
                max_backoff=draw(st.none() | st.just(ast.Duration(text="10m", millis=600_000))),
                jitter=draw(st.none() | st.booleans()),
                retry_on=draw(
                    st.none()
                    | st.lists(
                        st.sampled_from(["timeout", "error"]),
                        min_size=1,
                        max_size=3,
                        unique=True,
                    ).map(tuple)
                ),
            )
        out.append(
            ast.EffectDecl(
                name="reserve",
                kind=ast.PythonEffect(target="examples.shop:reserve_stock"),
                timeout=draw(st.none() | durations()),
                retry=retry,
                description=draw(st.none() | st.sampled_from(TEXTS)),
            )
        )
    if draw(st.booleans()):
        args = ast.Name(name="args")
        body = draw(
            st.none()
            | st.just(ast.MapLit(entries=(("id", ast.Name(name="key")),)))
            | st.just(ast.Field(target=args, name="payload"))
        )
        out.append(
            ast.EffectDecl(
                name="notify",
                kind=ast.HttpEffect(
                    method=draw(st.sampled_from(["POST", "PUT", "GET"])),
                    url=draw(
                        st.sampled_from(
                            [
                                ast.Field(target=args, name="url"),
                                ast.Template(
                                    parts=("https://x.example/", ast.Name(name="key"), "/done")
                                ),
                                _lit("https://x.example/hook"),
                            ]
                        )
                    ),
                    headers=draw(
                        st.sampled_from([(), (("Content-Type", _lit("application/json")),)])
                    ),
                    body=body,
                ),
                callback_timeout=draw(st.none() | durations()),
            )
        )
    if draw(st.booleans()):
        out.append(
            ast.EffectDecl(
                name="publish",
                kind=ast.EmitEffect(
                    topic="order-updates",
                    key=draw(st.none() | st.just(ast.Name(name="key"))),
                    value=draw(
                        st.none() | st.just(ast.MapLit(entries=(("status", _lit("done")),)))
                    ),
                ),
            )
        )
    return tuple(out)


@st.composite
def actions(draw: st.DrawFn, fields: list[str], effect_names: list[str]) -> tuple[ast.Action, ...]:
    out: list[ast.Action] = []
    for _ in range(draw(st.integers(0, 2))):
        if fields and (not effect_names or draw(st.booleans())):
            chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=2, unique=True))
            out.append(
                ast.SetAction(assignments=tuple((f, draw(values_for(f, fields))) for f in chosen))
            )
        elif effect_names:
            effect = draw(st.sampled_from(effect_names))
            fan_out = "items" in fields and draw(st.booleans())
            item_or_key = ast.Field(target=ast.Name(name="item"), name="url")
            args = ast.MapLit(
                entries=(
                    ("id", ast.Name(name="key")),
                    ("url", item_or_key if fan_out else _lit("https://a.example/")),
                )
            )
            result = None
            if fan_out and draw(st.booleans()):
                result = "items"
            out.append(
                ast.CallAction(
                    effect=effect,
                    args=draw(st.none() | st.just(args)) if not fan_out else args,
                    result=result,
                    for_each=_data("items") if fan_out else None,
                    concurrency=draw(st.none() | st.integers(1, 50)) if fan_out else None,
                )
            )
    return tuple(out)


@st.composite
def transition(
    draw: st.DrawFn,
    fields: list[str],
    effect_names: list[str],
    target: str | None,
    *,
    guarded: bool,
    fallback: str,
) -> ast.Transition:
    acts = draw(actions(fields, effect_names))
    catch = None
    if any(isinstance(a, ast.CallAction) for a in acts) and draw(st.booleans()):
        catch = ast.Catch(actions=draw(actions(fields, [])), goto=fallback)
    return ast.Transition(
        when=draw(bools(fields)) if guarded else None,
        actions=acts,
        goto=target,
        catch=catch,
    )


@st.composite
def flows(draw: st.DrawFn) -> ast.Flow:
    """A chain s0 -> s1 -> ... -> done, each step on an event, with optional extras."""
    evs = draw(events())
    sigs = draw(signals())
    effs = draw(effects())
    fields = draw(st.lists(st.sampled_from(sorted(SCHEMAS)), max_size=4, unique=True))
    data = tuple(
        ast.DataField(
            name=f,
            schema=ast.SchemaDecl(schema=dict(SCHEMAS[f])),
            default=DEFAULTS[f],
            has_default=True,
        )
        for f in fields
    )
    effect_names = [e.name for e in effs]
    triggers = [e.name for e in evs] + [s.name for s in sigs]
    n_states = draw(st.integers(2, 4))
    names = [f"s{i}" for i in range(n_states - 1)] + ["done"]
    final = names[-1]
    states = []
    for i, name in enumerate(names[:-1]):
        nxt = names[i + 1]
        step = ast.OnClause(
            trigger=evs[i % len(evs)].name,
            candidates=(
                *draw(
                    st.lists(
                        transition(fields, effect_names, nxt, guarded=True, fallback=final),
                        max_size=1,
                    )
                ),
                draw(transition(fields, effect_names, nxt, guarded=False, fallback=final)),
            ),
        )
        on = [step]
        others = [t for t in triggers if t != step.trigger]
        if others and draw(st.booleans()):
            stay = draw(transition(fields, effect_names, None, guarded=False, fallback=final))
            on.append(ast.OnClause(trigger=draw(st.sampled_from(others)), candidates=(stay,)))
        after: tuple[ast.AfterTimer, ...] = ()
        if draw(st.booleans()):
            after = (
                ast.AfterTimer(
                    delay=draw(durations()),
                    candidates=(
                        draw(
                            transition(fields, effect_names, final, guarded=False, fallback=final)
                        ),
                    ),
                ),
            )
        at: tuple[ast.AtTimer, ...] = ()
        if "note" in fields and draw(st.booleans()):
            at = (
                ast.AtTimer(
                    time=ast.Call(function="timestamp", args=(_data("note"),)),
                    candidates=(ast.Transition(goto=final),),
                ),
            )
        always: tuple[ast.Transition, ...] = ()
        if draw(st.booleans()):
            always = (draw(transition(fields, effect_names, final, guarded=True, fallback=final)),)
        defer: tuple[ast.Ref, ...] = ()
        unhandled = [t for t in triggers if t not in {c.trigger for c in on}]
        if unhandled and draw(st.booleans()):
            defer = (ast.Ref(name=draw(st.sampled_from(unhandled))),)
        states.append(
            ast.State(
                name=name,
                description=draw(st.none() | st.sampled_from(TEXTS)),
                enter=draw(actions(fields, effect_names)),
                exit=draw(actions(fields, effect_names)),
                on=tuple(on),
                after=after,
                at=at,
                always=always,
                defer=defer,
            )
        )
    states.append(ast.State(name=final, final=True, enter=draw(actions(fields, effect_names))))
    return ast.Flow(
        name=draw(st.sampled_from(["orders", "billing_flow", "fanout2"])),
        version=draw(st.integers(1, 5)),
        description=draw(st.none() | st.sampled_from(TEXTS)),
        key=draw(st.none() | st.just("order_id")),
        events=evs,
        signals=sigs,
        effects=effs,
        data=data,
        initial=names[0],
        states=tuple(states),
    )
