"""The Pulumi program: stack config -> PlatformArgs -> Platform -> stack outputs.

Bad config, and a chart that cannot be fetched (components/chart_source.py), stop here with
`pulumi.RunError` (Pulumi prints the message without a traceback) before any resource is
registered.
"""

from __future__ import annotations

import os

import pulumi

from airflow_kit_platform.args import PlatformArgs
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.settings import Settings, load_settings
from airflow_kit_platform.stack_config import read_secrets, read_stack_config

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load() -> tuple[Settings, PlatformArgs]:
    """The stack file's settings (for the checks that reach outside) and the same as Platform's args."""
    try:
        stack, raw, secret_keys = read_stack_config()
        settings = load_settings(stack, raw, secret_keys)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    secrets = {key: value for key, value in read_secrets().items() if key in secret_keys}
    return settings, PlatformArgs.from_config(raw, stack=stack, secrets=secrets)


def run(preflight: bool = True):
    """`preflight=False` skips the checks that reach outside the program (the mocked unit tier)."""
    settings, args = load()
    from airflow_kit_platform import chart_source
    from airflow_kit_platform import preflight as cluster_preflight
    from airflow_kit_platform.platform import Platform  # imported late: config errors need none of it

    try:  # Platform builds its plans before it registers anything (backend rules)
        if preflight:
            chart_source.check(settings)
            cluster_preflight.check(settings)
        platform = Platform("airflow-kit", args)
    except (ConfigError, cluster_preflight.PreflightError) as error:
        raise pulumi.RunError(str(error)) from None
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
    write_exports(settings)
    return platform


def write_exports(settings: Settings) -> list[str]:
    """The files the backend hands to a cluster admin (ACK: the quota subtree to merge into the
    cluster's tree when the admin owns it), under the project folder; their paths."""
    from airflow_kit_platform.scheduling.plans import scheduling_exports

    written = []
    for relative, text in scheduling_exports(settings).items():
        path = os.path.join(PROJECT_DIR, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        written.append(path)
    return written
