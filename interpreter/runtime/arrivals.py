"""Stepping input as it arrives, for keys with nothing else to do.

An input for a key that has nothing in its inbox and no turn in progress need
not wait in the inbox: its step is computed before the ingest transaction and
committed in it, in place of the inbox row (`Store.ingest(applied=...)`). That
saves writing the row and deleting it again, a second transaction and a
scheduled turn, and the input's transition is durable when its sender is
acknowledged. Nothing else changes: the step is the same `step`, journaled the
same way, and its commands are carried out once it is durable.

A key whose snapshot is not in memory is stepped as a new instance; if the
store holds an instance for it after all, the store refuses that step and the
input goes to the inbox, where the key's turn loads the snapshot. A key being
stepped on arrival is claimed from the scheduler, so it is never stepped twice
at once; input for it arriving meanwhile goes to its inbox and is stepped once
it is released. A key waiting for a scheduler slot cannot be claimed, so under
a burst more input goes through the inbox, which absorbs it. Nor is a key
stepped on arrival while other input for it (a signal, a timer, an effect
result) is on its way to its inbox: it would overtake that input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from ..model import Input, Instance
from ..store import InboxItem, StepCommit
from .inbox import InboxCache
from .scheduler import KeyScheduler
from .stepper import InstanceCache, KeyId, KeyStepper, PendingStep


class Arrivals:
    """The steps taken on arrival for one ingest call: plan, settle, release."""

    def __init__(
        self,
        stepper: KeyStepper,
        scheduler: KeyScheduler[KeyId],
        inbox: InboxCache,
        cache: InstanceCache,
        owns: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        self._owns = owns
        self._stepper = stepper
        self._scheduler = scheduler
        self._inbox = inbox
        self._cache = cache
        self._claimed: list[KeyId] = []
        self._planned: list[tuple[list[int], list[PendingStep]]] = []

    def plan(self, items: Sequence[InboxItem], inputs: Sequence[Input]) -> list[StepCommit | None]:
        """Claim the idle keys among `items` and step them; one commit per item
        (None for items left to the inbox)."""
        commits: list[StepCommit | None] = [None] * len(items)
        by_key = _by_key(items, inputs)
        for kid in self.claim(by_key):
            indexes, key_inputs = by_key[kid]
            self._plan_key(kid, self._cache.cached(kid), items, indexes, key_inputs, commits)
        return commits

    def claim(self, kids: Iterable[KeyId]) -> list[KeyId]:
        """Claim those of `kids` that are idle (nothing in their inbox, not
        being stepped) and stepped here (`owns`: partitioned, others step the
        rest); the keys claimed, in order."""
        claimed = self._scheduler.claim(
            kid for kid in kids if self._owns(kid[1]) and not self._inbox.holds(kid)
        )
        self._claimed.extend(claimed)
        return claimed

    def plan_claimed(
        self,
        items: Sequence[InboxItem],
        inputs: Sequence[Input],
        instances: Mapping[KeyId, Instance],
    ) -> list[StepCommit | None]:
        """Step the keys of `instances` (claimed with `claim`, with these
        snapshots) through their items, as `plan` does; the items of other
        keys are left to the inbox. For input to instances that exist (timers),
        whose snapshots the caller loaded once their keys were claimed."""
        commits: list[StepCommit | None] = [None] * len(items)
        for kid, (indexes, key_inputs) in _by_key(items, inputs).items():
            instance = instances.get(kid)
            if instance is not None:
                self._plan_key(kid, instance, items, indexes, key_inputs, commits)
        return commits

    def _plan_key(  # noqa: PLR0917 - one key's share of a plan
        self,
        kid: KeyId,
        instance: Instance | None,
        items: Sequence[InboxItem],
        indexes: list[int],
        inputs: list[Input],
        commits: list[StepCommit | None],
    ) -> None:
        # Each item's input as JSON, made by routing, is also what the journal keeps.
        journaled = [items[index].input for index in indexes]
        steps = self._stepper.step_arrivals(kid, instance, inputs, journaled)
        for index, taken in zip(indexes, steps, strict=False):
            commits[index] = taken.commit
        self._planned.append((indexes, steps))

    def settle(self, applied: Sequence[bool]) -> None:
        """The store applied the items flagged in `applied` (as `Store.ingest`
        reported): keep their snapshots and carry out their commands."""
        if not applied:
            return
        for indexes, steps in self._planned:
            # The store applies a prefix of each key's steps.
            done = 0
            while done < len(steps) and applied[indexes[done]]:
                done += 1
            if done:
                self._stepper.settle(steps if done == len(steps) else steps[:done])

    def release(self) -> None:
        """Hand every claimed key back to the scheduler."""
        self._scheduler.release(self._claimed)
        self._claimed.clear()
        self._planned.clear()


def _by_key(
    items: Sequence[InboxItem], inputs: Sequence[Input]
) -> dict[KeyId, tuple[list[int], list[Input]]]:
    """Each key's item indexes and inputs, in order, up to its first delayed item
    (a delayed event waits in the inbox; what follows it for that key goes
    there too)."""
    out: dict[KeyId, tuple[list[int], list[Input]]] = {}
    stopped: set[KeyId] = set()
    for index, item in enumerate(items):
        kid = (item.flow, item.key)
        if kid in stopped:
            continue
        if item.not_before_ms is not None:
            stopped.add(kid)
            continue
        found = out.get(kid)
        if found is None:
            out[kid] = ([index], [inputs[index]])
        else:
            found[0].append(index)
            found[1].append(inputs[index])
    return out
