"""Shared test plumbing: the repo on sys.path, the fixtures every tier uses, the measurements
section, a missing tool or reference file as a skip, and the real-node tier last."""

from __future__ import annotations

import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
HELPER_TESTS = REPO / "packages" / "airflow-kit-dags" / "tests"  # the DAG helper's own tier
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from repo_tools.harness import Missing, missing_tools, toolchain_env  # noqa: E402
from tests.support.real_node import real_node  # noqa: E402,F401  (the session's node, shared by realnode and faults)
from tests.support.reference import reference_dir  # noqa: E402  (one finder for every tier)


@pytest.fixture
def reference() -> pathlib.Path:
    return reference_dir()


@pytest.fixture(scope="session")
def tools_env() -> dict[str, str]:
    """The built toolchain first on PATH, Pulumi offline (skips naming what is not built)."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"e2e tools not built: {', '.join(missing)} (run scripts/tools.sh; see .tools/status.txt)")
    return toolchain_env()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A repo_tools driver that finds a tool or reference file missing skips the test, naming it."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(Missing):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")


def pytest_terminal_summary(terminalreporter):
    from tests.support.faults import OUTCOMES
    from tests.support.measurements import MEASURED

    if MEASURED:
        terminalreporter.section("airflow-kit measurements")
        for key, value in MEASURED.items():
            terminalreporter.write_line(f"{key}: {value}")
    if OUTCOMES:  # the fault tier's table, as the README quotes it
        terminalreporter.section("airflow-kit fault table")
        terminalreporter.write_line("| fault | what happens | seconds to recovery | reruns | work lost |")
        terminalreporter.write_line("| --- | --- | --- | --- | --- |")
        for row in OUTCOMES:
            seconds = "-" if row.recovery_seconds is None else f"{row.recovery_seconds:.0f}"
            terminalreporter.write_line(f"| {row.fault} | {row.what_happens} | {seconds} | {row.reruns} | {row.lost} |")


def pytest_collection_modifyitems(config, items):
    """Each test carries its tier folder's marker (`pytest -m e2e`); the real-node tiers run last
    (realnode, then faults, on the one node): the slowest, and every other tier's answer comes first."""
    tiers = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    for item in items:
        path = pathlib.Path(item.path)
        if path.is_relative_to(HELPER_TESTS):
            item.add_marker(pytest.mark.helper)
            continue
        parts = path.relative_to(REPO / "tests").parts
        if parts and parts[0] in tiers:
            item.add_marker(getattr(pytest.mark, parts[0]))
    last = ("/tests/realnode/", "/tests/faults/")
    items.sort(key=lambda item: next((rank + 1 for rank, folder in enumerate(last) if folder in str(item.path)), 0))
