"""Shared test plumbing: the repo's paths, stack files, and the upstream reference data."""

from __future__ import annotations

import pathlib
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.contract.reference import reference_dir  # noqa: E402  (one finder for every tier)

STACKS = sorted(path.name[len("Pulumi."):-len(".yaml")] for path in (REPO / "stacks").glob("Pulumi.*.yaml"))


def stack_file_config(stack: str) -> dict:
    """The `airflow-kit:` keys of stacks/Pulumi.<stack>.yaml, prefix removed."""
    data = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config = data.get("config") or {}
    return {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("airflow-kit:")}


def build_versions() -> dict[str, str]:
    """The toolchain versions scripts/tools.sh builds (scripts/build-versions.sh, NAME="value" lines)."""
    found = {}
    for line in (REPO / "scripts" / "build-versions.sh").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            found[name.strip()] = value.strip().strip('"')
    return found


def required_secrets(stack: str) -> list[str]:
    """The secret config keys a stack must have set: dbPassword for an external database."""
    external = (stack_file_config(stack).get("database") or {}).get("mode") == "external"
    return ["dbPassword"] if external else []


@pytest.fixture
def reference() -> pathlib.Path:
    return reference_dir()


def pytest_terminal_summary(terminalreporter):
    from tests.measurements import MEASURED

    if MEASURED:
        terminalreporter.section("airflow-kit measurements")
        for key, value in MEASURED.items():
            terminalreporter.write_line(f"{key}: {value}")


def pytest_collection_modifyitems(items):
    """The real-node tier last: it is the slowest, and every other tier's answer comes first."""
    items.sort(key=lambda item: "/tests/realnode/" in str(item.path))
