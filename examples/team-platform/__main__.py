"""An Airflow platform for two teams of a data department, on a cluster reached through an explicit
provider: the airflow-kit-platform package used as a library, outside the kit's own stacks."""

import pulumi
import pulumi_kubernetes as k8s

from airflow_kit_platform import (AirflowArgs, ConcurrencyArgs, Platform, PlatformArgs, TaskResourcesArgs,
                                  TeamArgs)

config = pulumi.Config()
provider = k8s.Provider("target", kubeconfig=config.get("kubeconfig") or None)

platform = Platform(
    "airflow",
    PlatformArgs(
        namespace="analytics",
        teams=[
            TeamArgs(name="data", min={"cpu": "4", "memory": "16Gi"}, max={"cpu": "8", "memory": "32Gi"}),
            TeamArgs(name="etl", parent="data", min={"cpu": "2", "memory": "8Gi"}, max={"cpu": "6", "memory": "24Gi"},
                     task_resources=TaskResourcesArgs(cpu="500m", memory="2Gi")),
            TeamArgs(name="bi", parent="data", min={"cpu": "2", "memory": "8Gi"}, max={"cpu": "4", "memory": "16Gi"},
                     task_resources=TaskResourcesArgs(cpu="250m", memory="1Gi")),
        ],
        airflow=AirflowArgs(
            executors=["KubernetesExecutor"],
            auth_manager="simple",
            chart={"path": config.get("airflowChart")} if config.get("airflowChart") else None,
            concurrency=ConcurrencyArgs(max_active_tasks_per_dag=8),
            # Values the kit does not set, merged under its own (a key it sets would be refused).
            chart_values={"labels": {"cost-center": "analytics"}, **(config.get_object("chartValues") or {})},
            config={"logging": {"logging_level": "INFO"}},
        ),
    ),
    opts=pulumi.ResourceOptions(providers={"kubernetes": provider}),
)

pulumi.export("apiServerUrl", platform.api_server_url)
pulumi.export("adminCredentials", platform.admin_credentials)
pulumi.export("adminPassword", platform.admin_password)
pulumi.export("taskNamespaces", platform.task_namespaces)
pulumi.export("teams", platform.teams)
