"""The `database` block: the bundled Postgres or an external one behind pgbouncer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from airflow_kit_platform.config_reader import ConfigError, Section

DATABASE_MODES = ("bundled", "external")


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
        sslmode=section.choice("sslmode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
                               Database.sslmode),
        pgbouncer=section.boolean("pgbouncer", Database.pgbouncer),
    )
    section.finish()
    if "dbPassword" not in secret_keys:
        raise ConfigError(section.stack, "dbPassword", None,
                          "is required as a secret for an external database: "
                          "pulumi config set --secret dbPassword <password>")
    return database
