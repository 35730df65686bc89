"""Fixtures for the workloads tests; the cases themselves live in workload_cases.py."""

from __future__ import annotations

import pytest

from airflow_kit_platform.settings import Settings
from workload_cases import MARK_STYLES, make_settings


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture(params=sorted(MARK_STYLES))
def style(request) -> str:
    return request.param
