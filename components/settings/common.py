"""What every block of the stack settings shares: the secret keys, the top-level keys, name patterns."""

from __future__ import annotations

import re
from typing import Any, Mapping

from airflow_kit_platform.config_reader import Section

# Config keys that hold secrets; read with `pulumi config set --secret`.
# dbSuperuserPassword: the bundled database's superuser (Airflow connects as its own user, dbPassword).
SECRET_KEYS = ("dbPassword", "dbSuperuserPassword", "fernetKey", "apiSecretKey", "jwtSecret", "redisPassword",
               "adminPassword")

TOP_LEVEL_KEYS = ("namespace", "teamNamespaces", "airflow", "database", "keda", "scheduler", "queue", "teams",
                  "defaultTeam", "networkPolicies", "localDisk", "pools", "images") + SECRET_KEYS

PULL_POLICIES = ("Always", "IfNotPresent", "Never")

# `[registry[:port]/]path[:tag][@digest]`, the shape Kubernetes accepts in `image:`.
IMAGE_REFERENCE = re.compile(r"^[a-z0-9]([-a-z0-9._:]*[a-z0-9])?(/[a-z0-9._-]+)*(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?$")

STORAGE_CLASS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

SCHEDULER_NAME = STORAGE_CLASS_NAME  # the same DNS-subdomain shape

DNS_LABEL_MAX = 63  # a namespace name

DEFAULT_NAMESPACE = "airflow"


def chart_values_need_install(section: Section, values: Mapping[str, Any], installs: bool, when: str) -> None:
    if values and not installs:
        raise section.error("chartValues", values, f"applies only when the kit installs the chart ({when})")
