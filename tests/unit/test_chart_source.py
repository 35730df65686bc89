"""Where the chart comes from, checked before anything is registered: one line naming the fix."""

from __future__ import annotations

import http.server
import threading

import pytest

from airflow_kit_platform import chart_source, versions
from airflow_kit_platform.settings import load_settings
from tests.support.stacks import stack_file_config
from tests.support.pulumi_harness import evaluate


def settings(stack: str, **airflow):
    config = stack_file_config(stack)
    config["airflow"] = {**config["airflow"], **airflow}
    return load_settings(stack, config)


def test_unreachable_repository_names_the_local_copy_and_the_command():
    problem = chart_source.chart_source_problem(
        settings("local"), exists=lambda path: path == ".charts/airflow-1.19.0.tgz",
        reachable=lambda url: "timed out")
    message = str(problem)
    assert "\n" not in message
    assert message.startswith("stack 'local': airflow-kit:airflow.chart.path")
    assert "https://airflow.apache.org is unreachable (timed out)" in message
    assert "pulumi config set --stack local --path airflow-kit:airflow.chart.path .charts" in message


def test_unreachable_repository_without_a_local_copy_says_where_to_put_one():
    message = str(chart_source.chart_source_problem(settings("local"), exists=lambda path: False,
                                                 reachable=lambda url: "Name or service not known"))
    assert "put airflow-1.19.0.tgz in .charts/" in message and "CHARTS_FROM" in message


def test_reachable_repository_or_no_chart_install_needs_nothing():
    assert chart_source.chart_source_problem(settings("local"), reachable=lambda url: None) is None
    never = lambda url: pytest.fail("the repository must not be probed")  # noqa: E731
    assert chart_source.chart_source_problem(settings("local", chart={"install": False}), reachable=never) is None


def test_missing_local_chart_path_is_one_line_naming_make_setup():
    problem = chart_source.chart_source_problem(settings("local-node"), exists=lambda path: False,
                                             reachable=lambda url: pytest.fail("a local chart needs no repository"))
    assert str(problem).startswith("stack 'local-node': airflow-kit:airflow.chart.path = '.charts': "
                                   "no such chart file or folder; `make setup` puts the packaged chart")
    assert chart_source.chart_source_problem(settings("local-node"), exists=lambda path: True) is None
    only_the_folder = chart_source.chart_source_problem(settings("local-node"), exists=lambda path: path == ".charts")
    assert "= '.charts': the folder holds no airflow-1.19.0.tgz;" in str(only_the_folder)


def test_a_folder_of_packages_gives_the_chart_of_the_stack_airflow_version():
    """`chart.path: .charts` follows `airflow.version`: an Airflow upgrade needs no stack edit."""
    assert chart_source.airflow_chart_path(settings("local-node"), exists=lambda path: False) == \
        chart_source.local_chart_package() == f".charts/airflow-{versions.AIRFLOW_CHART_VERSION}.tgz"
    assert chart_source.airflow_chart_path(settings("local", chart={"path": "/c/airflow-1.19.0.tgz"})) == \
        "/c/airflow-1.19.0.tgz"
    unpacked = settings("local", chart={"path": "/c/airflow"})
    assert chart_source.airflow_chart_path(unpacked, exists=lambda path: path == "/c/airflow/Chart.yaml") == "/c/airflow"


class _Index(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_HEAD(self):  # noqa: N802
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status,reachable", [(200, True), (403, True), (404, False), (503, False)])
def test_repository_probe_over_http(status, reachable):
    handler = type("Index", (_Index,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        error = chart_source.repository_error(f"http://127.0.0.1:{server.server_port}", timeout=5)
    finally:
        server.shutdown()
    assert (error is None) is reachable, error


def test_repository_probe_reports_a_refused_connection():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Index)
    port = server.server_port
    server.server_close()  # nothing listens there now
    assert "refused" in chart_source.repository_error(f"http://127.0.0.1:{port}", timeout=5).lower()


def test_program_stops_before_registering_anything(monkeypatch):
    """The check runs inside the program: no resource exists when it fails."""
    from airflow_kit_platform import program

    monkeypatch.setattr(chart_source, "repository_error", lambda url, timeout=0: "timed out")
    monkeypatch.setattr(program, "run", lambda preflight=True, _run=program.run: _run(preflight=True))
    result = evaluate("local", stack_file_config("local"))
    assert result.error is not None and "unreachable (timed out)" in str(result.error)
    assert result.resources == []
