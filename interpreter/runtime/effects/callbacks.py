"""Callback tokens: how an effect that completes later is found again.

A token is an HMAC of the call id under the store's secret: unguessable,
stable across restarts (so a re-issued call announces the same URL), and
checkable without trusting the caller.
"""

from __future__ import annotations

import hashlib
import hmac


def callback_token(secret: bytes, call_id: str) -> str:
    """The token of `call_id` (hex, URL-safe)."""
    return hmac.new(secret, call_id.encode(), hashlib.sha256).hexdigest()[:40]


def token_matches(secret: bytes, call_id: str, token: str) -> bool:
    """Whether `token` is the token of `call_id` (constant-time)."""
    return hmac.compare_digest(callback_token(secret, call_id), token)


def callback_url(base_url: str, token: str) -> str:
    """Where the remote side posts the outcome: `<base>/callbacks/<token>`."""
    return f"{base_url.rstrip('/')}/callbacks/{token}"
