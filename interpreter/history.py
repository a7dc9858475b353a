"""An instance's history: a readable timeline built from its journal.

Each journal entry is one input applied and the trace and commands of that
step. The timeline turns them into items people read: the input and where it
came from, transitions (from -> to, trigger, which guarded candidate was
taken), data changes as JSON-pointer diffs, effect calls with each attempt
(duration, outcome, error, idempotency key), timers armed, fired and
cancelled, deferred and ignored inputs, emits, incidents and operator actions.
Every item carries the journal `seq` it belongs to and a time.

States and data come from replaying the journal through `step` (the same fold
`flowd verify` does). If a replay cannot be made (the IR is not stored, an env
variable the flow reads is missing, the replay diverges), the timeline still
shows everything the journal says and notes where the replay stopped; only
data diffs are missing from then on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .core import step
from .expr_values import Timestamp, format_timestamp
from .model import Instance, input_from_json
from .program import Program, ProgramError
from .replay import trace_from_json
from .store import EffectAttempt, JournalEntry, Store

ProgramLookup = Callable[[str], Program | None]
"""The program of an IR hash, or None when it is not known."""

DEFAULT_PAGE = 100
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryItem:
    """One thing that happened to an instance: `kind` names it, `summary` says
    it in a line, `detail` holds its fields for scripts."""

    seq: int
    at_ms: int
    kind: str
    summary: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The item as the API and `flowd show --format json` give it."""
        return {
            "seq": self.seq,
            "at": iso(self.at_ms),
            "at_ms": self.at_ms,
            "kind": self.kind,
            "summary": self.summary,
            **self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryPage:
    """The items of journal entries `after_seq + 1 ...`; `next_after_seq` pages on
    (None on the last page)."""

    flow: str
    key: str
    items: tuple[HistoryItem, ...]
    next_after_seq: int | None
    journal_length: int
    replay_problem: str | None = None
    """Why the journal could not be replayed (then data diffs are missing)."""

    def to_json(self) -> dict[str, Any]:
        """The page as `GET /instances/{flow}/{key}/history` answers it."""
        return {
            "flow": self.flow,
            "key": self.key,
            "journal_length": self.journal_length,
            "replay_problem": self.replay_problem,
            "next_after_seq": self.next_after_seq,
            "items": [item.to_json() for item in self.items],
        }


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as RFC 3339 UTC (None stays None)."""
    return None if ms is None else format_timestamp(Timestamp(ms))


# ---------------------------------------------------------------- reading


async def instance_history(
    store: Store,
    flow: str,
    key: str,
    programs: ProgramLookup,
    *,
    env: Mapping[str, str] | None = None,
    after_seq: int = -1,
    limit: int = DEFAULT_PAGE,
) -> HistoryPage | None:
    """The timeline of journal entries after `after_seq`, at most `limit` of them;
    None when the instance does not exist."""
    row = await store.load_instance(flow, key)
    if row is None:
        return None
    journal = await store.journal(flow, key)
    page = [e for e in journal if e.seq > after_seq][:limit]
    attempts: dict[str, list[EffectAttempt]] = {}
    for entry in page:
        for command in _commands(entry):
            if command.get("kind") == "run_effect":
                call_id = str(command["call_id"])
                attempts[call_id] = await store.attempts(call_id)
    program = programs(row.ir_hash)
    builder = _Timeline(flow, key, program, env, attempts)
    if program is None:
        builder.replay_stopped(0, journal[0].at_ms if journal else 0, "its IR is not loaded")
    items: list[HistoryItem] = []
    last = page[-1].seq if page else after_seq
    for entry in journal:
        if entry.seq > last:
            break
        # Entries before the page are walked too: states and data come from them.
        produced = list(builder.entry(entry))
        if entry.seq > after_seq:
            items.extend(produced)
    more = bool(journal) and journal[-1].seq > last
    return HistoryPage(
        flow=flow,
        key=key,
        items=tuple(items),
        next_after_seq=last if more else None,
        journal_length=len(journal),
        replay_problem=None if builder.stopped is None else builder.stopped.detail["replay"],
    )


def _commands(entry: JournalEntry) -> list[dict[str, Any]]:
    trace = entry.trace
    commands = trace.get("commands") if isinstance(trace, Mapping) else None
    return [c for c in commands or [] if isinstance(c, dict)]


# ---------------------------------------------------------------- building


class _Timeline:
    """Walks the journal in order, keeping the replayed instance and the state."""

    def __init__(
        self,
        flow: str,
        key: str,
        program: Program | None,
        env: Mapping[str, str] | None,
        attempts: Mapping[str, Sequence[EffectAttempt]],
    ) -> None:
        self.flow = flow
        self.key = key
        self.program = program
        self.env = env
        self.attempts = attempts
        self.instance: Instance | None = None
        # A new instance starts from the defaults: its first diff shows what the step set.
        self.defaults: dict[str, Any] = dict(program.data_defaults) if program else {}
        self.state: str | None = None
        self.open_transition: tuple[str, str] | None = None  # (id, from state)
        self.stopped: HistoryItem | None = None

    def replay_stopped(self, seq: int, at_ms: int, why: str) -> None:
        self.program = None
        self.stopped = HistoryItem(
            seq=seq,
            at_ms=at_ms,
            kind="note",
            summary=f"no data changes from here on: the journal could not be replayed ({why})",
            detail={"replay": why},
        )

    def entry(self, entry: JournalEntry) -> Iterator[HistoryItem]:
        seq, at = entry.seq, entry.at_ms
        inp = dict(entry.input)
        before = self.instance
        after = self._replay(entry)
        if self.stopped is not None and self.stopped.seq == seq:
            yield self.stopped
        yield _input_item(seq, at, inp)
        trigger = _trigger(inp)
        for line in trace_from_json(entry.trace):
            yield from self._trace_line(seq, at, line, trigger)
        if after is not None and (before is None or before.data != after.data):
            changes = json_diff(before.data if before else self.defaults, after.data)
            if changes:
                yield HistoryItem(
                    seq=seq,
                    at_ms=at,
                    kind="data",
                    summary="data " + ", ".join(_change_text(c) for c in changes),
                    detail={"changes": changes},
                )
        for command in _commands(entry):
            yield from self._command(seq, at, command)

    def _replay(self, entry: JournalEntry) -> Instance | None:
        if self.program is None:
            return None
        try:
            result = step(
                self.program,
                self.instance,
                input_from_json(dict(entry.input)),
                key=self.key,
                env=self.env,
            )
        except (ProgramError, ValueError, KeyError, TypeError) as exc:
            self.replay_stopped(entry.seq, entry.at_ms, f"{type(exc).__name__}: {exc}")
            return None
        if result.trace != trace_from_json(entry.trace):
            self.replay_stopped(entry.seq, entry.at_ms, f"the replay diverged at seq {entry.seq}")
            return None
        self.instance = result.instance
        return result.instance

    def _trace_line(self, seq: int, at: int, line: str, trigger: str) -> Iterator[HistoryItem]:
        word, _, rest = line.partition(" ")
        if word == "create":
            self.state = rest
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="created",
                summary=f"created in {rest}",
                detail={"state": rest},
            )
        elif word == "transition":
            origin = self.state or "?"
            self.open_transition = (rest, origin)
            candidate = rest.rsplit("/", 1)[-1]
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="transition",
                summary=f"{origin} ─{trigger}→ (transition {rest}, candidate {candidate})",
                detail={
                    "transition": rest,
                    "from": origin,
                    "trigger": trigger,
                    "candidate": int(candidate) if candidate.isdigit() else candidate,
                },
            )
        elif word == "enter":
            left: str | None = self.state
            transition: str | None = None
            if self.open_transition is not None:
                transition, left = self.open_transition
                self.open_transition = None
            self.state = rest
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="entered",
                summary=f"{left or '?'} → {rest}",
                detail={"from": left, "to": rest, "transition": transition},
            )
        elif word in ("ignored", "deferred", "re-offer", "catch"):
            kind = {"re-offer": "re_offered", "catch": "caught"}.get(word, word)
            yield HistoryItem(seq=seq, at_ms=at, kind=kind, summary=line, detail={"what": rest})
        elif word in ("completed", "cancelled", "retry", "incident"):
            if word != "retry":
                self.open_transition = None
            kind = {"retry": "retried"}.get(word, word)
            yield HistoryItem(seq=seq, at_ms=at, kind=kind, summary=line, detail={})
        elif word == "callback" and rest.startswith("timeout "):
            call_id = rest.removeprefix("timeout ")
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="callback_timeout",
                summary=f"callback of {call_id} timed out",
                detail={"call_id": call_id},
            )
        # "action", "result", "accepted" and "failed" lines are told by the
        # input and command items of the same entry.

    def _command(self, seq: int, at: int, command: Mapping[str, Any]) -> Iterator[HistoryItem]:
        kind = command.get("kind")
        if kind == "run_effect":
            yield from self._effect(seq, at, command)
        elif kind == "arm_timer":
            due = int(command["due_ms"])
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="timer_armed",
                summary=f"timer {command['timer_id']} armed, due {iso(due)}",
                detail={"timer_id": command["timer_id"], "due": iso(due)},
            )
        elif kind == "cancel_timer":
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="timer_cancelled",
                summary=f"timer {command['timer_id']} cancelled",
                detail={"timer_id": command["timer_id"]},
            )
        elif kind == "emit":
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="emitted",
                summary=f"emitted to {command['topic']} (key {command.get('key')})",
                detail={
                    "topic": command["topic"],
                    "key": command.get("key"),
                    "value": command.get("value"),
                    "dedup_key": command.get("dedup_key"),
                },
            )
        elif kind == "await_callback":
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="awaiting_callback",
                summary=f"awaiting the callback of {command['call_id']}",
                detail={"call_id": command["call_id"], "timeout_ms": command.get("timeout_ms")},
            )
        elif kind == "incident":
            yield HistoryItem(
                seq=seq,
                at_ms=at,
                kind="incident_raised",
                summary=f"incident: {command.get('reason')}",
                detail={"reason": command.get("reason")},
            )

    def _effect(self, seq: int, at: int, command: Mapping[str, Any]) -> Iterator[HistoryItem]:
        call_id = str(command["call_id"])
        effect = command.get("effect")
        key = command.get("idempotency_key")
        yield HistoryItem(
            seq=seq,
            at_ms=at,
            kind="effect_called",
            summary=f"call {effect} (idempotency key {key})",
            detail={
                "call_id": call_id,
                "effect": effect,
                "args": command.get("args"),
                "idempotency_key": key,
            },
        )
        for attempt in self.attempts.get(call_id, ()):
            duration = (
                None if attempt.finished_ms is None else attempt.finished_ms - attempt.started_ms
            )
            outcome = attempt.outcome or "running"
            text = f"attempt {attempt.attempt} of {effect}: {outcome}"
            if duration is not None:
                text += f" in {duration}ms"
            if attempt.error:
                text += f": {attempt.error}"
            yield HistoryItem(
                seq=seq,
                at_ms=attempt.started_ms,
                kind="effect_attempt",
                summary=text,
                detail={
                    "call_id": call_id,
                    "effect": effect,
                    "attempt": attempt.attempt,
                    "outcome": outcome,
                    "duration_ms": duration,
                    "error": attempt.error,
                    "idempotency_key": attempt.idempotency_key,
                },
            )


def _trigger(inp: Mapping[str, Any]) -> str:
    kind = inp.get("kind")
    if kind in ("event", "signal"):
        return str(inp.get("name"))
    if kind == "timer":
        return f"timer {inp.get('timer_id')}"
    if kind == "effect_result":
        return f"result of {inp.get('call_id')}"
    return str(kind)


def _input_item(seq: int, at: int, inp: Mapping[str, Any]) -> HistoryItem:
    kind = inp.get("kind")
    detail: dict[str, Any] = {"input": kind}
    if kind == "event":
        meta = inp.get("meta") or {}
        source = {
            k: meta.get(k) for k in ("topic", "partition", "offset") if meta.get(k) is not None
        }
        detail |= {"name": inp.get("name"), "source": source, "payload": inp.get("payload")}
        where = f" from {source['topic']}" if "topic" in source else ""
        if "offset" in source:
            where += f" (partition {source.get('partition')}, offset {source['offset']})"
        summary = f"event {inp.get('name')}{where}"
    elif kind == "signal":
        detail |= {"name": inp.get("name"), "payload": inp.get("payload")}
        summary = f"signal {inp.get('name')}"
    elif kind == "timer":
        detail |= {"timer_id": inp.get("timer_id")}
        summary = f"timer {inp.get('timer_id')} fired"
    elif kind == "effect_result":
        detail |= {
            "call_id": inp.get("call_id"),
            "ok": inp.get("ok"),
            "value": inp.get("value"),
            "error": inp.get("error"),
            "phase": inp.get("phase", "call"),
        }
        verdict = "succeeded" if inp.get("ok") else f"failed: {inp.get('error')}"
        via = " (callback)" if inp.get("phase") == "callback" else ""
        summary = f"result of {inp.get('call_id')}{via}: {verdict}"
    elif kind == "retry_incident":
        summary = "operator: retry the incident"
    elif kind == "cancel":
        detail |= {"reason": inp.get("reason", "")}
        summary = f"operator: cancel ({inp.get('reason') or 'no reason given'})"
    else:
        summary = f"input {kind}"
    return HistoryItem(seq=seq, at_ms=at, kind="input", summary=summary, detail=detail)


# ---------------------------------------------------------------- data diffs


def json_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """The changes from `old` to `new`: objects are compared field by field, down
    to the values that differ; each change is `{op, path, old?, new?}` with a
    JSON pointer `path` and `op` one of add, remove, replace."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for name in sorted(set(old) | set(new), key=str):
            here = f"{path}/{_escape(str(name))}"
            if name not in old:
                changes.append({"op": "add", "path": here, "new": new[name]})
            elif name not in new:
                changes.append({"op": "remove", "path": here, "old": old[name]})
            else:
                changes.extend(json_diff(old[name], new[name], here))
        return changes
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": path or "/", "old": old, "new": new}]


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _change_text(change: Mapping[str, Any]) -> str:
    op, path = change["op"], change["path"]
    if op == "add":
        return f"+{path}={_short(change['new'])}"
    if op == "remove":
        return f"-{path}"
    return f"{path}: {_short(change['old'])} → {_short(change['new'])}"


def _short(value: Any, width: int = 40) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- programs


async def programs_in_store(store: Store) -> ProgramLookup:
    """A lookup over the IR versions kept in `store` (for reading a store directly)."""
    programs: dict[str, Program] = {}
    for stored in await store.load_irs():
        try:
            programs[stored.hash] = Program.from_ir(stored.ir)
        except ProgramError:
            continue
    return programs.get


def render_text(page: Mapping[str, Any]) -> str:
    """A history page in its JSON form (`HistoryPage.to_json`, or the API's
    answer) as lines for a terminal: seq, time, kind, what happened."""
    lines = [f"{page['flow']} {page['key']}: {page['journal_length']} journal entries"]
    if page.get("replay_problem"):
        lines.append(f"  (no data changes shown: {page['replay_problem']})")
    for item in page["items"]:
        when = str(item.get("at") or "").replace("T", " ").rstrip("Z")
        lines.append(f"  #{item['seq']:<4} {when:<23}  {item['kind']:<17} {item['summary']}")
    after = page.get("next_after_seq")
    if after is not None:
        lines.append(f"  … more after seq {after}: add --after {after}")
    return "\n".join(lines) + "\n"
