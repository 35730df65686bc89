"""`make setup` installs every tool `make up` and the kit's node use: one table (scripts/toolsets.txt)
feeds setup, tools.sh, the node scripts and the kit's Python side. On a fresh machine a tool
missing from setup's list stops `make up` with "kwok not found" (it did); these tests fail first.
"""

from __future__ import annotations

import re
import subprocess

from repo_tools import local_cluster
from tests.support.stacks import REPO

SCRIPTS = REPO / "scripts"


def script_lines(*args: str) -> list[str]:
    result = subprocess.run([str(SCRIPTS / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.split()


def kit_tools() -> set[str]:
    return set(script_lines("tools.sh", "--list"))


def setup_sets() -> set[str]:
    """The tool sets scripts/setup.sh asks tools.sh for (`tool_sets=...` assignments)."""
    text = (SCRIPTS / "setup.sh").read_text()
    sets = set()
    for value in re.findall(r"tool_sets=([^\s;]+)", text):
        sets |= {part for part in re.split(r"[,{}$:+\"]", value) if part and part != "tool_sets"}
    return sets


def setup_tools() -> set[str]:
    return set(script_lines("tools.sh", "--list", ",".join(sorted(setup_sets()))))


def test_setup_asks_for_the_pulumi_and_node_sets():
    assert setup_sets() == {"pulumi", "node"}


def test_every_kit_tool_the_real_node_needs_is_installed_by_setup(tmp_path):
    needed = set(script_lines("real-node.sh", "needs", str(tmp_path / "node")))
    missing = (needed & kit_tools()) - setup_tools()
    assert not missing, f"scripts/real-node.sh needs {sorted(missing)}, which `make setup` does not build"


def test_the_node_control_plane_does_not_need_fake_node_tools(tmp_path):
    assert "kwok" not in script_lines("local-cluster.sh", "needs", str(tmp_path), "--no-kwok")
    assert "kwok" in script_lines("local-cluster.sh", "needs", str(tmp_path))


def test_make_up_checks_the_same_sets_as_setup():
    assert set(local_cluster.PULUMI_TOOLS) | set(local_cluster.NODE_TOOLS) == setup_tools()
    assert set(local_cluster.NODE_TOOLS) == set(script_lines("tools.sh", "--list", "node"))


def test_every_tool_of_the_table_has_a_recipe_and_a_build_group():
    text = (SCRIPTS / "tools.sh").read_text()
    grouped = set(" ".join(re.findall(r'"([a-z0-9 -]+)"', text[text.index("GROUPS_ALL=("):text.index("run_group()")])).split())
    for tool in kit_tools():
        assert re.search(rf"^build_{re.escape(tool)}\(\)", text, re.M), f"no build_{tool} recipe in tools.sh"
        assert tool in grouped, f"{tool} is in no build group of tools.sh: it would never be built"


def test_an_unknown_set_is_one_line():
    result = subprocess.run([str(SCRIPTS / "tools.sh"), "--list", "nodes"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown tool set 'nodes'" in result.stderr and "node" in result.stderr
