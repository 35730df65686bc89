"""Where the Airflow chart comes from: the pinned repository, or a packaged copy in `.charts/`.

`check` runs in the program before anything is registered: a chart repository that cannot be
reached, or a local chart path that does not exist, would otherwise fail deep inside the engine
(a Helm error on the Chart resource after the namespace and secrets were created). Each problem
is one line naming the stack, the key and the fix.

`python -m airflow_kit_platform.chart_source fetch [--from DIR]` (run by `make setup`) puts the pinned
chart package in `.charts/`: copied from DIR (an air-gapped mirror of packaged charts) when it
has it, else downloaded from the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import urllib.error
import urllib.request
from typing import Callable, Optional

from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.settings import Settings

CHART_PATH_KEY = "airflow.chart.path"
# Where `make setup` keeps packaged charts for clusters and machines without the chart repository.
LOCAL_CHARTS_DIR = ".charts"
REPOSITORY_TIMEOUT_SECONDS = 8


def local_chart_package(chart: str = "airflow", version: str = versions.AIRFLOW_CHART_VERSION,
                        folder: str = LOCAL_CHARTS_DIR) -> str:
    return os.path.join(folder, f"{chart}-{version}.tgz")


def airflow_chart_path(settings: Settings, *, exists: Callable[[str], bool] = os.path.exists) -> Optional[str]:
    """The local chart `airflow.chart.path` names: a chart package (`.tgz`) or chart folder (with
    Chart.yaml) as given; any other folder (like `.charts`) holds packaged charts, and the one of the
    stack's Airflow version is used, so an Airflow upgrade needs no stack edit."""
    path = settings.airflow.chart_path
    if not path or path.endswith(".tgz") or exists(os.path.join(path, "Chart.yaml")):
        return path
    return local_chart_package(version=settings.airflow.chart_version, folder=path)


def repository_error(url: str, timeout: float = REPOSITORY_TIMEOUT_SECONDS) -> Optional[str]:
    """None when the chart repository answers its index; else why not, in a few words."""
    request = urllib.request.Request(f"{url.rstrip('/')}/index.yaml", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as error:
        return None if error.code < 500 and error.code != 404 else f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return str(reason) or type(reason).__name__


def chart_source_problem(settings: Settings, *, exists: Callable[[str], bool] = os.path.exists,
                         reachable: Optional[Callable[[str], Optional[str]]] = None) -> Optional[ConfigError]:
    """The chart the stack would install cannot be fetched: the error to stop with, else None."""
    reachable = reachable or repository_error
    airflow = settings.airflow
    if not airflow.install:
        return None
    package = f"airflow-{airflow.chart_version}.tgz"
    if airflow.chart_path:
        path = airflow_chart_path(settings, exists=exists)
        if exists(path):
            return None
        missing = ("no such chart file or folder" if path == airflow.chart_path or not exists(airflow.chart_path)
                   else f"the folder holds no {package}")
        return ConfigError(
            settings.stack, CHART_PATH_KEY, airflow.chart_path,
            f"{missing}; `make setup` puts the packaged chart in {LOCAL_CHARTS_DIR}/ "
            f"(from CHARTS_FROM or the chart repository {versions.AIRFLOW_CHART_REPO}), or point the key at "
            f"a copy of {package} or a folder holding it")
    problem = reachable(versions.AIRFLOW_CHART_REPO)
    if problem is None:
        return None
    local = local_chart_package(version=airflow.chart_version)
    fix = (f"pulumi config set --stack {settings.stack} --path airflow-kit:{CHART_PATH_KEY} {LOCAL_CHARTS_DIR}"
           if exists(local) else
           f"put {package} in {LOCAL_CHARTS_DIR}/ (`make setup CHARTS_FROM=<folder>`), "
           f"then `pulumi config set --stack {settings.stack} --path airflow-kit:{CHART_PATH_KEY} {LOCAL_CHARTS_DIR}`")
    return ConfigError(settings.stack, CHART_PATH_KEY, None,
                       f"the chart repository {versions.AIRFLOW_CHART_REPO} is unreachable ({problem}); "
                       f"install the chart from a local copy: {fix}")


def check(settings: Settings) -> None:
    """Raise the first problem found (ConfigError: one line, nothing registered yet)."""
    problem = chart_source_problem(settings)
    if problem is not None:
        raise problem


def fetch(charts_from: Optional[str], destination: str = LOCAL_CHARTS_DIR,
          repository: str = versions.AIRFLOW_CHART_REPO, version: str = versions.AIRFLOW_CHART_VERSION) -> str:
    """A chart package (the pinned one by default) in `destination` (kept when there); what was done."""
    name = os.path.basename(local_chart_package(version=version))
    target = os.path.join(destination, name)
    if os.path.exists(target):
        return f"{target} (already there)"
    os.makedirs(destination, exist_ok=True)
    if charts_from and os.path.exists(os.path.join(charts_from, name)):
        shutil.copyfile(os.path.join(charts_from, name), target + ".part")
        os.replace(target + ".part", target)
        return f"{target} (copied from {charts_from})"
    import yaml

    problem = repository_error(repository)
    if problem:
        raise OSError(f"{name} is neither in CHARTS_FROM={charts_from or '(unset)'} nor downloadable: the chart "
                      f"repository {repository} is unreachable ({problem}); `make setup CHARTS_FROM=<folder with {name}>`")
    with urllib.request.urlopen(f"{repository.rstrip('/')}/index.yaml", timeout=60) as response:
        index = yaml.safe_load(response)
    entry = next(e for e in index["entries"]["airflow"] if e["version"] == version)
    url = entry["urls"][0] if "://" in entry["urls"][0] else f"{repository.rstrip('/')}/{entry['urls'][0]}"
    with urllib.request.urlopen(url, timeout=120) as response, open(target + ".part", "wb") as out:
        shutil.copyfileobj(response, out)
    os.replace(target + ".part", target)
    return f"{target} (downloaded from {url})"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_kit_platform.chart_source")
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--from", dest="charts_from", default=None, help="a folder of packaged charts")
    args = parser.parse_args(argv)
    try:
        print(f"chart: {fetch(args.charts_from)}")
    except OSError as error:
        print(f"airflow-kit: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
