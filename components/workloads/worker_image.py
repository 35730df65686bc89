"""Docker build contexts for the fused worker images: a team's business image + Airflow.

The design and why: docs/fused-worker-images.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import jinja2
import yaml

from airflow_kit import names
from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import PROJECT
from airflow_kit_platform.model.pod_security import AIRFLOW_GID, AIRFLOW_UID
from airflow_kit_platform.model.teams import Team
from airflow_kit_platform.settings import SECRET_KEYS, Settings, load_settings
from airflow_kit_platform.workloads import helper_wheel
from airflow_kit_platform.workloads.pod_templates import AIRFLOW_HOME, fused_image_tag, team_image

REPO = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"
DUMB_INIT = f"dumb-init=={versions.AIRFLOW_IMAGE_PACKAGES['dumb-init']}"  # same init as the Airflow image
# apache-airflow 3.1.x supports python 3.10-3.13, but the pinned providers (cncf-kubernetes 10.25.0,
# celery 3.26.0) require python >= 3.11.
PYTHON_MIN = (3, 11)
PYTHON_MAX = (3, 13)
CONSTRAINTS_URL_PATTERN = ("https://raw.githubusercontent.com/apache/airflow/constraints-{airflow_version}/"
                           "constraints-{python_version}.txt")
# What the fused image installs (besides apache-airflow itself): the providers the executors need.
FUSED_PACKAGES = ("apache-airflow-providers-cncf-kubernetes", "apache-airflow-providers-celery", "celery")


@dataclass(frozen=True)
class BuildContext:
    team: str
    business_image: str
    tag: str
    tag_from_config: bool  # False: the team has no `image`, the tag is derived (fused_image_tag)
    files: Mapping[str, str | bytes]  # file name in the context -> text (the helper's wheel: bytes)


def default_constraints_url(python_version: str, airflow_version: str = versions.AIRFLOW_VERSION) -> str:
    """Upstream's constraints file for one Airflow version and python `X.Y`."""
    return CONSTRAINTS_URL_PATTERN.format(airflow_version=airflow_version, python_version=python_version)


def requirements(airflow_version: str = versions.AIRFLOW_VERSION) -> list[str]:
    """The pins the image installs on top of apache-airflow (versions.PYTHON_PACKAGES), then dumb-init."""
    pins = [f"apache-airflow=={airflow_version}"]
    pins += [f"{name}=={versions.PYTHON_PACKAGES[name]}" for name in FUSED_PACKAGES]
    return pins + [DUMB_INIT]


def suggested_tag(business_image: str, airflow_version: str = versions.AIRFLOW_VERSION) -> str:
    """`<business repo>:<business tag>-airflow-<version>`: the tag of teams whose `image` is not set."""
    return fused_image_tag(business_image, airflow_version)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def _template_values(settings: Settings, team: Team) -> dict[str, Any]:
    assert team.business_image
    airflow_version = settings.airflow.version  # the stack's pin: the chart and the Airflow image follow it too
    return {
        "stack": settings.stack,
        "teams": [team.name],
        "business_image": team.business_image,
        "tag": team_image(settings, team),
        "tag_from_config": team.image is not None,
        "dags_image": settings.airflow.image if settings.airflow.dag_source == "image" else None,
        "airflow_version": airflow_version,
        "requirements": requirements(airflow_version),
        "constraints_url_pattern": default_constraints_url("<python X.Y>", airflow_version),
        "helper_distribution": names.DISTRIBUTION,
        "helper_version": helper_wheel.version(),
        "helper_wheel": helper_wheel.wheel_name(),
        "python_min": PYTHON_MIN,
        "python_max": PYTHON_MAX,
        "python_min_text": "%d.%d" % PYTHON_MIN,
        "python_max_text": "%d.%d" % PYTHON_MAX,
        "airflow_home": AIRFLOW_HOME,
        "airflow_uid": AIRFLOW_UID,
        "airflow_gid": AIRFLOW_GID,
    }


def render_dockerfile(settings: Settings, team: Team) -> str:
    return _environment().get_template("Dockerfile.j2").render(**_template_values(settings, team))


def render_readme(settings: Settings, team: Team) -> str:
    return _environment().get_template("README.md.j2").render(**_template_values(settings, team))


def build_contexts(settings: Settings) -> list[BuildContext]:
    """One context per leaf team that has a business image (teams sharing one get one each:
    each team's `image` is its own tag, and the contexts are tiny)."""
    contexts = []
    wheel = None
    for team in settings.teams.leaves():
        if not team.business_image:
            continue
        wheel = wheel or helper_wheel.build_wheel()  # the same bytes in every context
        values = _template_values(settings, team)
        contexts.append(BuildContext(
            team=team.name, business_image=team.business_image, tag=values["tag"],
            tag_from_config=values["tag_from_config"],
            files={"Dockerfile": render_dockerfile(settings, team), "README.md": render_readme(settings, team),
                   wheel[0]: wheel[1]},
        ))
    return contexts


def write_contexts(contexts: Sequence[BuildContext], out: pathlib.Path) -> list[pathlib.Path]:
    written = []
    for context in contexts:
        directory = out / context.team
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in context.files.items():
            if isinstance(content, bytes):
                (directory / name).write_bytes(content)
            else:
                (directory / name).write_text(content)
        written.append(directory)
    return written


def stack_config(stack: str, stacks_dir: pathlib.Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The `airflow-kit:` keys of stacks/Pulumi.<stack>.yaml (prefix removed) and which are secrets.

    Values are decoded as `pulumi.Config.get_object` would: a string holding a JSON object or list
    becomes that object. Secure values are not decrypted, only noted as given.
    """
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise SystemExit(f"no stack file {path}; stacks: {', '.join(known) or 'none'}")
    data = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = {}
    secrets: set[str] = set()
    prefix = f"{PROJECT}:"
    for key, value in (data.get("config") or {}).items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            secrets.add(name)
            continue
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        raw[name] = value
    return raw, frozenset(secrets)


def load_stack_settings(stack: str, stacks_dir: Optional[pathlib.Path] = None) -> Settings:
    """The stack's settings, validated; secrets count as given (images need none of them, and a
    stack file may not hold them yet: `pulumi config set --secret` adds them later)."""
    raw, _ = stack_config(stack, stacks_dir or REPO / "stacks")
    return load_settings(stack, raw, frozenset(SECRET_KEYS))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_kit_platform.workloads.worker_image",
        description="Render one Docker build context per team with a businessImage (fused Airflow worker).")
    parser.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="directory to write the contexts into")
    parser.add_argument("--stacks-dir", type=pathlib.Path, default=REPO / "stacks")
    args = parser.parse_args(argv)
    settings = load_stack_settings(args.stack, args.stacks_dir)
    contexts = build_contexts(settings)
    if not contexts:
        print(f"stack {args.stack}: no team has a businessImage; nothing to build "
              f"(teams run {settings.airflow.image} or their own `image`)")
        return 0
    for context, directory in zip(contexts, write_contexts(contexts, args.out)):
        print(f"{context.team}\t{directory}\t{context.tag}")
        if not context.tag_from_config:
            print(f"  note: teams[{context.team}].image is not set: its pods run {context.tag} (its business "
                  f"image and Airflow {settings.airflow.version}); build and push this context under that tag",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # ConfigError and friends: one line, no traceback
        from airflow_kit_platform.config_reader import ConfigError

        if isinstance(error, ConfigError):
            sys.exit(f"error: {error}")
        raise
