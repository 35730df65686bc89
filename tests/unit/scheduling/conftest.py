"""Fixtures for the scheduling tests: stack settings per style, their plans, Pulumi mocks."""

from __future__ import annotations

from typing import Callable

import pulumi
import pytest

from airflow_kit_platform.scheduling.backend import SchedulingPlan
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import Settings
from tests.support.scheduling_stacks import STYLES, settings_for


@pytest.fixture(params=STYLES)
def style(request) -> str:
    return request.param


@pytest.fixture
def settings_of() -> Callable[..., Settings]:
    return settings_for


@pytest.fixture
def plan_of() -> Callable[..., SchedulingPlan]:
    def build(style: str, **kwargs) -> SchedulingPlan:
        return scheduling_plan(settings_for(style, **kwargs))
    return build


@pytest.fixture
def koordinator_settings() -> Settings:
    return settings_for("koordinator")


@pytest.fixture
def volcano_settings() -> Settings:
    return settings_for("volcano")


@pytest.fixture
def default_settings() -> Settings:
    return settings_for("default")


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registered resource (type, name, inputs)."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list:
        return [r for r in self.resources if r.typ == typ]


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="airflow-kit", stack="test", preview=False)
    return recording
