"""The README's quick start is what CI runs, and every command in it exists."""

from __future__ import annotations

import re
import subprocess

from tests.support.stacks import REPO


def quick_start() -> list[str]:
    result = subprocess.run([str(REPO / ".ci" / "readme-commands"), "quick start"], capture_output=True, text=True,
                            check=True)
    return result.stdout.splitlines()


def test_quick_start_sets_up_deploys_runs_a_dag_and_tears_down_in_order():
    commands = quick_start()
    assert [c.split()[1] for c in commands] == ["setup", "up", "dag", "down"], commands


def test_every_quick_start_command_is_a_makefile_target():
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))
    for command in quick_start():
        assert command.startswith("make ") and command.split()[1] in targets, command


def test_ci_runs_the_readme_block_verbatim():
    ci = (REPO / ".ci" / "run").read_text()
    assert '.ci/readme-commands "quick start"' in ci and 'bash -c "$command"' in ci
    assert ci.index("readme-commands") < ci.index("\nmake test")
