"""Kubernetes resource quantities as numbers, in Kubernetes' own grammar.

The team tree compares a child's guaranteed share with its parent's ceiling, so the kit needs
quantities as numbers. Parsing is `airflow_kit.quantity.kubernetes_amount`, the one check the DAG
helper uses too (the `kubernetes` client's grammar, negatives refused); on top, the kit refuses a
fraction of a byte (`8m` of memory is 0.008 bytes: surely `8Mi`).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Iterable, Optional

from airflow_kit.quantity import kubernetes_amount

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
        amount = kubernetes_amount(text)
    except ValueError:
        raise ValueError(f"expected {QUANTITY_HELP}") from None
    if resource in BYTE_RESOURCES and amount != amount.to_integral_value():
        raise ValueError(f"expected whole bytes for {resource} ({text} is a fraction of a byte: "
                         f"did you mean {text[:-1]}Mi?)" if text.endswith("m") else f"expected whole bytes for {resource}")
    return amount


def canonical(value: object) -> str:
    """The quantity as the string users wrote (ints from YAML become strings)."""
    return str(value).strip()


# Byte units tried in order: the first that divides the value exactly names it.
_BYTE_UNITS = (("Ti", Decimal(2) ** 40), ("Gi", Decimal(2) ** 30), ("Mi", Decimal(2) ** 20),
               ("T", Decimal(10) ** 12), ("G", Decimal(10) ** 9), ("M", Decimal(10) ** 6),
               ("Ki", Decimal(2) ** 10), ("k", Decimal(10) ** 3))


def format_quantity(resource: str, value: Decimal) -> str:
    """A quantity in base units (cores, bytes, devices) as a short Kubernetes quantity."""
    if resource == "cpu":
        if value == value.to_integral_value():
            return str(int(value))
        return f"{int((value * 1000).to_integral_value(rounding=ROUND_CEILING))}m"
    if resource in ("memory", "ephemeral-storage"):
        for unit, factor in _BYTE_UNITS:
            if value >= factor and value % factor == 0:
                return f"{int(value / factor)}{unit}"
        return str(int(value.to_integral_value(rounding=ROUND_CEILING)))
    return str(int(value.to_integral_value(rounding=ROUND_CEILING)))


def sum_quantities(resource: str, values: Iterable[str]) -> str:
    total = sum((parse_quantity(value) for value in values), Decimal(0))
    return format_quantity(resource, total)
