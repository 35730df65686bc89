"""The Pulumi program: config -> settings -> Platform -> stack outputs.

Bad config stops here with `pulumi.RunError` (Pulumi prints the message without a
traceback) before any resource is registered.
"""

from __future__ import annotations

import pulumi

from components.config_reader import ConfigError
from components.settings import Settings, load_settings
from components.stack_config import read_secrets, read_stack_config


def load() -> Settings:
    try:
        stack, raw, secret_keys = read_stack_config()
        settings = load_settings(stack, raw, secret_keys)
        check_plans(settings)
        return settings
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None


def check_plans(settings: Settings) -> None:
    """Build every pure plan once before any resource exists: a rule only a backend, the queue
    layer, the pod templates or the chart values know (a reserved queue or quota name, a mark the
    chart would template) stops the program here, as one line, like a bad key."""
    from components.airflow.values import build_values
    from components.queueing.plans import queue_plan
    from components.scheduling.plans import scheduling_plan
    from components.workloads.pod_templates import render_pod_templates

    plan = scheduling_plan(settings)
    queue_plan(settings, plan)
    render_pod_templates(settings, plan.pod_marks)
    build_values(settings)


def run():
    settings = load()
    from components.platform import Platform  # imported late: config errors need none of it

    platform = Platform("airflow-kit", settings, given_secrets=read_secrets())
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
    return platform
