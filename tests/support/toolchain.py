"""The built toolchain as the tiers need it: a missing tool skips the test, naming it."""

from __future__ import annotations

import pytest

from repo_tools.harness import tool


def require_tools(*names: str) -> None:
    missing = [name for name in names if tool(name) is None]
    if missing:
        pytest.skip(f"not built: {', '.join(missing)} (run scripts/tools.sh; see .tools/status.txt)")
