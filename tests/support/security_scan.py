"""Scan what each stack deploys with Checkov and kube-score, beside the stock Airflow chart.

    python -m tests.support.security_scan --checkov PATH --kube-score PATH [--out DIR]

For every stack file: the kit's program runs under mocks, the real chart (../shared/reference/
charts) is rendered with the values it passes, and the chart's objects, the kit's own objects
and every team pod template (as a Pod) are scanned. The stock chart is rendered with its
default values. Prints a Markdown table: failures per workload (Deployments, StatefulSets,
Jobs, CronJobs, pod templates), so a stack with more components is not penalised. Neither
scanner is installed by `make setup` (`pip install checkov`, `go install
github.com/zegl/kube-score/cmd/kube-score@v1.20.0`).
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

import yaml

from repo_tools.harness import tool
from tests.support.charts import airflow_chart_package
from tests.support.pulumi_harness import evaluate
from tests.support.stacks import STACKS, required_secrets, stack_file_config

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
KIT_KINDS = {"kubernetes:core/v1:ConfigMap": "ConfigMap", "kubernetes:core/v1:ServiceAccount": "ServiceAccount",
             "kubernetes:rbac.authorization.k8s.io/v1:Role": "Role",
             "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": "RoleBinding",
             "kubernetes:networking.k8s.io/v1:NetworkPolicy": "NetworkPolicy", "kubernetes:core/v1:Namespace": "Namespace"}
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod", "DaemonSet")
TEMPLATES_CONFIGMAP = "airflow-kit-pod-templates"


def helm_template(values: dict[str, Any] | None, namespace: str, workdir: pathlib.Path) -> list[dict]:
    command = [tool("helm") or "helm", "template", "airflow", str(airflow_chart_package()), "--namespace", namespace]
    if values is not None:
        values_file = workdir / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        command += ["-f", str(values_file)]
    rendered = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def stack_objects(stack: str, workdir: pathlib.Path) -> list[dict]:
    """The chart's objects, the kit's and each team pod template, for one stack."""
    result = evaluate(stack, stack_file_config(stack), required_secrets(stack))
    if result.error is not None:
        raise SystemExit(f"stack {stack}: {result.error}")
    (chart,) = [r for r in result.resources if r.typ == CHART_TYPE and r.name == "airflow"]
    objects = helm_template(chart.inputs["values"], chart.inputs["namespace"], workdir)
    kit = [{"kind": KIT_KINDS[r.typ], "apiVersion": _api_version(r.typ), **r.inputs}
           for r in result.resources if r.typ in KIT_KINDS]
    for obj in kit:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == TEMPLATES_CONFIGMAP:
            for name, text in obj["data"].items():
                if name.endswith(".yaml"):
                    pod = yaml.safe_load(text)
                    pod["metadata"]["name"] = f"template-{name.removesuffix('.yaml').replace('_', '-')}"
                    pod["metadata"]["namespace"] = obj["metadata"]["namespace"]
                    objects.append(pod)
    return objects + kit


def _api_version(typ: str) -> str:
    group_version = typ.split(":")[1]
    return group_version.removeprefix("core/")


def workload_names(objects: list[dict]) -> list[str]:
    return [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects if obj.get("kind") in WORKLOADS]


def checkov_failures(checkov: str, folder: pathlib.Path) -> collections.Counter:
    """check id -> failures, over every object in the folder."""
    run = subprocess.run([checkov, "-d", str(folder), "--framework", "kubernetes", "-o", "json", "--quiet",
                          "--compact"], capture_output=True, text=True, timeout=900)
    report = json.loads(run.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failures: collections.Counter = collections.Counter()
    for item in reports:
        for check in item.get("results", {}).get("failed_checks", []):
            failures[check["check_id"]] += 1
    return failures


def kube_score_criticals(kube_score: str, file: pathlib.Path) -> collections.Counter:
    """check id -> objects graded CRITICAL."""
    run = subprocess.run([kube_score, "score", "--output-format", "json", str(file)], capture_output=True, text=True,
                         timeout=300)
    criticals: collections.Counter = collections.Counter()
    for obj in json.loads(run.stdout or "[]"):
        for check in obj.get("checks", []):
            if check.get("grade") == 1 and not check.get("skipped"):
                criticals[check["check"]["id"]] += 1
    return criticals


def scan(name: str, objects: list[dict], checkov: str, kube_score: str, out: pathlib.Path) -> dict[str, Any]:
    folder = out / "scan" / name.replace(" ", "-").replace("(", "").replace(")", "")
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "objects.yaml"
    file.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    workloads = workload_names(objects)
    return {"name": name, "workloads": len(workloads), "checkov": checkov_failures(checkov, folder),
            "kube_score": kube_score_criticals(kube_score, file)}


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| rendered | workloads | Checkov failed | per workload | kube-score critical | per workload |",
             "| --- | --- | --- | --- | --- | --- |"]
    for result in results:
        checkov, score, count = sum(result["checkov"].values()), sum(result["kube_score"].values()), result["workloads"]
        lines.append(f"| {result['name']} | {count} | {checkov} | {checkov / count:.1f} | {score} | "
                     f"{score / count:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", required=True)
    parser.add_argument("--kube-score", required=True)
    parser.add_argument("--out", type=pathlib.Path, default=None, help="keep the rendered files and reports here")
    options = parser.parse_args(argv)
    out = options.out or pathlib.Path(tempfile.mkdtemp(prefix="kit-scan-"))
    results = [scan("stock chart (defaults)", helm_template(None, "airflow", out), options.checkov,
                    options.kube_score, out)]
    for stack in STACKS:
        workdir = out / stack
        workdir.mkdir(parents=True, exist_ok=True)
        results.append(scan(f"stack {stack}", stack_objects(stack, workdir), options.checkov, options.kube_score, out))
    print(table(results))
    for result in results:
        print(f"\n{result['name']}: Checkov {dict(result['checkov'].most_common())}")
        print(f"{result['name']}: kube-score {dict(result['kube_score'].most_common())}")
    (out / "summary.json").write_text(json.dumps(results, indent=1, default=dict))
    print(f"\nfiles and reports: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
