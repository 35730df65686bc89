"""The reference dags folder holds DAG files only: the helper comes installed (airflow-kit-dags)."""

from tests.support.stacks import REPO


def test_no_copy_of_the_dag_helper_in_the_dags_folder():
    assert not list((REPO / "dags").rglob("airflow_kit")), "dags/ must not carry a copy of airflow_kit"
    assert not list((REPO / "dags").rglob("airflow_kit_platform"))
