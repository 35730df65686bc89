"""The real charts of the reference data (../shared/reference/charts) the tiers install or render."""

from __future__ import annotations

import pathlib

import pytest

from airflow_kit_platform import versions
from tests.support.reference import reference_dir


def airflow_chart_package() -> pathlib.Path:
    package = reference_dir() / "charts" / f"airflow-{versions.AIRFLOW_CHART_VERSION}.tgz"
    if not package.exists():
        pytest.skip(f"{package} missing")
    return package
