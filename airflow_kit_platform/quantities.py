"""Kubernetes resource quantities as numbers, in Kubernetes' own grammar.

The team tree compares a child's guaranteed share with its parent's ceiling, so the kit needs
quantities as numbers. Parsing is the `kubernetes` client's `parse_quantity` (the grammar the
DAG helper uses too); on top, the kit refuses what Kubernetes would take but no stack means:
a negative amount, NaN or infinity, and a fraction of a byte (`8m` of memory is 0.008 bytes:
surely `8Mi`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Optional

from kubernetes.utils.quantity import parse_quantity as kubernetes_quantity

QUANTITY_HELP = "a non-negative Kubernetes quantity such as 500m, 2, 1.5, 512Mi or 8Gi"
# Resources counted in bytes: a fraction of one is a typo for a binary suffix.
BYTE_RESOURCES = ("memory", "storage", "ephemeral-storage")


def parse_quantity(value: object, resource: Optional[str] = None) -> Decimal:
    """The quantity in base units (cores, bytes); ValueError when Kubernetes would refuse it, it is
    negative, or (for `resource` in BYTE_RESOURCES) it is a fraction of a byte."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected {QUANTITY_HELP}")
    text = str(value).strip()
    try:
        amount = kubernetes_quantity(text)
    except (ValueError, ArithmeticError):
        raise ValueError(f"expected {QUANTITY_HELP}") from None
    # Python's Decimal also takes `1_000`, `1 Gi` and non-ASCII digits; Kubernetes does not.
    if (not amount.is_finite() or amount < 0 or "_" in text or not text.isascii()
            or any(char.isspace() for char in text)):
        raise ValueError(f"expected {QUANTITY_HELP}")
    if resource in BYTE_RESOURCES and amount != amount.to_integral_value():
        raise ValueError(f"expected whole bytes for {resource} ({text} is a fraction of a byte: "
                         f"did you mean {text[:-1]}Mi?)" if text.endswith("m") else f"expected whole bytes for {resource}")
    return amount


def canonical(value: object) -> str:
    """The quantity as the string users wrote (ints from YAML become strings)."""
    return str(value).strip()
