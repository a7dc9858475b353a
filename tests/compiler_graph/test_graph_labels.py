"""Awkward labels, unusual names and the less common transition kinds."""

from __future__ import annotations

import html
import json
import re
import shutil
from typing import Any

import pytest
from flowyard.compiler.graph import dot_to_svg, render_graph
from flowyard.compiler.graph_dot import dot_string, html_text
from flowyard.compiler.graph_mermaid import mermaid_text

AWKWARD = 'say "hi" #1; a: [b] {c} <d> & e %% f `g` | h \\ i'

# The label characters that Mermaid's state-diagram syntax would misread.
MERMAID_UNSAFE = set('#"&;:<>[]{}%`|\\\n')


def transition(
    tid: str,
    target: str | None,
    *,
    when: dict[str, Any] | None = None,
    actions: list[dict[str, Any]] | None = None,
    catch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"id": tid, "when": when, "actions": actions or [], "target": target, "catch": catch}


def state(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "final": False,
        "enter": [],
        "exit": [],
        "on": {},
        "timers": [],
        "always": [],
        "defer": [],
    }
    return {**base, **fields}


def flow_ir(states: dict[str, Any], *, initial: str, **definition: Any) -> dict[str, Any]:
    return {
        "ir_version": 1,
        "flow": "tiny flow",
        "version": 3,
        "hash": "sha256:" + "0" * 64,
        "definition": {
            "description": None,
            "key": None,
            "events": {},
            "signals": {},
            "effects": {},
            "data": {},
            "initial": initial,
            "states": states,
            "limits": {"max_always_steps": 100},
            **definition,
        },
    }


def guard_equals(text: str) -> dict[str, Any]:
    return {
        "op": "binary",
        "operator": "==",
        "left": {"op": "field", "target": {"op": "name", "name": "event"}, "name": "note"},
        "right": {"op": "lit", "value": text},
    }


def awkward_ir() -> dict[str, Any]:
    odd = 'odd "state" #2'
    return flow_ir(
        {
            "start": state(
                on={"Note": [transition("start/on/Note/0", odd, when=guard_equals(AWKWARD))]}
            ),
            odd: state(final=True),
        },
        initial="start",
    )


def mermaid_label_parts(text: str) -> list[str]:
    """The text Mermaid reads as labels: after ` : ` and inside `state "..."`."""
    parts = re.findall(r'^\s*state "(.*)" as \w+$', text, flags=re.MULTILINE)
    parts += re.findall(r"^\s*\S+(?: --> \S+)? : (.*)$", text, flags=re.MULTILINE)
    return parts


def test_mermaid_text_escapes_every_special_character() -> None:
    escaped = mermaid_text(AWKWARD)
    assert not set(escaped.replace("#", "").replace(";", "")) & (MERMAID_UNSAFE - {"#", ";"})
    assert re.sub(r"#(\d+);", lambda m: chr(int(m[1])), escaped) == AWKWARD
    assert mermaid_text("a\nb") == "a b"


def test_awkward_labels_in_mermaid() -> None:
    text = render_graph(awkward_ir(), "mermaid")
    labels = mermaid_label_parts(text)
    for label in labels:
        assert not set(re.sub(r"#\d+;", "", label)) & MERMAID_UNSAFE, label
    decoded = [re.sub(r"#(\d+);", lambda m: chr(int(m[1])), label) for label in labels]
    assert 'odd "state" #2' in decoded
    quoted = AWKWARD.replace("\\", "\\\\").replace("'", "\\'")
    assert f"Note [event.note == '{quoted}']" in decoded
    # The odd state name still gets an identifier Mermaid accepts.
    assert "s_start --> s_odd__state___2 : " in text


def test_dot_string_and_html_escaping() -> None:
    assert dot_string('a "b" \\n c\nd') == '"a \\"b\\" \\\\n c\\nd"'
    assert html_text('<b> & "c"') == "&lt;b&gt; &amp; &quot;c&quot;"


def test_awkward_labels_in_dot_source() -> None:
    text = render_graph(awkward_ir(), "dot")
    assert "<B>odd &quot;state&quot; #2</B>" in text
    assert text.startswith('digraph "tiny flow" {')


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_awkward_labels_survive_graphviz() -> None:
    svg = dot_to_svg(render_graph(awkward_ir(), "dot"))
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    quoted = AWKWARD.replace("\\", "\\\\").replace("'", "\\'")
    assert f"Note [event.note == '{quoted}']" in texts
    assert 'odd "state" #2' in texts


def kinds_ir() -> dict[str, Any]:
    """Always, `at` timers, signals, for_each, catch that stays, exit actions, callbacks."""
    data_n = {"op": "field", "target": {"op": "name", "name": "data"}, "name": "n"}
    deliver = {
        "id": "busy/on/Go/0/do/0",
        "op": "call",
        "effect": "deliver",
        "args": None,
        "result": "out",
        "for_each": {"op": "field", "target": {"op": "name", "name": "data"}, "name": "subs"},
        "concurrency": 50,
    }
    bump = {
        "id": "busy/on/Go/0/catch/0",
        "op": "set",
        "assign": [
            {
                "field": "n",
                "value": {
                    "op": "binary",
                    "operator": "+",
                    "left": data_n,
                    "right": {"op": "lit", "value": 1},
                },
            }
        ],
    }
    return flow_ir(
        {
            "busy": state(
                exit=[
                    {
                        "id": "busy/exit/0",
                        "op": "set",
                        "assign": [{"field": "n", "value": {"op": "lit", "value": 0}}],
                    }
                ],
                on={
                    "Go": [
                        transition(
                            "busy/on/Go/0",
                            "done",
                            actions=[deliver],
                            catch={"actions": [bump], "target": None},
                        )
                    ],
                    "poke": [transition("busy/on/poke/0", None)],
                },
                timers=[
                    {
                        "id": "busy/at/0",
                        "kind": "at",
                        "time": {
                            "op": "call",
                            "function": "timestamp",
                            "args": [
                                {
                                    "op": "field",
                                    "target": {"op": "name", "name": "data"},
                                    "name": "due",
                                }
                            ],
                        },
                        "candidates": [transition("busy/at/0/0", "done")],
                    }
                ],
                always=[
                    transition(
                        "busy/always/0",
                        "done",
                        when={
                            "op": "binary",
                            "operator": ">=",
                            "left": data_n,
                            "right": {"op": "lit", "value": 3},
                        },
                    )
                ],
            ),
            "done": state(final=True),
        },
        initial="busy",
        signals={"poke": {"schema": None, "topic": None, "key": None}},
        effects={
            "deliver": {
                "kind": "http",
                "timeout_ms": 5000,
                "retry": {"attempts": 8},
                "callback": {"timeout_ms": 3_600_000},
            }
        },
    )


def test_less_common_kinds_in_mermaid() -> None:
    text = render_graph(kinds_ir(), "mermaid")
    decoded = re.sub(r"#(\d+);", lambda m: chr(int(m[1])), text)
    run = "run_t_busy_on_Go_0"
    assert f"s_busy --> {run} : Go / call deliver for each data.subs" in decoded
    assert (
        f"{run} : http, for each data.subs (50 at a time), 8 attempts, timeout 5s, callback ≤ 1h"
    ) in decoded
    assert f"{run} --> s_busy : ⚠ catch / set n = data.n + 1 (stay)" in decoded
    assert "s_busy --> s_busy : signal poke (stay)" in decoded
    assert "s_busy --> s_done : ◷ at timestamp(data.due)" in decoded
    assert "s_busy --> s_done : always [data.n >= 3]" in decoded
    assert "s_busy : exit / set n = 0" in decoded


def test_less_common_kinds_in_dot_and_json() -> None:
    ir = kinds_ir()
    dot = render_graph(ir, "dot")
    always = next(line for line in dot.splitlines() if "always [data.n >= 3]" in line)
    assert 'color="#b35900"' in always
    doc = json.loads(render_graph(ir, "json"))
    kinds = [(e["kind"], e["from"], e["to"], e["stay"]) for e in doc["edges"]]
    assert kinds == [
        ("event", "busy", "done", False),
        ("catch", "busy", "busy", True),
        ("signal", "busy", "busy", True),
        ("timer", "busy", "done", False),
        ("always", "busy", "done", False),
    ]
    assert doc["edges"][0]["effects"][0]["callback_timeout_ms"] == 3_600_000
    assert doc["edges"][3]["timer"] == {
        "id": "busy/at/0",
        "kind": "at",
        "delay_ms": None,
        "time": "timestamp(data.due)",
    }
    assert doc["edges"][0]["source"] is None


def test_long_values_are_shortened_but_guards_are_not() -> None:
    long_text = "x" * 80
    ir = flow_ir(
        {
            "a": state(
                on={
                    "E": [
                        transition(
                            "a/on/E/0",
                            None,
                            when=guard_equals(long_text),
                            actions=[
                                {
                                    "id": "a/on/E/0/do/0",
                                    "op": "set",
                                    "assign": [
                                        {"field": "f", "value": {"op": "lit", "value": long_text}}
                                    ],
                                }
                            ],
                        )
                    ]
                }
            )
        },
        initial="a",
    )
    label = json.loads(render_graph(ir, "json"))["edges"][0]["label"]
    assert f"[event.note == '{long_text}']" in label
    assert "set f = '" + "x" * 38 + "…" in label


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown graph format"):
        render_graph(kinds_ir(), "png")  # type: ignore[arg-type]


def test_transition_to_undeclared_state_is_rejected() -> None:
    ir = flow_ir({"a": state(on={"E": [transition("a/on/E/0", "nowhere")]})}, initial="a")
    with pytest.raises(ValueError, match="undeclared state 'nowhere'"):
        render_graph(ir, "mermaid")
