"""A bad team tree stops at load time with one message naming the team (teams.validate_tree).

The backend-specific refusals (Koordinator's same-resources rule, Volcano's child
capability rule, reserved names) are in the backend's own test module.
"""

from __future__ import annotations

import pytest

from airflow_kit_platform.config_reader import ConfigError
from tests.support.scheduling_stacks import settings_for, team

QUANTITY_HELP = "must be a non-negative Kubernetes quantity such as 500m, 2, 1.5, 512Mi or 8Gi"

CASES = [
    ("child-min-above-parent-max",
     [team("parent", None, ("2", "4"), ("4Gi", "8Gi")), team("child", "parent", ("8", "8"), ("1Gi", "2Gi"))],
     "stack 'test': airflow-kit:teams[child].min.cpu = '8': must not exceed its parent 'parent' max.cpu 4"),
    ("children-mins-above-parent-min",
     [team("parent", None, ("4", "16"), ("8Gi", "32Gi")), team("a", "parent", ("3", "8"), ("4Gi", "8Gi")),
      team("b", "parent", ("2", "8"), ("4Gi", "8Gi"))],
     "stack 'test': airflow-kit:teams[parent].min.cpu = '4': must be at least the sum of its children's min.cpu "
     "(5 from a, b)"),
    ("children-memory-mins-above-parent-min",
     [team("parent", None, ("8", "16"), ("8Gi", "32Gi")), team("a", "parent", ("3", "8"), ("6Gi", "8Gi")),
      team("b", "parent", ("2", "8"), ("4Gi", "8Gi"))],
     "stack 'test': airflow-kit:teams[parent].min.memory = '8Gi': must be at least the sum of its children's "
     "min.memory (10Gi from a, b)"),
    ("unknown-parent",
     [team("data", None, ("4", "16"), ("8Gi", "32Gi")), team("etl", "dta", ("2", "8"), ("4Gi", "8Gi"))],
     "stack 'test': airflow-kit:teams[etl].parent = 'dta': must name another team (did you mean 'data'?); "
     "teams: data, etl"),
    ("duplicate-name",
     [team("etl", None, ("4", "16"), ("8Gi", "32Gi")), team("etl", None, ("2", "8"), ("4Gi", "8Gi"))],
     "stack 'test': airflow-kit:teams[etl].name = 'etl': team names must be unique"),
    ("cycle",
     [team("a", "b", ("1", "2"), ("1Gi", "2Gi")), team("b", "a", ("1", "2"), ("1Gi", "2Gi")),
      team("c", None, ("1", "2"), ("1Gi", "2Gi"))],
     "stack 'test': airflow-kit:teams[a].parent = 'b': parents form a cycle: a -> b -> a"),
    ("self-parent",
     [team("a", "a", ("1", "2"), ("1Gi", "2Gi")), team("c", None, ("1", "2"), ("1Gi", "2Gi"))],
     "stack 'test': airflow-kit:teams[a].parent = 'a': parents form a cycle: a -> a"),
    ("bad-quantity-4x",
     [team("etl", None, ("4x", "16"), ("8Gi", "32Gi"))],
     f"stack 'test': airflow-kit:teams[etl].min.cpu = '4x': {QUANTITY_HELP}"),
    ("negative-quantity",
     [team("etl", None, ("4", "16"), ("-1Gi", "32Gi"))],
     f"stack 'test': airflow-kit:teams[etl].min.memory = '-1Gi': {QUANTITY_HELP}"),
    ("min-above-own-max",
     [team("etl", None, ("32", "16"), ("8Gi", "32Gi"))],
     "stack 'test': airflow-kit:teams[etl].min.cpu = '32': must not exceed the team's max.cpu 16"),
]


@pytest.mark.parametrize("style", ["default", "koordinator", "volcano"])
@pytest.mark.parametrize("teams,message", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_tree_stops_with_the_teams_name(style, teams, message):
    with pytest.raises(ConfigError) as error:
        settings_for(style, teams=teams)
    assert str(error.value) == message
