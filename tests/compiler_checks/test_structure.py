"""FY3xx: the shape of the state machine."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Kit


def test_transition_out_of_final_state(kit: Kit) -> None:
    clause = kit.ast.OnClause(
        trigger="Go",
        trigger_span=kit.span(31, 7, 2),
        candidates=(kit.ast.Transition(goto="start"),),
    )
    flow = kit.state(kit.flow(), "done", on=(clause,))
    d = kit.only(kit.check(flow), "FY301")
    assert d.message == "final state 'done' has a transition (`on Go`)"
    assert (d.span.line, d.span.column) == (31, 7)


def test_final_state_may_have_enter_actions(kit: Kit) -> None:
    call = kit.ast.CallAction(effect="work")
    assert kit.check(kit.state(kit.flow(), "done", enter=(call,))) == []


def test_unreachable_state(kit: Kit) -> None:
    flow = kit.flow()
    lost = kit.ast.State(name="lost", final=True, name_span=kit.span(35, 3, 4))
    d = kit.only(kit.check(dataclasses.replace(flow, states=(*flow.states, lost))), "FY302")
    assert d.message == "state 'lost' is unreachable from the initial state 'start'"
    assert (d.span.line, d.span.column) == (35, 3)
    assert not d.is_error


def test_catch_target_is_reachable(kit: Kit) -> None:
    flow = kit.flow()
    failed = kit.ast.State(name="failed", final=True)
    flow = dataclasses.replace(flow, states=(*flow.states, failed))
    transition = kit.ast.Transition(goto="done", catch=kit.ast.Catch(goto="failed"))
    clause = kit.ast.OnClause(trigger="Go", candidates=(transition,))
    flow = kit.state(flow, "start", on=(clause, flow.states[0].on[1]))
    assert "FY302" not in kit.codes(kit.check(flow))


def test_state_without_way_out(kit: Kit) -> None:
    flow = kit.flow()
    clause = kit.ast.OnClause(trigger="Go", candidates=(kit.ast.Transition(goto="stuck"),))
    stuck = kit.ast.State(
        name="stuck",
        name_span=kit.span(36, 3, 5),
        on=(kit.ast.OnClause(trigger="approve", candidates=(kit.ast.Transition(),)),),
    )
    flow = kit.state(flow, "start", on=(clause, flow.states[0].on[1]))
    flow = dataclasses.replace(flow, states=(*flow.states, stuck))
    d = kit.only(kit.check(flow), "FY303")
    assert d.message == (
        "state 'stuck' is not final, but every transition stays in it: instances stay there forever"
    )
    assert d.span.line == 36


def test_state_with_no_transitions(kit: Kit) -> None:
    flow = kit.flow()
    flow = kit.state(flow, "done", final=False)
    d = kit.only(kit.check(flow), "FY303")
    assert "it has no transitions" in d.message
    assert d.hint == "add a transition with `goto` to another state, or mark it `final: true`"


def test_unguarded_candidate_shadows_later_ones(kit: Kit) -> None:
    flow = kit.on_go(
        kit.ast.Transition(goto="done"),
        kit.ast.Transition(when=kit.ast.Literal(value=True), goto="done", span=kit.span(27, 11, 4)),
    )
    d = kit.only(kit.check(flow), "FY304")
    assert d.message == (
        "this candidate of `on Go` in state 'start' never runs: "
        "candidate 1 has no guard and always matches first"
    )
    assert (d.span.line, d.span.column) == (27, 11)


def test_guarded_candidates_do_not_shadow(kit: Kit) -> None:
    guard = kit.ast.Binary(
        op=">", left=kit.expr_field("event", "amount"), right=kit.ast.Literal(value=3)
    )
    flow = kit.on_go(kit.ast.Transition(when=guard, goto="done"), kit.ast.Transition(goto="done"))
    assert kit.codes(kit.check(flow)) == ["FY307"]  # only: effect work is no longer called


def _always_flow(kit: Kit, *, guard: bool) -> object:
    flow = kit.flow()
    when = kit.ast.Binary(
        op=">", left=kit.expr_field("data", "total"), right=kit.ast.Literal(value=1)
    )
    a = kit.ast.State(
        name="a",
        always=(kit.ast.Transition(goto="b", goto_span=kit.span(40, 15, 1)),),
        name_span=kit.span(39, 3, 1),
    )
    b = kit.ast.State(
        name="b",
        always=(
            kit.ast.Transition(when=when if guard else None, goto="a"),
            kit.ast.Transition(goto="done"),
        ),
    )
    clause = kit.ast.OnClause(trigger="Go", candidates=(kit.ast.Transition(goto="a"),))
    flow = kit.state(flow, "start", on=(clause, flow.states[0].on[1]))
    return dataclasses.replace(flow, states=(*flow.states, a, b))


def test_always_cycle_without_guard(kit: Kit) -> None:
    diags = kit.check(_always_flow(kit, guard=False))  # type: ignore[arg-type]
    d = kit.only(diags, "FY305")
    assert d.message == "`always` transitions loop forever without a guard: a -> b -> a"
    assert (d.span.line, d.span.column) == (40, 15)
    assert d.is_error


def test_always_cycle_with_a_guard_is_fine(kit: Kit) -> None:
    diags = kit.check(_always_flow(kit, guard=True))  # type: ignore[arg-type]
    assert "FY305" not in kit.codes(diags)


def test_always_to_itself(kit: Kit) -> None:
    loop = kit.ast.Transition(goto="start", span=kit.span(21, 7, 4))
    d = kit.only(kit.check(kit.state(kit.flow(), "start", always=(loop,))), "FY305")
    assert d.message.endswith("start -> start")


def test_handled_and_deferred(kit: Kit) -> None:
    ref = kit.ast.Ref(name="approve", span=kit.span(28, 14, 7))
    d = kit.only(kit.check(kit.state(kit.flow(), "start", defer=(ref,))), "FY306")
    assert d.message == "'approve' is both handled and deferred in state 'start'"
    assert (d.span.line, d.span.column) == (28, 14)
    assert not d.is_error
