"""Fused worker image build contexts: Dockerfile content, shell syntax, and the command."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.workloads import helper_wheel
from airflow_kit_platform.workloads import pod_templates as pt
from airflow_kit_platform.workloads import worker_image as wi
from workload_cases import FULL_STACK, make_settings

REPO = pathlib.Path(__file__).resolve().parents[3]
DOCKERFILE_INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "COPY", "USER", "WORKDIR", "ENTRYPOINT", "CMD", "LABEL"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in dockerfile.splitlines()
                                             if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword, rest.strip()))
    return result


def teams_with_business_image(settings) -> dict[str, str]:
    return {team.name: team.business_image for team in settings.teams.leaves() if team.business_image}


def test_every_team_with_a_business_image_gets_a_context(settings):
    contexts = wi.build_contexts(settings)
    assert {c.team: c.business_image for c in contexts} == teams_with_business_image(settings) == {
        "etl": "registry.example.com/etl/base:2.3.1", "ml": "registry.example.com/ml/train-base:0.9.0"}
    by_team = {c.team: c for c in contexts}
    assert by_team["etl"].tag == "registry.example.com/etl/airflow-worker:2.3.1" and by_team["etl"].tag_from_config
    assert by_team["ml"].tag == f"registry.example.com/ml/train-base:0.9.0-airflow-{versions.AIRFLOW_VERSION}"
    assert not by_team["ml"].tag_from_config
    wheel = helper_wheel.wheel_name()
    assert wheel == "airflow_kit_dags-0.1.0-py3-none-any.whl"
    assert all(set(c.files) == {"Dockerfile", "README.md", wheel} for c in contexts)
    # The tag IS the image of the team's pods (pod templates and teams.json): derived when `image` is unset.
    for team in settings.teams.leaves():
        if team.business_image:
            assert pt.team_image(settings, team) == by_team[team.name].tag


def test_every_context_installs_the_dag_helper_offline(settings, tmp_path):
    """The helper's wheel is in each context and the Dockerfile installs it with no index; the wheel
    is reproducible and pip installs it (what `docker build` will do), importable as airflow_kit."""
    name, data = helper_wheel.build_wheel()
    assert helper_wheel.build_wheel() == (name, data)  # byte for byte: stable build contexts and cache keys
    for context in wi.build_contexts(settings):
        assert context.files[name] == data
        steps = instructions(context.files["Dockerfile"])
        assert ("COPY", f"{name} /tmp/airflow-kit/") in steps
        (install,) = [rest for keyword, rest in steps if keyword == "RUN" and name in rest]
        assert f"pip install --no-index --no-deps /tmp/airflow-kit/{name}" in install
        assert "pip check" in install and "import airflow_kit.names" in install
        # After Airflow and the providers (the helper's kubernetes dependency comes with them).
        assert steps.index(("COPY", f"{name} /tmp/airflow-kit/")) > next(
            i for i, (keyword, rest) in enumerate(steps) if keyword == "RUN" and "apache-airflow==" in rest)
        assert f"airflow-kit-dags` {helper_wheel.version()}" in context.files["README.md"]
    (tmp_path / name).write_bytes(data)
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                           "--target", str(target), str(tmp_path / name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    probe = ("import importlib.metadata, airflow_kit, airflow_kit.names as n; "
             "print(airflow_kit.__file__, importlib.metadata.version(n.DISTRIBUTION))")
    shown = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [str(target / "airflow_kit" / "__init__.py"), helper_wheel.version()]


def test_the_stacks_airflow_version_drives_the_fused_image(settings):
    """`airflow.version` picks a tested release: the fused image installs it and its tag follows."""
    older = [version for version in versions.TESTED_AIRFLOW_RELEASES if version != versions.AIRFLOW_VERSION]
    assert older, "versions.TESTED_AIRFLOW_RELEASES lists one release only"
    pinned = make_settings({"airflow": {"version": older[0]}})
    by_team = {c.team: c for c in wi.build_contexts(pinned)}
    assert by_team["ml"].tag == f"registry.example.com/ml/train-base:0.9.0-airflow-{older[0]}"
    assert by_team["etl"].tag == "registry.example.com/etl/airflow-worker:2.3.1"  # an explicit image stays
    dockerfile = by_team["ml"].files["Dockerfile"]
    assert f'"apache-airflow=={older[0]}"' in dockerfile and f"constraints-{older[0]}/" in dockerfile
    assert versions.AIRFLOW_VERSION not in dockerfile


def test_dockerfile_pins_airflow_providers_and_business_base(settings):
    for context in wi.build_contexts(settings):
        dockerfile = context.files["Dockerfile"]
        steps = instructions(dockerfile)
        assert {keyword for keyword, _ in steps} <= DOCKERFILE_INSTRUCTIONS
        assert ("ARG", f"BUSINESS_IMAGE={context.business_image}") in steps
        assert steps[-1] == ("ENTRYPOINT", '["dumb-init", "--"]')
        assert "CMD" not in {keyword for keyword, _ in steps}
        froms = [rest for keyword, rest in steps if keyword == "FROM"]
        assert froms[-1] == "${BUSINESS_IMAGE}"  # the final stage is the business image
        assert f'"apache-airflow=={versions.AIRFLOW_VERSION}"' in dockerfile
        for package in ("apache-airflow-providers-cncf-kubernetes", "apache-airflow-providers-celery", "celery"):
            assert f'"{package}=={versions.PYTHON_PACKAGES[package]}"' in dockerfile
        assert f"constraints-{versions.AIRFLOW_VERSION}/constraints-${{PYV}}.txt" in dockerfile
        assert "ARG AIRFLOW_CONSTRAINTS_URL=" in dockerfile
        assert "useradd --uid 50000 --gid 0" in dockerfile
        assert "ENV AIRFLOW_HOME=/opt/airflow" in dockerfile
        assert ("USER", "50000") in steps
        assert "pip check" in dockerfile
        assert "{{" not in dockerfile and "{%" not in dockerfile


def test_dags_are_copied_from_the_airflow_image_only_for_dag_source_image():
    git_sync = wi.build_contexts(make_settings())[0].files["Dockerfile"]
    assert "COPY --from=dags" not in git_sync and "AS dags" not in git_sync
    image = wi.build_contexts(make_settings({"airflow": {
        "dagSource": "image", "image": {"repository": "registry.example.com/airflow", "tag": "dags-42"}}}))
    dockerfile = image[0].files["Dockerfile"]
    steps = instructions(dockerfile)
    assert ("ARG", "DAGS_IMAGE=registry.example.com/airflow:dags-42") in steps
    assert ("FROM", "${DAGS_IMAGE} AS dags") in steps
    assert ("COPY", "--from=dags --chown=50000:0 /opt/airflow/dags/ /opt/airflow/dags/") in steps


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_run_steps_are_valid_shell(settings):
    for context in wi.build_contexts(settings):
        for keyword, script in instructions(context.files["Dockerfile"]):
            if keyword == "RUN":
                done = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
                assert done.returncode == 0, f"{context.team}: {done.stderr}\n{script}"


def test_python_check_accepts_supported_versions_only(settings):
    dockerfile = wi.build_contexts(settings)[0].files["Dockerfile"]
    check = re.search(r"python -c '(import sys; v = sys.version_info.*?)'", dockerfile).group(1)
    for version, ok in (((3, 10), False), ((3, 11), True), ((3, 13), True), ((3, 14), False)):
        code = check.replace("sys.version_info[:2]", repr(version))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert (done.returncode == 0) is ok, (version, done.stderr)


def test_default_constraints_url():
    assert wi.default_constraints_url("3.12") == (
        f"https://raw.githubusercontent.com/apache/airflow/constraints-{versions.AIRFLOW_VERSION}/constraints-3.12.txt")


@pytest.mark.parametrize("image, tag", [
    ("registry.example.com/etl/base:2.3.1", "registry.example.com/etl/base:2.3.1-airflow-{v}"),
    ("registry.example.com:5000/etl/base", "registry.example.com:5000/etl/base:latest-airflow-{v}"),
    ("python:3.12-slim@sha256:" + "a" * 64, "python:3.12-slim-airflow-{v}"),
])
def test_suggested_tag(image, tag):
    assert wi.suggested_tag(image) == tag.format(v=versions.AIRFLOW_VERSION)
    assert wi.suggested_tag(image, "3.1.7") == tag.format(v="3.1.7")


def test_readme_explains_build_and_one_pod_per_task(settings):
    readme = {c.team: c.files["README.md"] for c in wi.build_contexts(settings)}
    assert "docker build -t registry.example.com/etl/airflow-worker:2.3.1" in readme["etl"]
    assert "AIRFLOW_CONSTRAINTS_URL" in readme["etl"]
    assert "two pods per task" in readme["etl"]
    assert "teams[ml].image` is not set" in readme["ml"] and "it moves with `airflow.version`" in readme["ml"]


def _write_stack(directory: pathlib.Path, stack: str, raw: dict) -> None:
    config = {f"airflow-kit:{key}": value for key, value in raw.items()}
    config["airflow-kit:fernetKey"] = {"secure": "v1:AAAA"}  # secrets stay encrypted and unread
    config["kubernetes:context"] = "kind-kit"  # other projects' keys are ignored
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_command_writes_one_context_per_team(tmp_path, capsys):
    stacks = tmp_path / "stacks"
    _write_stack(stacks, "unit", FULL_STACK)
    out = tmp_path / "out"
    assert wi.main(["--stack", "unit", "--out", str(out), "--stacks-dir", str(stacks)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["etl", "ml"]
    for team, base in (("etl", "registry.example.com/etl/base:2.3.1"), ("ml", "registry.example.com/ml/train-base:0.9.0")):
        assert sorted(path.name for path in (out / team).iterdir()) == [
            "Dockerfile", "README.md", helper_wheel.wheel_name()]
        assert f"ARG BUSINESS_IMAGE={base}" in (out / team / "Dockerfile").read_text()
    captured = capsys.readouterr()
    lines = dict(line.split("\t")[0::2] for line in captured.out.splitlines())
    assert lines == {"etl": "registry.example.com/etl/airflow-worker:2.3.1",
                     "ml": "registry.example.com/ml/train-base:0.9.0-airflow-3.1.7".replace(
                         "3.1.7", versions.AIRFLOW_VERSION)}
    assert "teams[ml].image is not set: its pods run registry.example.com/ml/train-base:0.9.0-airflow-" in captured.err


def test_command_runs_as_a_module(tmp_path):
    stacks = tmp_path / "stacks"
    raw = dict(FULL_STACK)
    raw["teams"] = '[{"name": "solo", "min": {"cpu": "1", "memory": "1Gi"}, "max": {"cpu": "2", "memory": "2Gi"},' \
                   ' "image": "r.example.com/solo-worker:1", "businessImage": "r.example.com/solo:1"}]'  # JSON string
    raw["defaultTeam"] = "solo"
    _write_stack(stacks, "json", raw)
    done = subprocess.run([sys.executable, "-m", "airflow_kit_platform.workloads.worker_image", "--stack", "json",
                           "--out", str(tmp_path / "out"), "--stacks-dir", str(stacks)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\t")[0] == "solo" and done.stdout.strip().endswith("r.example.com/solo-worker:1")
    assert (tmp_path / "out" / "solo" / "Dockerfile").is_file()


def test_command_reports_bad_config_in_one_line(tmp_path):
    stacks = tmp_path / "stacks"
    _write_stack(stacks, "bad", {**FULL_STACK, "scheduler": {"backend": "kube-batch"}})
    done = subprocess.run([sys.executable, "-m", "airflow_kit_platform.workloads.worker_image", "--stack", "bad",
                           "--out", str(tmp_path / "out"), "--stacks-dir", str(stacks)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "scheduler.backend" in done.stderr


def test_command_with_the_kit_stacks(tmp_path):
    for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi."):-len(".yaml")]
        settings = wi.load_stack_settings(stack)
        contexts = wi.build_contexts(settings)
        assert {c.team for c in contexts} == set(teams_with_business_image(settings)), stack
