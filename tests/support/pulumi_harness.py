"""Evaluate the real Pulumi program under mocks and record what it registers."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import pulumi

from airflow_kit_platform.airflow.generated_secrets import GeneratedSecretProvider

PROJECT = "airflow-kit"
SECRET_VALUE = "s3cr3t-from-config"
GENERATED_SECRET = "pulumi-python:dynamic/airflow-kit:GeneratedSecret"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == GENERATED_SECRET:  # the dynamic provider's own create, as the engine would call it
            outputs = GeneratedSecretProvider().create(dict(args.inputs)).outs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@dataclass
class Evaluation:
    stack: str
    resources: list = field(default_factory=list)
    platform: Any = None
    error: Optional[BaseException] = None
    seconds: float = 0.0

    def of_type(self, typ: str) -> list:
        return [r for r in self.resources if r.typ == typ]

    def named(self, typ: str, name: str):
        matches = [r for r in self.resources if r.typ == typ and r.name == name]
        assert len(matches) == 1, f"expected one {typ} named {name}, got {[r.name for r in self.of_type(typ)]}"
        return matches[0]

    def types(self) -> list[str]:
        return sorted(r.typ for r in self.resources)


def _encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def evaluate(stack: str, config: dict, secrets: Iterable[str] = ()) -> Evaluation:
    """Run airflow_kit_platform.program.run() for `stack` with `config` (keys without the project prefix)."""
    from airflow_kit_platform import program

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    all_config = {f"{PROJECT}:{key}": _encode(value) for key, value in config.items()}
    secret_keys = [f"{PROJECT}:{key}" for key in secrets]
    for key in secrets:
        all_config.setdefault(f"{PROJECT}:{key}", SECRET_VALUE)
    pulumi.runtime.set_all_config(all_config, secret_keys)
    result = Evaluation(stack=stack, resources=mocks.resources)
    started = time.perf_counter()

    @pulumi.runtime.test
    def run_program():
        result.platform = program.run(preflight=False)  # no network, no chart files

    try:
        run_program()
    except Exception as error:  # the program's own errors are results, not test crashes
        result.error = error
    result.seconds = time.perf_counter() - started
    return result


def resolve(output: pulumi.Output) -> tuple[Any, bool]:
    """Value and secretness of an Output created under mocks."""
    async def read():
        return await output.future(), await output.is_secret()

    return asyncio.get_event_loop().run_until_complete(read())
