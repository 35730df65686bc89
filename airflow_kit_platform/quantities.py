"""Kubernetes resource quantities: parse, compare and add them without a cluster.

The team tree compares a child's guaranteed share with its parent's ceiling, so the kit
needs quantities as numbers; it also needs to refuse `4x` or `-1Gi` before Kubernetes
would.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX_FACTORS = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>[a-zA-Z]*)$")

QUANTITY_HELP = "a non-negative Kubernetes quantity such as 500m, 2, 1.5, 512Mi or 8Gi"


def parse_quantity(value: object) -> Decimal:
    """Return the quantity in base units (cores, bytes); raise ValueError when malformed."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected {QUANTITY_HELP}")
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match or match.group("suffix") not in _SUFFIX_FACTORS:
        raise ValueError(f"expected {QUANTITY_HELP}")
    try:
        return Decimal(match.group("number")) * _SUFFIX_FACTORS[match.group("suffix")]
    except InvalidOperation as error:  # pragma: no cover - the regex only lets numbers through
        raise ValueError(f"expected {QUANTITY_HELP}") from error


def canonical(value: object) -> str:
    """The quantity as the string users wrote (ints from YAML become strings)."""
    return str(value).strip()
