"""Where the upstream reference data is, and the CRD schemas in it.

The reference folder sits beside the checkout (`<repo>/../shared/reference`, see its
README); `AIRFLOW_KIT_REFERENCE` points elsewhere. In a user's clone it is absent: tests
that need it skip with the reason, they never fail for it.

Import as `tests.contract.reference` (the repo root is on sys.path, as for `airflow_kit_platform`).
"""

from __future__ import annotations

import functools
import pathlib
import re
from typing import Any, Mapping, Optional

import pytest
import yaml

from repo_tools.harness import REFERENCE_VARIABLE as ENVIRONMENT_VARIABLE
from repo_tools.harness import reference_path


def reference_dir() -> pathlib.Path:
    """The reference folder, or skip the calling test with a clear reason."""
    path = reference_path()
    if not path.is_dir():
        pytest.skip(f"upstream reference data not found at {path} (it sits beside the checkout in CI; "
                    f"set {ENVIRONMENT_VARIABLE} to use another copy)")
    return path


def crd_dir() -> pathlib.Path:
    path = reference_dir() / "crds"
    if not path.is_dir():
        pytest.skip(f"no CRDs in the reference data at {path}")
    return path


@functools.lru_cache(maxsize=None)
def _crd_schemas(root: str) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema, over every CRD file under root."""
    schemas: dict[tuple[str, str], dict] = {}
    for path in sorted(pathlib.Path(root).rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, Mapping) or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec.get("versions", []):
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema is not None:
                    schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


# CRDs no project publishes, written by the kit from the documented fields (ACK's ElasticQuotaTree).
KIT_CRD_DIR = pathlib.Path(__file__).parent / "crds"


def kit_crd_schema(api_version: str, kind: str) -> dict:
    return _crd_schemas(str(KIT_CRD_DIR))[(api_version, kind)]


def crd_schema_of(manifest: Mapping) -> dict:
    """The schema for a manifest: the kit's own CRDs, else the upstream reference (skip when absent)."""
    own = _crd_schemas(str(KIT_CRD_DIR)).get((manifest["apiVersion"], manifest["kind"]))
    return own if own is not None else crd_schema(manifest["apiVersion"], manifest["kind"])


def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema of every reference CRD; skip when absent."""
    return _crd_schemas(str(crd_dir()))


def crd_schema(api_version: str, kind: str) -> dict:
    """The CRD schema of one custom resource type; skip when the reference lacks it."""
    schema = crd_schemas().get((api_version, kind))
    if schema is None:
        pytest.skip(f"no CRD for {kind} {api_version} in {crd_dir()}")
    return schema


def closed_schema(schema: Any) -> Any:
    """The schema as the API server applies it: unknown fields are not allowed.

    A structural CRD schema without `additionalProperties` prunes unknown fields silently;
    for a test that is a typo passing unnoticed, so every object schema with `properties`
    (and no `x-kubernetes-preserve-unknown-fields`) becomes closed.
    """
    if isinstance(schema, list):
        return [closed_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    closed = {key: closed_schema(value) for key, value in schema.items()}
    if ("properties" in closed and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")):
        closed["additionalProperties"] = False
    return closed


# --- object metadata the CRD schemas leave open (metadata is `type: object`) --------

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def metadata_problems(metadata: Mapping[str, Any], namespaced: bool) -> list[str]:
    """What the API server would refuse in `metadata` (names, label and annotation keys)."""
    problems: list[str] = []
    name: Optional[str] = metadata.get("name")
    if not name or len(name) > 253 or not _SUBDOMAIN.match(name):
        problems.append(f"name {name!r} is not a DNS subdomain")
    if namespaced and not metadata.get("namespace"):
        problems.append("namespaced object without a namespace")
    if not namespaced and metadata.get("namespace"):
        problems.append("cluster-scoped object with a namespace")

    def key_ok(key: str) -> bool:
        prefix, _, rest = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
            return False
        return 0 < len(rest) <= 63 and bool(_NAME.match(rest))

    for key, value in (metadata.get("labels") or {}).items():
        if not key_ok(key):
            problems.append(f"label key {key!r}")
        if not isinstance(value, str) or len(value) > 63 or (value and not _NAME.match(value)):
            problems.append(f"label {key}={value!r}")
    for key, value in (metadata.get("annotations") or {}).items():
        if not key_ok(key):
            problems.append(f"annotation key {key!r}")
        if not isinstance(value, str):
            problems.append(f"annotation {key} is not a string")
    return problems
