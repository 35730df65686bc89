"""The Airflow release: its secrets (generated or given, always Pulumi secrets) and the chart."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from airflow_kit_platform import versions
from airflow_kit_platform.airflow import values as chart_values
from airflow_kit_platform.airflow.chart_names import API_SERVER_PORT, CHART, LOGS_VOLUME_CLAIM, RELEASE, SecretNames
from airflow_kit_platform.airflow.generated_secrets import GeneratedSecret
from airflow_kit_platform.airflow.logs_volume import logs_volume_objects
from airflow_kit_platform.airflow.worker_secrets import (
    WORKER_DELETE_TIMEOUT,
    is_celery_worker,
    keda_with_secret_authentication,
    without_metadata_secrets,
)
from airflow_kit_platform.chart_source import airflow_chart_path
from airflow_kit_platform.k8s_objects import create_object
from airflow_kit_platform.settings import Settings


class AirflowSecrets(pulumi.ComponentResource):
    """Fernet key, API and JWT secrets, DB and Redis passwords as Kubernetes Secrets.

    A value given in stack config (`pulumi config set --secret fernetKey ...`) wins;
    otherwise it is generated once (GeneratedSecret: no provider plugin needed) and kept in
    (encrypted) state.
    """

    def __init__(self, name: str, settings: Settings, given: Mapping[str, Optional[pulumi.Output]],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("airflow-kit:airflow:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def given_or(key: str, make) -> pulumi.Output[str]:
            value = given.get(key)
            return pulumi.Output.secret(value if value is not None else make())

        def generated(name: str, length: int = 24, kind: str = "alphanumeric") -> pulumi.Output[str]:
            return GeneratedSecret(name, kind=kind, length=length, opts=child).value

        fernet = given_or("fernetKey", lambda: generated("fernet-key", 32, kind="fernet"))
        api_key = given_or("apiSecretKey", lambda: generated("api-secret-key", 32))
        jwt = given_or("jwtSecret", lambda: generated("jwt-secret", 64))
        db_password = given_or("dbPassword", lambda: generated("postgres-password"))

        data: dict[str, dict[str, pulumi.Output[str]]] = {
            SecretNames.fernet_key: {"fernet-key": fernet},
            SecretNames.api_secret_key: {"api-secret-key": api_key},
            SecretNames.jwt_secret: {"jwt-secret": jwt},
            SecretNames.metadata: {"connection": db_password.apply(
                lambda pw: chart_values.metadata_connection(settings, pw))},
        }
        if settings.database.mode == "bundled":
            # Airflow connects as the database's owner (dbPassword); the superuser's password
            # is kept for the database image alone.
            data[SecretNames.postgresql_auth] = {
                chart_values.BUNDLED_DB_SUPERUSER_KEY: given_or(
                    "dbSuperuserPassword", lambda: generated("postgres-superuser-password")),
                chart_values.BUNDLED_DB_USER_KEY: db_password}
        if chart_values.uses_celery(settings):
            redis_password = given_or("redisPassword", lambda: generated("redis-password"))
            data[SecretNames.redis_password] = {"password": redis_password}
            data[SecretNames.broker_url] = {"connection": redis_password.apply(
                lambda pw: chart_values.broker_url(settings, pw))}
            data[SecretNames.result_backend] = {"connection": redis_password.apply(
                lambda pw: chart_values.result_backend_connection(settings, pw))}
        # The web admin's password (FAB's user job or SimpleAuthManager's users file).
        self.admin_password = given_or("adminPassword", lambda: generated("admin-password", 20))
        data[SecretNames.admin_password] = {chart_values.ADMIN_PASSWORD_KEY: self.admin_password}
        if settings.airflow.auth_manager == "simple":
            data[SecretNames.admin_password][chart_values.SIMPLE_AUTH_PASSWORDS_KEY] = \
                self.admin_password.apply(chart_values.simple_auth_passwords)
        if chart_values.uses_pgbouncer(settings):
            data[SecretNames.pgbouncer_config] = {
                "pgbouncer.ini": pulumi.Output.secret(chart_values.pgbouncer_ini(settings)),
                "users.txt": db_password.apply(lambda pw: chart_values.pgbouncer_users(settings, pw)),
            }
            data[SecretNames.pgbouncer_stats] = {"connection": db_password.apply(
                lambda pw: chart_values.pgbouncer_stats_connection(settings, pw))}

        self.secret_names = sorted(data)
        self.secrets = [
            k8s.core.v1.Secret(
                name,
                metadata={"name": name, "namespace": settings.namespace,
                          "labels": {"app.kubernetes.io/managed-by": "airflow-kit"}},
                type="Opaque",
                string_data={key: pulumi.Output.secret(value) for key, value in entries.items()},
                opts=child,
            )
            for name, entries in sorted(data.items())
        ]
        self.register_outputs({"secretNames": self.secret_names})


class AirflowRelease(pulumi.ComponentResource):
    """The official chart with the kit's values; secrets are created first and referenced by name."""

    def __init__(self, name: str, settings: Settings, *, given_secrets: Mapping[str, Optional[pulumi.Output]],
                 values: Mapping[str, Any], opts: Optional[pulumi.ResourceOptions] = None):
        """`values`: chart_values.build_values(...), built before anything is registered."""
        super().__init__("airflow-kit:airflow:Release", name, None, opts)
        self.values = dict(values)
        self.secrets = AirflowSecrets(f"{name}-secrets", settings, given_secrets,
                                      opts=pulumi.ResourceOptions(parent=self))
        chart_depends: list[pulumi.Resource] = [self.secrets]
        for manifest in logs_volume_objects(settings, settings.namespace):
            # The claim keeps the Pulumi name it always had: a new name would replace it (and its logs).
            name = LOGS_VOLUME_CLAIM if manifest["kind"] == "PersistentVolumeClaim" else None
            chart_depends.append(create_object(manifest, name=name, opts=pulumi.ResourceOptions(parent=self)))
        self.chart: Optional[k8s.helm.v4.Chart] = None
        if settings.airflow.install:
            if settings.airflow.chart_path:
                source: dict[str, Any] = {"chart": airflow_chart_path(settings)}
            else:
                source = {"chart": "airflow", "version": settings.airflow.chart_version,
                          "repository_opts": k8s.helm.v4.RepositoryOptsArgs(repo=versions.AIRFLOW_CHART_REPO)}
            self.chart = k8s.helm.v4.Chart(
                RELEASE,
                name=RELEASE,
                namespace=settings.namespace,
                values=self.values,
                **source,
                opts=pulumi.ResourceOptions(parent=self, depends_on=chart_depends,
                                            transforms=[keep_metadata_secrets_from_workers,
                                                        wait_out_worker_shutdown]),
            )
        self.api_server_service = f"{CHART.api_server_service}.{settings.namespace}.svc:{API_SERVER_PORT}"
        self.register_outputs({
            "chart": "airflow" if self.chart else None,
            "chartVersion": settings.airflow.chart_version if self.chart else None,
            "apiServerService": self.api_server_service,
        })


def _manifest(args: pulumi.ResourceTransformArgs) -> dict[str, Any]:
    """A chart object's props with its kind (the type token names it)."""
    return {**dict(args.props or {}), "kind": args.type_.rsplit(":", 1)[-1]}


def keep_metadata_secrets_from_workers(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    """The chart's objects as rendered, except the Celery workers' database and Fernet env and
    KEDA's trigger reading them (worker_secrets)."""
    manifest = _manifest(args)
    changed = without_metadata_secrets(manifest) or keda_with_secret_authentication(manifest)
    if changed is None:
        return None
    if "kind" not in (args.props or {}):
        del changed["kind"]
    return pulumi.ResourceTransformResult(props=changed, opts=args.opts)


def wait_out_worker_shutdown(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    """A Celery worker's warm shutdown may use its whole grace period (600 s, for a running task
    to finish; seen hanging so during destroy): Pulumi's 10 minute wait for its deletion would
    end with it and fail `pulumi destroy`."""
    if not is_celery_worker(_manifest(args)):
        return None
    return pulumi.ResourceTransformResult(props=args.props, opts=pulumi.ResourceOptions.merge(
        args.opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(delete=WORKER_DELETE_TIMEOUT))))
