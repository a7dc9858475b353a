"""One abstract step: the successors of a configuration, as the interpreter would go.

This mirrors the order of interpreter/core.py at the level of whole inputs: an
input is handled (first candidate whose guard holds), deferred, or ignored; a
transition runs its actions, with every call either succeeding or failing for good
(after its retries or timeout: the transition's `catch`, else an incident); then
the target is entered, its timers armed, `always` tried and deferred inputs
re-offered. Inputs that arrive while a call is in flight wait in the inbox, so a
transition is one atomic step here.

Each successor carries a concrete witness (data values, time, payloads) that a
trace replays; a branch the witness itself takes is "exact", a branch only
some other member of a cell takes is "may".
"""

from __future__ import annotations

import itertools
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from .domains import Domain, Var
from .evaluate import UNKNOWN, EvalError, Stamp, evaluate, format_stamp, parse_stamp
from .fits import misfit
from .model import KEY, InputModel, Local, Model, put_copy

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the scenarios' default start
MAX_SCOPES = 8
ALWAYS = "always"

Deferred = tuple[str, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Config:
    """An abstract configuration: what the search tells apart."""

    state: str
    status: str  # "none" (no instance yet), "active", "completed", "incident"
    cells: tuple[int, ...]
    timers: frozenset[str]
    deferred: tuple[Deferred, ...]


@dataclass(frozen=True, slots=True)
class Witness:
    """Concrete values of the first run that reached a configuration."""

    data: dict[str, Any]
    now_ms: int
    dues: dict[str, int | None]
    payloads: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call did in a step: its effect, and a result or a failure."""

    effect: str
    action: str
    ok: bool
    value: Any = None
    items: int = 1


@dataclass(frozen=True, slots=True)
class Raw:
    """Something a rule may report, seen during one step."""

    rule: str
    key: tuple[Any, ...]
    pointer: str
    detail: str
    exact: bool


@dataclass(frozen=True, slots=True)
class Step:
    """One input of a trace and what it did."""

    kind: str  # "event", "signal", "timer"
    name: str
    payload: dict[str, Any] | None
    advance_ms: int
    outcomes: tuple[Outcome, ...]
    taken: tuple[str, ...]
    note: str
    exact: bool
    label: str
    overdue: bool = False  # a timer is due at once: the runtime fires it before going on
    reoffered: tuple[tuple[str, dict[str, Any]], ...] = ()  # deferred inputs taken, payloads


@dataclass(slots=True)
class _Work:
    state: str
    status: str
    cells: list[int]
    data: dict[str, Any]
    timers: dict[str, int | None]
    deferred: list[tuple[str, tuple[int, ...], dict[str, Any]]]
    now: int
    taken: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    raws: list[Raw] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exact: bool = True
    always: int = 0
    seen_always: set[tuple[Any, ...]] = field(default_factory=set)
    reoffered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    payload: dict[str, Any] | None = None  # the input's payload, when a sample replaced it

    def fork(self) -> _Work:
        return _Work(
            self.state, self.status, list(self.cells), dict(self.data), dict(self.timers),
            list(self.deferred), self.now, list(self.taken), list(self.outcomes),
            list(self.raws), list(self.notes), self.exact, self.always, set(self.seen_always),
            list(self.reoffered), self.payload,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str | None
    variant: tuple[int, ...]
    payload: dict[str, Any] | None
    local: Local | None = None


def initial(model: Model) -> tuple[Config, Witness]:
    data = {f: model.definition["data"][f]["default"] for f in model.fields}
    cells = tuple(d.cell_of(data[f]) for d, f in zip(model.domains, model.fields, strict=True))
    return Config("", "none", cells, frozenset(), ()), Witness(data, START_MS, {}, ())


def successors(
    model: Model,
    config: Config,
    witness: Witness,
    known: Container[tuple[str, str]] = (),
) -> list[tuple[Step, Config, Witness, list[Raw]]]:
    """Every step from `config`, each with the configuration and witness after it.

    `known`: (state, input) pairs already seen ignored; their self-loops are left out.
    """
    out: list[tuple[Step, Config, Witness, list[Raw]]] = []
    if config.status not in ("none", "active"):
        return out
    overdue = config.status == "active" and any(
        d is not None and d <= witness.now_ms for d in witness.dues.values()
    )
    for name, inp in model.inputs.items():
        if overdue:
            break  # a timer already due fires before anything else arrives
        if config.status == "none" and name not in model.starts:
            continue
        delay = inp.delay_ms
        if delay and any(
            d is not None and d <= witness.now_ms + delay for d in witness.dues.values()
        ):
            continue  # a timer falls due first; that order is the timer's step
        seen_in = model.definition["initial"] if config.status == "none" else config.state
        if (seen_in, name) in known:
            continue
        local = model.local(seen_in, name)
        for variant in local.variants:
            payload = local.payload(variant)
            work = _start(model, config, witness, delay)
            # A key computed from several fields: a trace cannot be sure to reach this instance.
            work.exact = inp.keyed
            trigger = Trigger(name, variant, payload, local)
            if config.status == "none":
                branches = _create(model, work, trigger)
            else:
                branches = [
                    r for w in _offer(model, work, trigger, inp) for r in _settle(model, w, None)
                ]
            described = local.describe(variant)
            label = f"{inp.kind} {name}" + (f" ({described})" if described else "")
            for w in branches:
                out.append(
                    _finish(
                        model,
                        w,
                        kind=inp.kind,
                        name=name,
                        payload=w.payload if w.payload is not None else payload,
                        advance=delay,
                        label=label,
                    )
                )
    if config.status == "active":
        for timer_id in _due_timers(config, witness):
            due = witness.dues.get(timer_id)
            advance = max(0, due - witness.now_ms) if due is not None else 0
            work = _start(model, config, witness, advance)
            del work.timers[timer_id]
            timer = model.timers[timer_id]
            branches = [
                r
                for w in _choose(
                    model, work, timer["candidates"], Trigger(None, (), None), timer_id
                )
                for r in _settle(model, w, None)
            ]
            for w in branches:
                out.append(
                    _finish(
                        model,
                        w,
                        kind="timer",
                        name=timer_id,
                        payload=None,
                        advance=advance,
                        label=f"timer {timer_id}",
                    )
                )
    return out


def _due_timers(config: Config, witness: Witness) -> list[str]:
    known = [witness.dues[t] for t in config.timers if witness.dues.get(t) is not None]
    first = min((d for d in known if d is not None), default=None)
    return sorted(
        t for t in config.timers if witness.dues.get(t) is None or witness.dues.get(t) == first
    )


def _start(model: Model, config: Config, witness: Witness, advance: int) -> _Work:
    deferred = [
        (name, variant, payload)
        for (name, variant), payload in zip(config.deferred, witness.payloads, strict=True)
    ]
    timers = {t: witness.dues.get(t) for t in config.timers}
    return _Work(
        config.state, config.status, list(config.cells), dict(witness.data), timers,
        deferred, witness.now_ms + advance,
    )  # fmt: skip


def _finish(
    model: Model,
    w: _Work,
    *,
    kind: str,
    name: str,
    payload: dict[str, Any] | None,
    advance: int,
    label: str,
) -> tuple[Step, Config, Witness, list[Raw]]:
    step = Step(
        kind, name, payload, advance, tuple(w.outcomes), tuple(w.taken),
        "; ".join(w.notes), w.exact, label,
        any(d is not None and d <= w.now for d in w.timers.values()), tuple(w.reoffered),
    )  # fmt: skip
    config = Config(
        w.state, w.status, tuple(w.cells), frozenset(w.timers),
        tuple((n, v) for n, v, _ in w.deferred),
    )  # fmt: skip
    witness = Witness(w.data, w.now, dict(w.timers), tuple(p for _, _, p in w.deferred))
    return step, config, witness, w.raws


# ---------------------------------------------------------------- inputs


def _create(model: Model, w: _Work, trigger: Trigger) -> list[_Work]:
    w.state, w.status = model.definition["initial"], "active"
    out = []
    for entered in _enter(model, w):
        out.extend(_settle(model, entered, trigger))
    return out


def _offer(
    model: Model, w: _Work, trigger: Trigger, inp: InputModel, *, reoffer: bool = False
) -> list[_Work]:
    assert trigger.name is not None
    state = model.state(w.state)
    if trigger.name in state["on"]:
        return _choose(model, w, state["on"][trigger.name], trigger, trigger.name)
    if trigger.name in state["defer"]:
        if any(n == trigger.name for n, _, _ in w.deferred):
            return []  # one of each name is enough (a bound on the abstraction, see docs)
        assert trigger.payload is not None
        w.deferred.append((trigger.name, trigger.variant, trigger.payload))
        w.notes.append(f"deferred {trigger.name}")
        return [w]
    what = "re-offered and ignored" if reoffer else "ignored"
    w.notes.append(f"{trigger.name} {what}")
    w.raws.append(
        Raw("unhandled-event", (w.state, trigger.name), f"/states/{w.state}", what, w.exact)
    )
    return [w]


def _scopes(
    model: Model, w: _Work, trigger: Trigger, exprs: list[Any]
) -> list[tuple[dict[str, Any], bool]]:
    """Scopes to evaluate `exprs` in: the witness's first, then samples of the cells they read."""
    choices: list[tuple[Var, tuple[Any, ...]]] = []
    local = trigger.local
    for var in model.expression_reads(exprs, trigger.name):
        if var[0] == "data":
            i = model.field_index(var[1])
            cell = model.domains[i].cells[w.cells[i]]
            if cell.kind == "any":
                continue  # one cell: the witness's own value stands for it
            choices.append((var, cell.samples))
        elif local is not None:
            for d, c in zip(local.domains, trigger.variant, strict=True):
                if d.var == var:
                    choices.append((var, d.cells[c].samples))
    base = _scope(w, trigger.payload)
    scopes = [(base, True)]
    if not choices:
        return scopes
    for combo in itertools.islice(itertools.product(*(s for _, s in choices)), MAX_SCOPES):
        data = dict(w.data)
        payload = trigger.payload
        for (var, _), value in zip(choices, combo, strict=True):
            if var[0] == "data":
                data[var[1]] = value
            elif payload is not None:
                payload = put_copy(payload, var[2:], value)
        scope = {**base, "data": data}
        if payload is not None:
            scope["event"] = payload
        scopes.append((scope, False))
    return scopes


def _scope(w: _Work, payload: dict[str, Any] | None) -> dict[str, Any]:
    scope: dict[str, Any] = {"data": w.data, "key": KEY, "state": w.state, "now": Stamp(w.now)}
    if payload is not None:
        scope["event"] = payload
    return scope


def _choose(
    model: Model, w: _Work, candidates: list[dict[str, Any]], trigger: Trigger, what: str
) -> list[_Work]:
    """Branch on which candidate's guard holds first (or none)."""
    scopes = _scopes(model, w, trigger, [c["when"] for c in candidates])
    picks: dict[int, tuple[bool, dict[str, Any]]] = {}
    for scope, exact in scopes:
        held: list[int] = []
        decided = False
        for i, c in enumerate(candidates):
            try:
                ok = True if c["when"] is None else evaluate(c["when"], scope)
            except EvalError:
                ok = UNKNOWN
            if ok is True or ok is UNKNOWN:
                held.append(i)
                if not decided:
                    _pick(picks, i, exact, scope)
                decided = decided or ok is True
        if not decided:
            _pick(picks, -1, exact, scope)
        guarded = [i for i in held if candidates[i]["when"] is not None]
        if len(guarded) > 1:
            ids = (candidates[guarded[0]]["id"], candidates[guarded[1]]["id"])
            w.raws.append(
                Raw("guard-overlap", ids, model_pointer(model, ids[1]), ids[0], exact and w.exact)
            )
        for i in held:
            w.raws.append(Raw("guard-held", (candidates[i]["id"],), "", "", exact))
    out = []
    for i, (exact, scope) in sorted(picks.items()):
        branch = w.fork()
        branch.exact = w.exact and exact
        payload = scope.get("event", trigger.payload)
        if not exact:
            branch.data = dict(scope["data"])
            if branch.payload is None and trigger.name is not None and not branch.reoffered:
                branch.payload = payload
        t = Trigger(trigger.name, trigger.variant, payload, trigger.local)
        if i < 0:
            if what != ALWAYS:
                branch.notes.append(f"no guard held for {what}")
                branch.raws.append(
                    Raw(
                        "guard-gap",
                        (w.state, what),
                        model_pointer(model, candidates[0]["id"]),
                        what,
                        branch.exact,
                    )
                )
            out.append(branch)
            continue
        out.extend(_transition(model, branch, candidates[i], t))
    return out


def _pick(
    picks: dict[int, tuple[bool, dict[str, Any]]], i: int, exact: bool, scope: dict[str, Any]
) -> None:
    if i not in picks or (exact and not picks[i][0]):
        picks[i] = (exact, scope)


def model_pointer(model: Model, transition_id: str) -> str:
    """The IR pointer of a transition, from its id."""
    parts = transition_id.split("/")
    state = parts[0]
    if parts[1] == "on":
        return f"/states/{state}/on/{parts[2]}/{parts[3]}"
    if parts[1] == "always":
        return f"/states/{state}/always/{parts[2]}"
    timers = model.state(state)["timers"]
    index = next(i for i, t in enumerate(timers) if t["id"] == "/".join(parts[:3]))
    return f"/states/{state}/timers/{index}/candidates/{parts[3]}"


# ---------------------------------------------------------------- transitions


def _transition(model: Model, w: _Work, t: dict[str, Any], trigger: Trigger) -> list[_Work]:
    w.taken.append(t["id"])
    out: list[_Work] = []
    pointer = model_pointer(model, t["id"])
    for branch, failed in _actions(model, w, t["actions"], trigger, f"{pointer}/actions"):
        target = t["target"]
        if failed:
            if t["catch"] is None:
                branch.status = "incident"
                branch.notes.append(f"incident in {t['id']}")
                out.append(branch)
                continue
            branch.notes.append(f"catch {t['id']}")
            caught = _actions(
                model, branch, t["catch"]["actions"], trigger, f"{pointer}/catch/actions"
            )
            target = t["catch"]["target"]
            for b, failed_again in caught:
                if failed_again:
                    b.status = "incident"
                    out.append(b)
                else:
                    out.extend(_goto(model, b, target))
            continue
        out.extend(_goto(model, branch, target))
    return out


def _goto(model: Model, w: _Work, target: str | None) -> list[_Work]:
    if w.status != "active" or target is None:
        return [w]
    out: list[_Work] = []
    origin = w.state
    for left, failed in _actions(
        model, w, model.state(origin)["exit"], Trigger(None, (), None), f"/states/{origin}/exit"
    ):
        if failed:
            left.status = "incident"
            out.append(left)
            continue
        left.timers = {}
        left.state = target
        out.extend(_enter(model, left))
    return out


def _enter(model: Model, w: _Work) -> list[_Work]:
    state = model.state(w.state)
    out: list[_Work] = []
    for b, failed in _actions(
        model, w, state["enter"], Trigger(None, (), None), f"/states/{w.state}/enter"
    ):
        if failed:
            b.status = "incident"
        elif b.status == "active" and state["final"]:
            if b.deferred:
                names = ", ".join(sorted({n for n, _, _ in b.deferred}))
                b.raws.append(
                    Raw("work-left", (b.state, names), f"/states/{b.state}", names, b.exact)
                )
            b.status, b.deferred, b.timers = "completed", [], {}
        elif b.status == "active":
            b.timers = {}
            scope = _scope(b, None)
            for timer in state["timers"]:
                if timer["kind"] == "after":
                    b.timers[timer["id"]] = b.now + timer["delay_ms"]
                else:
                    b.timers[timer["id"]] = _due(timer["time"], scope)
        out.append(b)
    return out


def _due(expr: Any, scope: dict[str, Any]) -> int | None:
    try:
        value = evaluate(expr, scope)
        if isinstance(value, str):
            value = parse_stamp(value)
    except EvalError:
        return None
    if isinstance(value, Stamp):
        return value.ms
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _actions(
    model: Model, w: _Work, actions: list[dict[str, Any]], trigger: Trigger, pointer: str
) -> list[tuple[_Work, bool]]:
    """Run actions in order; each call branches into success and failure."""
    todo: list[tuple[_Work, int]] = [(w, 0)]
    done: list[tuple[_Work, bool]] = []
    while todo:
        work, i = todo.pop()
        if i == len(actions) or work.status != "active":
            done.append((work, False))
            continue
        action = actions[i]
        here = f"{pointer}/{i}"
        if action["op"] == "set":
            todo.extend((b, i + 1) for b in _set(model, work, action, trigger, here))
            continue
        for b, failed in _call(model, work, action, trigger):
            if failed:
                done.append((b, True))
            else:
                todo.append((b, i + 1))
    return done


def _set(
    model: Model, w: _Work, action: dict[str, Any], trigger: Trigger, pointer: str
) -> list[_Work]:
    branches = [w]
    for n, assign in enumerate(action["assign"]):
        name = assign["field"]
        index = model.field_index(name)
        domain = model.domains[index]
        schema = model.definition["data"][name]["schema"]
        nxt: list[_Work] = []
        for b in branches:
            results: dict[int, tuple[Any, bool, dict[str, Any], str | None]] = {}
            for scope, exact in _scopes(model, b, trigger, [assign["value"]]):
                try:
                    value = evaluate(assign["value"], scope)
                except EvalError:
                    continue
                if value is UNKNOWN:
                    value = domain.cells[b.cells[index]].samples[0]
                value = _plain(value)
                problem = misfit(value, schema)
                cell = -1 if problem is not None else domain.cell_of(value)
                if cell not in results or (exact and not results[cell][1]):
                    results[cell] = (value, exact, scope, problem)
            _between(domain, results)
            for cell, (value, exact, scope, problem) in sorted(results.items()):
                fork = b.fork()
                fork.exact = b.exact and exact
                if not exact:
                    fork.data = dict(scope["data"])
                    fork.payload = scope.get("event", fork.payload)
                if cell < 0:
                    fork.raws.append(
                        Raw("set-out-of-schema", (pointer, name), f"{pointer}/assign/{n}/value",
                            f"data.{name} = {value!r} {problem}", fork.exact)
                    )  # fmt: skip
                    fork.status = "incident"
                    fork.notes.append(f"data.{name} leaves its schema: incident")
                else:
                    fork.data[name], fork.cells[index] = value, cell
                nxt.append(fork)
        branches = nxt
    return branches


def _between(
    domain: Domain, results: dict[int, tuple[Any, bool, dict[str, Any], str | None]]
) -> None:
    """A number computed from ranges reaches every cell between the ones its samples reached.

    Samples are taken at the ends of each range, and sums and differences of ranges are
    ranges, so the cells in between are possible too (found under the abstraction).
    """
    if domain.type not in ("number", "integer"):
        return
    reached = sorted(c for c in results if c >= 0)
    if len(reached) < 2:
        return
    scope = next(r[2] for r in results.values())
    for cell in range(reached[0] + 1, reached[-1]):
        if cell not in results:
            results[cell] = (domain.cells[cell].samples[0], False, scope, None)


def _plain(value: Any) -> Any:
    if isinstance(value, Stamp):
        return format_stamp(value)
    return value


def _call(
    model: Model, w: _Work, action: dict[str, Any], trigger: Trigger
) -> list[tuple[_Work, bool]]:
    effect = model.definition["effects"][action["effect"]]
    items = 1
    if action.get("for_each") is not None:
        try:
            listed = evaluate(action["for_each"], _scope(w, trigger.payload))
        except EvalError:
            listed = UNKNOWN
        items = len(listed) if isinstance(listed, list) else 1
    out: list[tuple[_Work, bool]] = []
    result = action.get("result")
    if effect["kind"] == "emit" or items == 0:
        ok = w.fork()
        value: Any = [] if action.get("for_each") is not None else None
        if result is not None and effect["kind"] != "emit":
            ok.data[result] = value
            ok.cells[model.field_index(result)] = model.domains[model.field_index(result)].cell_of(
                value
            )
        ok.outcomes.append(Outcome(action["effect"], action["id"], True, value, items))
        return [(ok, False)]
    if result is None:
        ok = w.fork()
        ok.outcomes.append(Outcome(action["effect"], action["id"], True, {}, items))
        out.append((ok, False))
    else:
        index = model.field_index(result)
        for c, cell in enumerate(model.domains[index].cells):
            ok = w.fork()
            value = cell.samples[0]
            ok.data[result], ok.cells[index] = value, c
            per_item = value if action.get("for_each") is None else (value[:1] or [{}])[0]
            ok.outcomes.append(Outcome(action["effect"], action["id"], True, per_item, items))
            ok.notes.append(f"{action['effect']} succeeded")
            out.append((ok, False))
    bad = w.fork()
    bad.outcomes.append(Outcome(action["effect"], action["id"], False, None, items))
    bad.notes.append(f"{action['effect']} failed")
    out.append((bad, True))
    return out


# ---------------------------------------------------------------- settling


def _settle(model: Model, w: _Work, queued: Trigger | None) -> list[_Work]:
    """`always`, then the queued input, then deferred inputs, until the instance waits."""
    if w.status != "active":
        return [w]
    state = model.state(w.state)
    if state["always"]:
        mark = (w.state, tuple(w.cells))
        if mark in w.seen_always or w.always >= model.definition["limits"]["max_always_steps"]:
            w.raws.append(
                Raw("always-loop", (w.state,), f"/states/{w.state}/always/0", w.state, w.exact)
            )
            w.status = "incident"
            w.notes.append("'always' loop: incident")
            return [w]
        w.seen_always.add(mark)
        before = len(w.taken)
        out: list[_Work] = []
        for b in _choose(model, w, state["always"], Trigger(None, (), None), ALWAYS):
            if len(b.taken) > before:
                b.always += 1
                out.extend(_settle(model, b, queued))
            else:
                out.extend(_settle_rest(model, b, queued))
        return out
    return _settle_rest(model, w, queued)


def _settle_rest(model: Model, w: _Work, queued: Trigger | None) -> list[_Work]:
    w.always, w.seen_always = 0, set()
    if queued is not None:
        assert queued.name is not None
        return [
            r
            for b in _offer(model, w, queued, model.inputs[queued.name])
            for r in _settle(model, b, None)
        ]
    state = model.state(w.state)
    for i, (name, _variant, _payload) in enumerate(w.deferred):
        if name in state["defer"] and name not in state["on"]:
            continue
        del w.deferred[i]
        local = model.local(w.state, name)
        out: list[_Work] = []
        for chosen in local.variants:
            branch = w.fork()
            payload = local.payload(chosen)
            described = local.describe(chosen)
            branch.notes.append(f"re-offer {name}" + (f" ({described})" if described else ""))
            branch.reoffered.append((name, payload))
            trigger = Trigger(name, chosen, payload, local)
            out.extend(
                r
                for b in _offer(model, branch, trigger, local.input, reoffer=True)
                for r in _settle(model, b, None)
            )
        return out
    return [w]
