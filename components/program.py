"""The Pulumi program: config -> settings -> Platform -> stack outputs.

Bad config, and a chart that cannot be fetched (components/chart_source.py), stop here with
`pulumi.RunError` (Pulumi prints the message without a traceback) before any resource is
registered.
"""

from __future__ import annotations

import pulumi

from components.config_reader import ConfigError
from components.settings import Settings, load_settings
from components.stack_config import read_secrets, read_stack_config


def load() -> Settings:
    try:
        stack, raw, secret_keys = read_stack_config()
        return load_settings(stack, raw, secret_keys)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None


def run(preflight: bool = True):
    """`preflight=False` skips the checks that reach outside the program (the mocked unit tier)."""
    settings = load()
    from components import chart_source
    from components.platform import Platform  # imported late: config errors need none of it

    try:  # Platform builds its plans before it registers anything (backend rules)
        if preflight:
            chart_source.check(settings)
        platform = Platform("airflow-kit", settings, given_secrets=read_secrets())
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
    return platform
