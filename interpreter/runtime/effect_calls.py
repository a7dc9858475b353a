"""The runtime's side of effect calls: what a step's `RunEffect` becomes for the
runner, re-issuing the calls a previous run (or a partition's last holder) left
unfinished, and how an HTTP effect's request is rendered."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..core_effects import render_effect_request
from ..model import Instance, RunEffect
from ..store import EffectCallUpdate, EffectStatus, Store
from .clock import Clock
from .commits import CallRequest
from .effects.callbacks import callback_token, callback_url
from .effects.http import HttpRequest
from .effects.runner import CallSpec, EffectRunner
from .stepper import InstanceCache
from .versions import LoadedVersion, UnknownVersionError, VersionRegistry

log = logging.getLogger("flowyard.runtime")


class EffectCalls:
    """Starts, renders, abandons and re-issues effect calls through `runner`."""

    def __init__(
        self,
        *,
        store: Store,
        versions: VersionRegistry,
        cache: InstanceCache,
        runner: EffectRunner,
        clock: Clock,
        callback_base_url: str,
    ) -> None:
        self._store = store
        self._versions = versions
        self._cache = cache
        self._runner = runner
        self._clock = clock
        self._callback_base_url = callback_base_url

    def run(self, version: LoadedVersion, instance: Instance, commands: list[RunEffect]) -> None:
        """Start the calls a committed step asked for."""
        for command in commands:
            self._runner.start(
                self._spec(
                    version,
                    flow=instance.flow,
                    key=instance.key,
                    call_id=command.call_id,
                    effect=command.effect,
                    args=command.args,
                    idempotency_key=command.idempotency_key,
                )
            )

    def abandon_unawaited(self, instance: Instance) -> None:
        """Stop the running calls of `instance` it no longer awaits."""
        if not self._runner.has_running(instance.flow, instance.key):
            return
        awaited = instance.pending.call_ids() if instance.pending is not None else ()
        self._runner.abandon(instance.flow, instance.key, awaited)

    async def resume(self, partitions: Sequence[int] | None = None) -> None:
        """Re-issue calls a previous run (or the last holder of `partitions`)
        left pending or running."""
        unfinished: list[EffectStatus] = ["pending", "running"]
        if partitions is None:
            rows = await self._store.effect_calls(unfinished)
        else:
            rows = await self._store.effect_calls(unfinished, partitions=partitions)
        for row in rows:
            try:
                request = CallRequest.from_json(row.request)
                version = self._versions.by_hash(request.ir_hash)
            except (KeyError, TypeError, UnknownVersionError) as exc:
                log.error("cannot re-issue effect call %s: %s", row.call_id, exc)
                continue
            instance = await self._cache.get((row.flow, row.key))
            awaited = (
                instance is not None
                and instance.pending is not None
                and row.call_id in instance.pending.call_ids()
            )
            if not awaited:
                await self._store.update_effect_calls(
                    [
                        EffectCallUpdate(
                            call_id=row.call_id,
                            status="failed",
                            at_ms=self._clock.now_ms(),
                            error="abandoned: the instance no longer awaits this call",
                        )
                    ]
                )
                continue
            log.info("re-issuing effect call %s (%d attempts so far)", row.call_id, row.attempts)
            self._runner.start(
                self._spec(
                    version,
                    flow=row.flow,
                    key=row.key,
                    call_id=row.call_id,
                    effect=row.effect,
                    args=request.args,
                    idempotency_key=row.idempotency_key,
                    attempts_done=row.attempts,
                    next_attempt_ms=row.next_attempt_ms if row.status == "pending" else None,
                )
            )

    def _spec(
        self,
        version: LoadedVersion,
        *,
        flow: str,
        key: str,
        call_id: str,
        effect: str,
        args: Any,
        idempotency_key: str,
        attempts_done: int = 0,
        next_attempt_ms: int | None = None,
    ) -> CallSpec:
        definition = version.ir["definition"]["effects"][effect]
        token = url = None
        if version.program.effects[effect].callback_timeout_ms is not None:
            token = callback_token(self._store.callback_secret, call_id)
            url = callback_url(self._callback_base_url, token)
        return CallSpec(
            flow=flow,
            key=key,
            call_id=call_id,
            effect_name=effect,
            effect=definition,
            args=args,
            idempotency_key=idempotency_key,
            ir_hash=version.hash,
            attempts_done=attempts_done,
            next_attempt_ms=next_attempt_ms,
            callback_url=url,
            callback_token=token,
        )


def render_http(versions: VersionRegistry, env: Mapping[str, str], spec: CallSpec) -> HttpRequest:
    """The HTTP request of an `http` effect's call."""
    program = versions.by_hash(spec.ir_hash).program
    callback = None
    if spec.callback_url is not None and spec.callback_token is not None:
        callback = {"url": spec.callback_url, "token": spec.callback_token}
    rendered = render_effect_request(
        program, spec.effect_name, spec.args, spec.key, env, callback=callback
    )
    return HttpRequest(
        method=str(rendered["method"]),
        url=str(rendered["url"]),
        headers=dict(rendered.get("headers") or {}),
        body=rendered.get("body"),
    )
