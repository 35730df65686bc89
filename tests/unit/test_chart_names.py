"""Names shared with the Airflow chart follow its _helpers.yaml rules (checked against the
real rendered chart in tests/contract/test_airflow_chart_render.py)."""

from airflow_kit_platform.airflow.chart_names import ChartNames


def test_default_release_names_match_the_chart():
    names = ChartNames()
    assert names.config_configmap == "airflow-config"
    assert names.worker_service_account == "airflow-worker"
    assert names.migrate_database_job_service_account == "airflow-migrate-database-job"
    assert names.api_server_service == "airflow-api-server"


def test_other_release_names_follow_the_naming_switch():
    plain = ChartNames(release="data")
    assert plain.config_configmap == "data-config"
    assert plain.worker_service_account == "data-airflow-worker"  # service accounts always add the chart name
    standard = ChartNames(release="data", use_standard_naming=True)
    assert standard.config_configmap == "data-airflow-config"
    assert standard.api_server_service == "data-airflow-api-server"


def test_execution_api_url_resolves_from_other_namespaces():
    assert ChartNames().execution_api_url("airflow") == "http://airflow-api-server.airflow:8080/execution/"
