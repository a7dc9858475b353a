"""Python effects of the subscription example (`examples.billing:charge`).

Effects are `async def name(args, ctx)`: `args` is the call's `with` map, `ctx`
a `flowyard.interpreter.effects.EffectContext`. They return JSON and
raise to fail an attempt.

The payment provider is simulated, deterministically: plan prices are fixed
below; accounts listed in `FLOWYARD_BILLING_DECLINE` (comma-separated) are
declined for good; charges are remembered by idempotency key, so a retried
call never charges twice.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from flowyard.interpreter.effects import EffectContext, EffectError

PRICES_CENTS = {"basic": 900, "pro": 2900, "team": 9900}

_charges: dict[str, dict[str, Any]] = {}


async def charge(args: dict[str, Any], ctx: EffectContext) -> dict[str, Any]:
    """Charge an account for one period of its plan.

    args: `account_id` (string), `plan` (one of PRICES_CENTS).
    Returns `{charge_id, account_id, plan, amount_cents}`.
    """
    previous = _charges.get(ctx.idempotency_key)
    if previous is not None:
        return previous
    account = str(args.get("account_id", ctx.key))
    plan = str(args.get("plan", ""))
    if plan not in PRICES_CENTS:
        raise EffectError(f"unknown plan {plan!r}", retryable=False)
    declined = {a.strip() for a in os.environ.get("FLOWYARD_BILLING_DECLINE", "").split(",")}
    if account in declined:
        raise EffectError(f"card declined for account {account}", retryable=False)
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:16]
    result = {
        "charge_id": f"ch_{digest}",
        "account_id": account,
        "plan": plan,
        "amount_cents": PRICES_CENTS[plan],
    }
    _charges[ctx.idempotency_key] = result
    return result
