"""FY2xx: duplicate names and references to undeclared things; FY307: unused declarations."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Kit


def test_base_flow_is_clean(kit: Kit) -> None:
    assert kit.check(kit.flow()) == []


def test_duplicate_state(kit: Kit) -> None:
    flow = kit.flow()
    copy = dataclasses.replace(flow.states[1], name_span=kit.span(33, 3, 4))
    d = kit.only(kit.check(dataclasses.replace(flow, states=(*flow.states, copy))), "FY201")
    assert (d.span.line, d.span.column) == (33, 3)
    assert d.message == "state 'done' is declared twice"
    assert d.hint is not None and "line 30" in d.hint


def test_duplicate_data_field(kit: Kit) -> None:
    flow = kit.flow()
    again = dataclasses.replace(flow.data[0], name_span=kit.span(19, 3, 5))
    d = kit.only(kit.check(dataclasses.replace(flow, data=(*flow.data, again))), "FY201")
    assert d.message == "data field 'total' is declared twice"
    assert d.span.line == 19


def test_event_and_signal_share_a_namespace(kit: Kit) -> None:
    flow = kit.flow()
    signal = kit.ast.SignalDecl(name="Go", name_span=kit.span(9, 3, 2))
    diags = kit.check(dataclasses.replace(flow, signals=(*flow.signals, signal)))
    d = kit.only(diags, "FY201")
    assert d.message == "'Go' is both an event and a signal"
    assert (d.span.line, d.span.column) == (9, 3)


def test_goto_unknown_state_suggests_a_name(kit: Kit) -> None:
    flow = kit.on_go(kit.ast.Transition(goto="dnoe", goto_span=kit.span(26, 15, 4)))
    d = kit.only(kit.check(flow), "FY202")
    assert d.message == "`goto` names an unknown state 'dnoe'"
    assert (d.span.line, d.span.column, d.span.end_column) == (26, 15, 19)
    assert d.hint == "did you mean 'done'?"


def test_catch_goto_unknown_state(kit: Kit) -> None:
    catch = kit.ast.Catch(goto="nowhere", goto_span=kit.span(27, 20, 7))
    flow = kit.on_go(kit.ast.Transition(goto="done", catch=catch))
    d = kit.only(kit.check(flow), "FY202")
    assert d.span.line == 27
    assert d.hint == "declared states: done, start"


def test_initial_unknown(kit: Kit) -> None:
    d = kit.only(kit.check(kit.flow(initial="strat")), "FY203")
    assert d.message == "initial state 'strat' is not declared"
    assert (d.span.line, d.span.column) == (18, 10)
    assert d.hint == "did you mean 'start'?"


def test_initial_missing(kit: Kit) -> None:
    d = kit.only(kit.check(kit.flow(initial="")), "FY203")
    assert d.message == "the flow has no initial state"
    assert d.hint == "add `initial: start` (or another state)"


def test_on_unknown_trigger(kit: Kit) -> None:
    flow = kit.flow()
    clause = kit.ast.OnClause(
        trigger="Goo", trigger_span=kit.span(23, 7, 3), candidates=(kit.ast.Transition(),)
    )
    flow = kit.state(flow, "start", on=(*flow.states[0].on, clause))
    d = kit.only(kit.check(flow), "FY204")
    assert d.message == "`on` names an unknown event or signal 'Goo'"
    assert (d.span.line, d.span.column) == (23, 7)
    assert d.hint == "did you mean 'Go'?"


def test_call_unknown_effect(kit: Kit) -> None:
    call = kit.ast.CallAction(effect="wrok", effect_span=kit.span(24, 17, 4))
    flow = kit.on_go(kit.ast.Transition(actions=(call,), goto="done"))
    diags = kit.check(flow)
    d = kit.only(diags, "FY205")
    assert d.message == "`call` of unknown effect 'wrok'"
    assert (d.span.line, d.span.column) == (24, 17)
    assert d.hint == "did you mean 'work'?"
    # The effect the typo meant is not also reported as never called: one typo, one error.
    assert [d.code for d in diags] == ["FY205"]


def test_set_undeclared_data(kit: Kit) -> None:
    action = kit.ast.SetAction(
        assignments=(("totl", kit.ast.Literal(value=1)),), span=kit.span(25, 11, 20)
    )
    flow = kit.on_go(kit.ast.Transition(actions=(action,), goto="done"))
    d = kit.only(kit.check(flow), "FY206")
    assert d.message == "`set` of undeclared data field 'totl'"
    assert (d.span.line, d.span.column) == (25, 11)
    assert d.hint == "did you mean 'total'?"


def test_defer_undeclared_event(kit: Kit) -> None:
    ref = kit.ast.Ref(name="Later", span=kit.span(28, 14, 5))
    d = kit.only(kit.check(kit.state(kit.flow(), "start", defer=(ref,))), "FY207")
    assert d.message == "state 'start' defers 'Later', which the flow does not declare"
    assert (d.span.line, d.span.column) == (28, 14)


def test_result_into_undeclared_data(kit: Kit) -> None:
    call = kit.ast.CallAction(effect="work", result="reslt", span=kit.span(24, 11, 30))
    flow = kit.on_go(kit.ast.Transition(actions=(call,), goto="done"))
    d = kit.only(kit.check(flow), "FY208")
    assert d.message == "`result` goes into undeclared data field 'reslt'"
    assert d.span.line == 24


def test_unused_event_and_signal(kit: Kit) -> None:
    flow = kit.flow()
    flow = kit.state(flow, "start", on=flow.states[0].on[:1])
    flow = dataclasses.replace(flow, events=(*flow.events, kit.event("Idle")))
    diags = [d for d in kit.check(flow) if d.code == "FY307"]
    assert [d.message for d in diags] == [
        "event 'Idle' is declared but never used",
        "signal 'approve' is declared but never used",
    ]
    assert not any(d.is_error for d in diags)
