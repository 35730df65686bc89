"""Shared test plumbing: the repo on sys.path, the fixtures every tier uses, the measurements
section, a missing tool or reference file as a skip, and the real-node tier last."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
HELPER_TESTS = REPO / "packages" / "airflow-kit-dags" / "tests"  # the DAG helper's own tier
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from repo_tools.harness import Missing, missing_tools, toolchain_env  # noqa: E402
from tests.support.real_node import kit_stack, real_node  # noqa: E402,F401  (the session's node and stack: realnode, faults)
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


@pytest.fixture(scope="module", autouse=True)
def current_event_loop():
    """Pulumi's mocks (unit and contract tiers) run on the main thread's current event loop; a test
    that ran `asyncio.run()` before in the same process (another tier in the same `make test` lane)
    leaves none set. Module scope: modules' own fixtures evaluate programs under mocks."""
    policy = asyncio.get_event_loop_policy()
    try:
        policy.get_event_loop()
    except RuntimeError:
        policy.set_event_loop(policy.new_event_loop())


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


# `make test`'s lanes (pytest-xdist workers) take whole groups: a tier whose tests share a costly
# session fixture (the one real node of realnode and faults, the e2e control plane, a migrated
# Airflow home) is one group; every other module is its own (its fixtures start once). By path,
# so the controller, which collects nothing, groups the workers' test ids the same way.
REAL_NODE_GROUP = "real-node"
SHARED_SESSION_FOLDERS = {"tests/realnode": REAL_NODE_GROUP, "tests/faults": REAL_NODE_GROUP, "tests/e2e": "e2e",
                          "tests/dags": "dags", "packages/airflow-kit-dags/tests": "helper"}
# The real-node group (realnode and faults, one after the other: the node holds one stack at a
# time) is the longest: it takes a lane of its own, first, and that lane takes nothing else
# while it lasts. The other lanes take the longest tiers first and fill the gaps with the quick
# ones. One process runs the real-node tiers last instead: every other tier's answer comes first.
LONGEST_FIRST = ("benchmark", "schedulers", "e2e", "dags", "helper")
# Within the real-node group: the team-namespaces stack before the session's `local-node` stack
# (the node holds one at a time), then that stack's main job, its faults, and its destroy.
REAL_NODE_ORDER = ("tests/realnode/test_team_namespaces.py", "tests/realnode/test_main_job.py",
                   "tests/faults/", "tests/realnode/test_destroy.py")


# The real node's lane is `make test`'s critical path; the others have slack. When the 2 cores are
# contended, the real node's pods (Airflow starting, restarting after a fault) go first: another
# lane's worker lowers its priority, and everything it starts (control planes, schedulers,
# Pulumi, Airflow on the host) inherits it.
OTHER_LANES_NICENESS = 5
_niced = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    global _niced
    if not _niced and os.environ.get("PYTEST_XDIST_WORKER") and real_node_rank(item.nodeid) is None:
        os.nice(OTHER_LANES_NICENESS)
        _niced = True


def real_node_rank(nodeid: str) -> int | None:
    """The test's step in the real-node lane (REAL_NODE_ORDER), None off that lane."""
    if lane_group(nodeid) != REAL_NODE_GROUP:
        return None
    return next((index for index, prefix in enumerate(REAL_NODE_ORDER) if nodeid.startswith(prefix)),
                len(REAL_NODE_ORDER))


def lane_group(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return next((group for folder, group in SHARED_SESSION_FOLDERS.items() if module.startswith(folder + "/")),
                module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lane_group(nodeid)

        def _reschedule(self, node) -> None:
            if not all(self.assigned_work.get(node, {}).get(REAL_NODE_GROUP, {}).values()):
                return  # the real-node lane takes nothing else until its last test
            super()._reschedule(node)

    return LaneScheduling(config, log)


def tier_of(item, tiers: set[str]) -> str:
    path = pathlib.Path(item.path)
    if path.is_relative_to(HELPER_TESTS):
        return "helper"
    parts = path.relative_to(REPO / "tests").parts
    return parts[0] if parts and parts[0] in tiers else ""


def pytest_collection_modifyitems(config, items):
    """Each test carries its tier folder's marker (`pytest -m e2e`); then the order."""
    tiers = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    tier = {item: tier_of(item, tiers) for item in items}
    for item in items:
        if tier[item]:
            item.add_marker(getattr(pytest.mark, tier[item]))
    real_node_step = {item: real_node_rank(item.nodeid) for item in items}
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
        # The real-node group first (-1): the first lane takes it, alone, before anything else.
        items.sort(key=lambda item: (-1, real_node_step[item]) if real_node_step[item] is not None
                   else (rank.get(tier[item], len(rank)), 0))
    else:
        items.sort(key=lambda item: (1, real_node_step[item]) if real_node_step[item] is not None else (0, 0))


def pytest_sessionfinish(session):
    """A lane (an xdist worker) hands its figures to the run that prints them."""
    if hasattr(session.config, "workeroutput"):
        from tests.support.faults import OUTCOMES
        from tests.support.measurements import MEASURED

        session.config.workeroutput["airflow_kit_figures"] = {
            "measured": dict(MEASURED), "outcomes": [dataclasses.asdict(row) for row in OUTCOMES]}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from tests.support.faults import OUTCOMES, Outcome
    from tests.support.measurements import MEASURED

    figures = getattr(node, "workeroutput", {}).get("airflow_kit_figures", {})
    MEASURED.update(figures.get("measured", {}))
    OUTCOMES.extend(Outcome(**row) for row in figures.get("outcomes", []))
