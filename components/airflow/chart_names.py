"""Every object name the kit shares with the official Airflow chart, in one place.

The chart derives its names from the release (chart 1.19.0, `templates/_helpers.yaml`):

* `airflow.fullname`: the release name, unless `useStandardNaming` (then `<release>-airflow`,
  or the release alone when it already contains `airflow`; 63 characters at most);
* `airflow_config`: the config ConfigMap `<fullname>-config` (it holds `airflow.cfg`, the only
  place a task pod gets `[core] execution_api_server_url`);
* `airflow.serviceAccountName`: like the standard fullname, but regardless of
  `useStandardNaming`; the worker ServiceAccount is `<that>-worker` (scheduler, triggerer,
  api-server alike);
* the API server Service `<fullname>-api-server` on port 8080.

The Secrets are the kit's own (the chart reads them by `*SecretName`, so it generates none).
Pod templates, chart values, pools and tests all take names from `ChartNames`; a test renders
the real chart and checks that every object a task pod template refers to exists.
"""

from __future__ import annotations

from dataclasses import dataclass

CHART_NAME = "airflow"
RELEASE = "airflow"
API_SERVER_PORT = 8080  # the chart's ports.apiServer


# The kit's logs volume claim (`airflow.logsVolume`), passed to the chart as
# `logs.persistence.existingClaim` and mounted by the kit's pod templates.
LOGS_VOLUME_CLAIM = "airflow-kit-logs"


class SecretNames:
    """Kubernetes Secrets the kit creates and the chart reads (keys in comments)."""

    fernet_key = "airflow-fernet-key"  # fernet-key
    api_secret_key = "airflow-api-secret-key"  # api-secret-key
    jwt_secret = "airflow-jwt-secret"  # jwt-secret
    metadata = "airflow-metadata"  # connection
    result_backend = "airflow-result-backend"  # connection
    broker_url = "airflow-broker-url"  # connection
    redis_password = "airflow-redis-password"  # password
    postgresql_auth = "airflow-postgresql-auth"  # postgres-password, password (bundled Bitnami chart)
    pgbouncer_config = "airflow-pgbouncer-config"  # pgbouncer.ini, users.txt
    pgbouncer_stats = "airflow-pgbouncer-stats"  # connection
    admin_password = "airflow-admin-password"  # password; passwords.json (SimpleAuthManager's users file)


def _truncate(name: str) -> str:
    return name[:63].rstrip("-")


def _release_with_chart_name(release: str) -> str:
    return _truncate(release if CHART_NAME in release else f"{release}-{CHART_NAME}")


@dataclass(frozen=True)
class ChartNames:
    """Names of the chart's objects for one release, by the chart's own rules."""

    release: str = RELEASE
    use_standard_naming: bool = False

    @property
    def fullname(self) -> str:
        return _release_with_chart_name(self.release) if self.use_standard_naming else self.release

    @property
    def config_configmap(self) -> str:
        return f"{self.fullname}-config"

    @property
    def worker_service_account(self) -> str:
        return f"{_release_with_chart_name(self.release)}-worker"

    @property
    def scheduler_service_account(self) -> str:
        return f"{_release_with_chart_name(self.release)}-scheduler"

    @property
    def triggerer_service_account(self) -> str:
        return f"{_release_with_chart_name(self.release)}-triggerer"

    @property
    def api_server_service_account(self) -> str:
        return f"{_release_with_chart_name(self.release)}-api-server"

    @property
    def migrate_database_job_service_account(self) -> str:
        return f"{_release_with_chart_name(self.release)}-migrate-database-job"

    @property
    def api_server_service(self) -> str:
        return f"{self.fullname}-api-server"

    def api_server_address(self, namespace: str) -> str:
        """host:port of the API server, resolvable from any namespace of the cluster."""
        return f"{self.api_server_service}.{namespace}:{API_SERVER_PORT}"

    def execution_api_url(self, namespace: str) -> str:
        # The chart's own default is the short Service name, which resolves only inside the
        # release's namespace; task pods in team namespaces need the namespaced name.
        return f"http://{self.api_server_address(namespace)}/execution/"


CHART = ChartNames()


# The `kubernetes_default` connection of every component and task pod: the cluster they run in.
# Without it the provider's async hook (deferrable KubernetesPodOperator and Job operators,
# resuming after their trigger) looks for a kubeconfig file and fails; the sync hook guesses
# in-cluster. Airflow reads env connections before the database: to point the id elsewhere,
# use another connection id.
KUBERNETES_DEFAULT_CONNECTION_ENV = {
    "name": "AIRFLOW_CONN_KUBERNETES_DEFAULT",
    "value": '{"conn_type": "kubernetes", "extra": {"in_cluster": true}}',
}
