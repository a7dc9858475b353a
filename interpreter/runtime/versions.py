"""Loaded IR versions: new instances start on the newest, running ones keep theirs.

Every IR given to the runtime is saved in the store (`ir_versions`), so an
instance pinned to an older hash still finds its program after a restart, even
when the operator no longer passes that file. "Newest" is the highest
`version` of the flow among the IRs passed in this run; with none passed, the
highest stored one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..program import Program, ProgramError
from ..store import IrVersion, Store

log = logging.getLogger("flowyard.runtime.versions")


class UnknownVersionError(LookupError):
    """An instance is pinned to an IR hash that is neither loaded nor stored."""


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """One IR and the program compiled from it."""

    hash: str
    flow: str
    version: int
    ir: Mapping[str, Any]
    program: Program


class VersionRegistry:
    """Programs by IR hash, and which one is current for each flow."""

    def __init__(self) -> None:
        self._by_hash: dict[str, LoadedVersion] = {}
        self._current: dict[str, str] = {}

    @property
    def flows(self) -> frozenset[str]:
        """Flows that have a current version."""
        return frozenset(self._current)

    def current_irs(self) -> list[Mapping[str, Any]]:
        """The current IR of each flow."""
        return [self._by_hash[h].ir for h in self._current.values()]

    def add(self, ir: Mapping[str, Any], *, current: bool) -> LoadedVersion:
        """Compile and keep `ir`; with `current`, it may become its flow's newest."""
        hash_ = str(ir["hash"])
        loaded = self._by_hash.get(hash_)
        if loaded is None:
            loaded = LoadedVersion(
                hash=hash_,
                flow=str(ir["flow"]),
                version=int(ir["version"]),
                ir=ir,
                program=Program.from_ir(dict(ir)),
            )
            self._by_hash[hash_] = loaded
        if current:
            now = self._current.get(loaded.flow)
            if now is None or self._by_hash[now].version <= loaded.version:
                self._current[loaded.flow] = hash_
        return loaded

    def by_hash(self, ir_hash: str) -> LoadedVersion:
        """The version an instance is pinned to."""
        try:
            return self._by_hash[ir_hash]
        except KeyError:
            raise UnknownVersionError(f"no IR with hash {ir_hash} is loaded or stored") from None

    def current(self, flow: str) -> LoadedVersion | None:
        """The version new instances of `flow` start on."""
        hash_ = self._current.get(flow)
        return None if hash_ is None else self._by_hash[hash_]

    def all(self) -> Iterable[LoadedVersion]:
        """Every loaded version."""
        return self._by_hash.values()

    async def load(self, store: Store, irs: Iterable[Mapping[str, Any]], now_ms: int) -> None:
        """Save `irs` in the store, then load everything stored.

        Flows passed in `irs` are current at their highest version; flows only
        found in the store are current at their highest stored version, so an
        instance of them can still be driven (signals, callbacks, timers).
        """
        passed = list(irs)
        for ir in passed:
            await store.save_ir(
                IrVersion(
                    hash=str(ir["hash"]),
                    flow=str(ir["flow"]),
                    version=str(ir["version"]),
                    ir=dict(ir),
                    loaded_ms=now_ms,
                )
            )
            self.add(ir, current=True)
        passed_flows = {str(ir["flow"]) for ir in passed}
        for stored in await store.load_irs():
            try:
                self.add(stored.ir, current=stored.flow not in passed_flows)
            except ProgramError as exc:
                # An IR this interpreter cannot run must not stop the others;
                # instances pinned to it wait (and say so) until it is fixed.
                log.error("stored IR %s of %s cannot be run: %s", stored.hash, stored.flow, exc)
