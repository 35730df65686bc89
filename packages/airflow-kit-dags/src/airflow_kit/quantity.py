"""Kubernetes quantities in Kubernetes' own grammar, for the helper and the kit's Pulumi side alike.

Parsing is the `kubernetes` client's `parse_quantity`; it hands the number to Python's Decimal,
which also takes what Kubernetes refuses (`1_000`, `1 Gi`, non-ASCII digits, NaN, Infinity), so
those are refused here first. Each side adds its own rules on top (positive, whole bytes).
"""

from __future__ import annotations

from decimal import Decimal


def kubernetes_amount(text: str) -> Decimal:
    """The amount of a quantity string in base units; ValueError when Kubernetes would refuse it or it
    is negative."""
    from kubernetes.utils.quantity import parse_quantity

    if not text or not text.isascii() or "_" in text or any(char.isspace() for char in text):
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    try:
        amount = parse_quantity(text)
    except (ValueError, ArithmeticError):
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not a non-negative Kubernetes quantity: {text!r}")
    return amount
