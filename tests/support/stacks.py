"""The repo's paths and stack files as the tiers read them."""

from __future__ import annotations

import pathlib

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
STACKS = sorted(path.name[len("Pulumi."):-len(".yaml")] for path in (REPO / "stacks").glob("Pulumi.*.yaml"))


def stack_file_config(stack: str) -> dict:
    """The `airflow-kit:` keys of stacks/Pulumi.<stack>.yaml, prefix removed."""
    data = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config = data.get("config") or {}
    return {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("airflow-kit:")}


def required_secrets(stack: str) -> list[str]:
    """The secret config keys a stack must have set: dbPassword for an external database."""
    external = (stack_file_config(stack).get("database") or {}).get("mode") == "external"
    return ["dbPassword"] if external else []
