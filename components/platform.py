"""The Platform: wires every part of one stack, in dependency order.

namespace -> scheduling backend (charts, then quotas/queues) -> job queue -> KEDA ->
pod templates -> Airflow (secrets, chart) -> pools. Each part is a thin component over
pure builders; this module only decides order and what is switched on.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from airflow_kit_platform.airflow.chart_names import SecretNames
from airflow_kit_platform.airflow.release import AirflowRelease
from airflow_kit_platform.airflow.values import ADMIN_PASSWORD_KEY, ADMIN_USER, build_values, uses_celery
from airflow_kit_platform.airflow.worker_secrets import keda_db_authentication
from airflow_kit_platform.args import PlatformArgs
from airflow_kit_platform.config_reader import ConfigError, did_you_mean
from airflow_kit_platform.k8s_objects import create_chart, create_object
from airflow_kit_platform.keda import keda_chart
from airflow_kit_platform.model.pod_security import STACK_NAMESPACE_LEVEL, namespace_labels, task_service_account
from airflow_kit_platform.queueing.layer import QueueLayer
from airflow_kit_platform.queueing.plans import queue_plan
from airflow_kit_platform.scheduling.layer import SchedulingLayer
from airflow_kit_platform.scheduling.plans import scheduling_outputs, scheduling_plan
from airflow_kit_platform.settings import SECRET_KEYS, Settings, load_settings
from airflow_kit_platform.workloads import team_namespaces
from airflow_kit_platform.workloads.launch_guard import celery_launch_guard
from airflow_kit_platform.workloads.network_policies import network_policies
from airflow_kit_platform.workloads.pod_templates import (
    default_pod_template_text,
    pod_templates_configmap,
    render_pod_templates,
)
from airflow_kit_platform.workloads.pools import PoolsSync


def resolve(args: PlatformArgs) -> tuple[Settings, dict]:
    """Validated settings and the secrets as Pulumi secrets."""
    stack = args.stack or pulumi.get_stack()
    for key in args.secrets:
        if key not in SECRET_KEYS:
            raise ConfigError(stack, f"secrets.{key}", "(secret)",
                              f"unknown secret{did_you_mean(key, SECRET_KEYS)}; known: {', '.join(SECRET_KEYS)}")
    settings = load_settings(stack, args.to_config(), frozenset(args.secrets))
    return settings, {key: pulumi.Output.secret(value) for key, value in args.secrets.items()}


class Platform(pulumi.ComponentResource):
    """One Airflow platform: Airflow's chart, the batch scheduler's queues and quotas, the team pod
    templates and pools. `args` (a Pulumi program's, or a stack file's through
    `PlatformArgs.from_config`) are validated before anything is registered. Explicit providers work as for
    any component: `opts=pulumi.ResourceOptions(providers={"kubernetes": provider})`."""

    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Every pure plan first, before this component registers: a rule only a backend, the
        # queue layer or the pod templates know (a reserved queue or quota name) stops the
        # program with nothing created, in one line (a RunError: Pulumi prints no traceback).
        try:
            settings, given_secrets = resolve(args)
            plan = scheduling_plan(settings)
            queues = queue_plan(settings, plan)
            keda = keda_chart(settings)
            files = render_pod_templates(settings, plan.pod_marks)
            configmap = pod_templates_configmap(settings, files)
            default_template = default_pod_template_text(settings, plan.pod_marks)
            airflow_values = build_values(settings, pod_template=default_template,
                                          extra_config=plan.airflow_config,
                                          pod_templates_configmap=configmap["metadata"]["name"])
        except ConfigError as error:
            raise pulumi.RunError(str(error)) from None

        super().__init__("airflow-kit:index:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The team quotas live in this namespace: deleting it would take the retained quotas
        # with it, so it is retained whenever queues and quotas are (scheduler.retainQueues).
        self.namespace = k8s.core.v1.Namespace(
            "namespace", metadata={"name": settings.namespace,
                                   "labels": {"app.kubernetes.io/part-of": "airflow-kit",
                                              **namespace_labels(STACK_NAMESPACE_LEVEL)}},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=settings.scheduler.retain_queues))
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        # Team namespaces come before the scheduling layer: a backend may place objects in them.
        self.team_namespaces = None
        if settings.team_namespaces:
            self.team_namespaces = team_namespaces.TeamNamespaces("team-namespaces", settings, configmap,
                                                                  opts=child)
            in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, self.team_namespaces])

        self.scheduling = SchedulingLayer("scheduling", settings, plan, opts=in_namespace,
                                          quota_labels=queues.quota_labels)

        self.queue = QueueLayer("queue", settings, queues,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, self.scheduling]))

        self.keda = create_chart(keda, opts=child) if keda else None

        self.pod_templates = create_object(configmap, opts=in_namespace)
        # In place before Airflow can start a task pod the policies restrict.
        self.network_policies = [create_object(policy, opts=in_namespace) for policy in network_policies(settings)]
        # In place before a Celery worker can take a task that launches pods (launch_guard).
        self.launch_guard = [create_object(manifest, opts=in_namespace) for manifest in celery_launch_guard(settings)]

        airflow_depends: list[pulumi.Resource] = [self.namespace, self.pod_templates, self.scheduling, self.queue,
                                                  *self.network_policies, *self.launch_guard]
        # Task pods in the stack's namespace run as an account without API rights (pod_security);
        # with team namespaces too, for tasks that name no team (the chart's default template).
        airflow_depends.append(create_object(task_service_account(settings.namespace), opts=in_namespace))
        if self.keda is not None:
            airflow_depends.append(self.keda)
        if uses_celery(settings) and settings.keda.enabled:
            # KEDA's database query authenticated from the metadata Secret, not the workers' env.
            keda_ready = [self.namespace] + ([self.keda] if self.keda is not None else [])
            airflow_depends.append(create_object(keda_db_authentication(settings.namespace),
                                                 opts=pulumi.ResourceOptions(parent=self, depends_on=keda_ready)))
        self.airflow = AirflowRelease(
            "airflow", settings,
            given_secrets=given_secrets,
            values=airflow_values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=airflow_depends))

        self.pools = PoolsSync("pools", settings, opts=pulumi.ResourceOptions(
            parent=self, depends_on=[self.airflow]))

        if self.team_namespaces is not None and self.airflow.chart is not None:
            team_namespaces.TeamAirflowConfig("team-airflow-config", self.team_namespaces, self.airflow.chart,
                                              opts=pulumi.ResourceOptions(parent=self, depends_on=[self.airflow]))

        installed = [chart.release for chart in plan.charts] + [chart.release for chart in queues.charts]
        if keda is not None:
            installed.append("keda")
        if settings.airflow.install:
            installed.append("airflow")
        # What a program needs from the platform, as attributes and stack outputs.
        self.api_server_url = f"http://{self.airflow.api_server_service}"  # in-cluster
        self.admin_user = ADMIN_USER
        self.admin_password: pulumi.Output[str] = self.airflow.secrets.admin_password
        self.admin_credentials = {"user": ADMIN_USER, "namespace": settings.namespace,
                                  "secret": SecretNames.admin_password, "passwordKey": ADMIN_PASSWORD_KEY}
        self.task_namespaces = settings.task_namespaces()
        self.teams = [team.name for team in settings.teams.leaves()]
        self.outputs: dict[str, Any] = {
            "namespace": settings.namespace,
            "apiServerService": self.airflow.api_server_service,
            "apiServerUrl": self.api_server_url,
            "adminCredentials": self.admin_credentials,
            "executors": settings.airflow.executor,
            "scheduler": settings.scheduler.backend,
            "schedulerName": settings.scheduler.scheduler_name,
            "queue": settings.queue.backend,
            "installedCharts": installed,
            "airflowVersion": settings.airflow.version,
            "airflowChartVersion": settings.airflow.chart_version,
            "teams": self.teams,
            "pools": [pool.name for pool in settings.all_pools()],
            "podTemplates": sorted(files),
            "taskNamespaces": self.task_namespaces,
        }
        self.outputs.update(scheduling_outputs(settings))
        # `pulumi stack output adminPassword --show-secrets`.
        self.outputs["adminUser"] = self.admin_user
        self.outputs["adminPassword"] = self.admin_password
        self.register_outputs(self.outputs)
