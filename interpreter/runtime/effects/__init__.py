"""Effect runners: python callables, HTTP requests, emits; retries and timeouts."""

from .context import EffectContext, EffectError

__all__ = ["EffectContext", "EffectError"]
