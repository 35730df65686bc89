"""Figures the README and closing notes quote (evaluation time, resource counts, e2e timings).

Tests record into MEASURED; tests/conftest.py prints it at the end of every run, so CI's
output carries the numbers. (A module of its own: conftest.py may be imported twice.)
"""

MEASURED: dict[str, str] = {}
