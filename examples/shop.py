"""Python effects of the order_fulfillment example (`examples.shop:reserve_stock`).

Effects are `async def name(args, ctx)`: `args` is the call's `with` map, `ctx`
a `flowyard.interpreter.effects.EffectContext` (idempotency key,
attempt, flow, key, call id). They return JSON and raise to fail an attempt.

The warehouse is self-contained and deterministic: stock levels come from the
JSON file named by `FLOWYARD_SHOP_STOCK` (`{"sku": quantity}`); without it every
SKU is in stock. Reservations are remembered by idempotency key, so a retried
or re-issued call returns the first reservation instead of reserving twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from flowyard.interpreter.effects import EffectContext, EffectError

_reservations: dict[str, dict[str, Any]] = {}
_reserved: dict[str, int] = {}


def _stock() -> dict[str, int] | None:
    path = os.environ.get("FLOWYARD_SHOP_STOCK")
    if not path:
        return None
    levels = json.loads(Path(path).read_text(encoding="utf-8"))
    return {str(sku): int(qty) for sku, qty in levels.items()}


async def reserve_stock(args: dict[str, Any], ctx: EffectContext) -> dict[str, Any]:
    """Reserve every item of an order; fails for good when a SKU is short.

    args: `order_id` (string), `items` (list of `{sku, qty}`; `qty` defaults to 1).
    Returns `{reservation_id, order_id, lines: [{sku, qty}]}`.
    """
    previous = _reservations.get(ctx.idempotency_key)
    if previous is not None:
        return previous
    lines = []
    for item in args.get("items") or []:
        sku = str(item.get("sku", ""))
        if not sku:
            raise EffectError("an item has no sku", retryable=False)
        lines.append({"sku": sku, "qty": int(item.get("qty", 1))})
    stock = _stock()
    if stock is not None:
        for line in lines:
            available = stock.get(line["sku"], 0) - _reserved.get(line["sku"], 0)
            if line["qty"] > available:
                raise EffectError(
                    f"out of stock: {line['sku']} (wanted {line['qty']}, have {available})",
                    retryable=False,
                )
    for line in lines:
        _reserved[line["sku"]] = _reserved.get(line["sku"], 0) + line["qty"]
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:16]
    reservation = {
        "reservation_id": f"rsv_{digest}",
        "order_id": str(args.get("order_id", ctx.key)),
        "lines": lines,
    }
    _reservations[ctx.idempotency_key] = reservation
    return reservation
