"""Read the stack's config from the Pulumi runtime: the only module that touches pulumi.Config.

Data flows one way: stack file -> here (raw values, secrets as Outputs) -> settings ->
builders -> resources. Secret keys are never decoded into the settings.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
from pulumi.runtime import config as runtime_config

from airflow_kit_platform.config_reader import PROJECT, ConfigError
from airflow_kit_platform.settings import SECRET_KEYS


def _all_project_keys() -> list[str]:
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{PROJECT}:"
    return sorted(key[len(prefix):] for key in keys if key.startswith(prefix))


def _decode(text: Any) -> Any:
    """Structured values arrive as JSON text; plain strings stay strings."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_stack_config() -> tuple[str, dict[str, Any], frozenset[str]]:
    stack = pulumi.get_stack()
    raw: dict[str, Any] = {}
    secret_keys = set()
    for key in _all_project_keys():
        full_key = f"{PROJECT}:{key}"
        if key in SECRET_KEYS:
            if not runtime_config.is_config_secret(full_key) and full_key not in runtime_config.get_config_secret_keys_env():
                raise ConfigError(stack, key, "(plain text)",
                                  f"must be stored encrypted: pulumi config set --secret {key} <value>")
            secret_keys.add(key)
            continue
        raw[key] = _decode(runtime_config.get_config(full_key))
    return stack, raw, frozenset(secret_keys)


def read_secrets() -> dict[str, Optional[pulumi.Output]]:
    config = pulumi.Config(PROJECT)
    return {key: config.get_secret(key) for key in SECRET_KEYS}
