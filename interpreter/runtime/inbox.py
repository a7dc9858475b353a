"""Each key's inbox rows, kept in memory so a step does not read them back from SQLite.

Ingest knows the rows it stored (their ids come back from the store), so it
hands them over with `add`. Anything that puts input in an inbox without
handing the rows over (a timer firing, a delayed event falling due, rows left
by an earlier run, found at start-up) calls `mark_stale`, and the key's next
`ready` merges what the store holds. So, for a key not marked stale, memory
holds every row the store holds. Rows are removed once the commit that
consumed them is durable. The store stays the truth: a row in memory but gone
from the store makes the commit fail with a conflict, and the stepper then
calls `forget` and reloads. A write of inbox rows in progress is announced
with `expect`, so no input is stepped on arrival ahead of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from ..model import Input, input_from_json
from ..store import InboxRow, Store

KeyId = tuple[str, str]


class QueuedInput:
    """An inbox row and its input, parsed once."""

    __slots__ = ("input", "row")

    def __init__(self, row: InboxRow, inp: Input | None) -> None:
        self.row = row
        self.input = inp
        """None when the stored JSON is not an input (the row is skipped, and logged)."""


def queued(row: InboxRow) -> QueuedInput:
    """Parse `row` once for the queue."""
    try:
        inp: Input | None = input_from_json(row.input)
    except (KeyError, TypeError, ValueError):
        inp = None
    return QueuedInput(row, inp)


class InboxCache:
    """Inbox rows per key, in arrival (id) order."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: dict[KeyId, dict[int, QueuedInput]] = {}
        self._stale: set[KeyId] = set()
        self._incoming: Counter[KeyId] = Counter()
        self._watchers: list[Callable[[Sequence[int]], None]] = []

    def watch(self, watcher: Callable[[Sequence[int]], None]) -> None:
        """Call `watcher` with the ids of rows applied (durably), whenever some are."""
        self._watchers.append(watcher)

    def holds_row(self, kid: KeyId, row_id: int) -> bool:
        """Whether row `row_id` of `kid` is held here (stored, not yet applied)."""
        return row_id in self._rows.get(kid, {})

    def add(self, kid: KeyId, rows: Iterable[QueuedInput]) -> None:
        """Rows just made durable in `kid`'s inbox."""
        held = self._rows.setdefault(kid, {})
        for q in rows:
            held[q.row.id] = q

    def mark_stale(self, kid: KeyId) -> None:
        """The store may hold rows of `kid` this cache has not seen."""
        self._stale.add(kid)

    def holds(self, kid: KeyId) -> bool:
        """Whether `kid` may have rows in its inbox (held here, only in the store,
        or on their way there)."""
        return kid in self._rows or kid in self._stale or kid in self._incoming

    def expect(self, kids: Iterable[KeyId]) -> None:
        """Rows for `kids` are being written (`arrived` follows, stored or not)."""
        self._incoming.update(kids)

    def arrived(self, kids: Iterable[KeyId]) -> None:
        """The write announced by `expect(kids)` is over."""
        kids = list(kids)
        self._incoming.subtract(kids)
        for kid in set(kids):
            if self._incoming[kid] <= 0:
                del self._incoming[kid]

    def forget(self, kid: KeyId) -> None:
        """Drop what is held for `kid`; the next `ready` reads the store."""
        self._rows.pop(kid, None)
        self._stale.add(kid)

    def drop_where(self, which: Callable[[KeyId], bool]) -> None:
        """Drop what is held for the keys for which `which` is true (another
        process steps them now)."""
        for kid in [k for k in self._rows if which(k)]:
            del self._rows[kid]
        self._stale.difference_update([k for k in self._stale if which(k)])

    async def ready(self, kid: KeyId, now_ms: int) -> list[QueuedInput]:
        """`kid`'s rows that may be applied at `now_ms` (delayed ones once due), oldest first."""
        if kid in self._stale:
            self._stale.discard(kid)
            stored = await self._store.inbox_for(*kid)
            held = self._rows.setdefault(kid, {})
            for row in stored:
                if row.id not in held:
                    held[row.id] = queued(row)
        elif kid in self._rows:
            held = self._rows[kid]
        else:
            return []
        out = [
            q for q in held.values() if q.row.not_before_ms is None or q.row.not_before_ms <= now_ms
        ]
        if len(out) > 1:
            out.sort(key=_row_id)
        return out

    def consumed(self, kid: KeyId, ids: Iterable[int]) -> None:
        """The rows `ids` of `kid` were applied and that is durable."""
        ids = list(ids)
        for watcher in self._watchers:
            watcher(ids)
        held = self._rows.get(kid)
        if held is None:
            return
        for row_id in ids:
            held.pop(row_id, None)
        if not held:
            del self._rows[kid]


def _row_id(q: QueuedInput) -> int:
    return q.row.id
