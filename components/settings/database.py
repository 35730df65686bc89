"""The `database` block: the bundled Postgres or an external one behind pgbouncer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from airflow_kit_platform.config_reader import ConfigError, Section

DATABASE_MODES = ("bundled", "external")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFYING_SSL_MODES = ("verify-ca", "verify-full")  # libpq checks the server's certificate against a CA
SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class Database:
    mode: str = "bundled"
    host: Optional[str] = None
    # An external database's connection (the bundled one ignores them: no TLS, no PgBouncer).
    port: int = 5432
    name: str = "airflow"
    user: str = "airflow"
    sslmode: str = "require"
    pgbouncer: bool = True
    # A Secret in the stack's namespace whose `ca.crt` signed the database's certificate: what
    # `verify-ca` and `verify-full` check against (pgbouncer's server side, or Airflow's clients).
    ca_secret: Optional[str] = None


def read_database(section: Section, secret_keys: frozenset[str]) -> Database:
    mode = section.choice("mode", DATABASE_MODES, Database.mode)
    if mode == "bundled":
        database = Database(mode=mode)
        section.finish()
        return database
    database = Database(
        mode=mode,
        host=section.string("host"),
        port=section.integer("port", Database.port, minimum=1, maximum=65535),
        name=section.string("name", Database.name),
        user=section.string("user", Database.user),
        sslmode=section.choice("sslmode", list(SSL_MODES), Database.sslmode),
        pgbouncer=section.boolean("pgbouncer", Database.pgbouncer),
        ca_secret=section.string("caSecret", None, pattern=SECRET_NAME,
                                 pattern_help="must be a Secret name: lower-case letters, digits, '-' and '.'"),
    )
    section.finish()
    if database.sslmode in VERIFYING_SSL_MODES and database.ca_secret is None:
        raise section.error("caSecret", None, f"is required with sslmode {database.sslmode}: a Secret in the stack's "
                            "namespace whose key ca.crt is the CA that signed the database's certificate")
    if "dbPassword" not in secret_keys:
        raise ConfigError(section.stack, "dbPassword", None,
                          "is required as a secret for an external database: "
                          "pulumi config set --secret dbPassword <password>")
    return database
