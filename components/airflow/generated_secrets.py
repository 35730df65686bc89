"""Secrets generated once and kept in Pulumi state, with no provider plugin to install.

A Pulumi dynamic resource: its provider is served by the Python SDK the program already runs on
(`pulumi-resource-pulumi-python`), so air-gapped machines and clusters whose plugin source is
unreachable need nothing more. The value is generated when the resource is created, kept
encrypted in state (`additional_secret_outputs`) and never changes afterwards: a second
`pulumi up` shows no change. Changing the kind or length replaces it (a new value).
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

ALPHANUMERIC = string.ascii_letters + string.digits
KINDS = ("alphanumeric", "fernet")
_SHAPE = ("kind", "length")


def generate(kind: str, length: int) -> str:
    """A fresh value: `fernet` is a Fernet key (32 random bytes, URL-safe base64)."""
    if kind == "fernet":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if kind == "alphanumeric":
        return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))
    raise ValueError(f"unknown secret kind {kind!r}; allowed: {', '.join(KINDS)}")


class GeneratedSecretProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        value = generate(props["kind"], int(props["length"]))
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "value": value})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only the shape matters; the provider's own serialized code may differ between SDKs.
        changed = [key for key in _SHAPE if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)


class GeneratedSecret(Resource, module="airflow-kit", name="GeneratedSecret"):
    """`value`: generated on create, a Pulumi secret, stable for the resource's lifetime."""

    value: pulumi.Output[str]

    def __init__(self, name: str, *, kind: str = "alphanumeric", length: int = 32,
                 opts: Optional[pulumi.ResourceOptions] = None):
        if kind not in KINDS:
            raise ValueError(f"unknown secret kind {kind!r}; allowed: {', '.join(KINDS)}")
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"]))
        super().__init__(GeneratedSecretProvider(), name, {"kind": kind, "length": length, "value": None}, opts)
