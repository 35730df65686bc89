"""Escape hatches: chart values and airflow.cfg options the kit does not set, merged under its own.

A stack may add any value a chart takes (`airflow.chartValues`, `scheduler.chartValues`,
`queue.chartValues`, `keda.chartValues`) and any airflow.cfg option (`airflow.config`:
section -> option -> value): ingress, metrics, component resources, PDBs. The kit's own values
win by construction: setting a key the kit sets is refused with the key the kit derives it from,
because a silent override would undo a guarantee (quota waits, pod templates, secrets) the kit
checks elsewhere.
"""

from __future__ import annotations

from typing import Any, Mapping

from airflow_kit_platform.config_reader import ConfigError


def merge_under(kit: Mapping[str, Any], extra: Mapping[str, Any], *, stack: str, key: str,
                owner_hint: str = "") -> dict[str, Any]:
    """`kit` with `extra` added; a key of `extra` that the kit already sets raises ConfigError.

    Mappings merge key by key; anything else (a scalar, a list) the kit sets belongs to the kit.
    `key` is the stack key of `extra` (e.g. `airflow.chartValues`), named in the error.
    """
    merged = dict(kit)
    for name, value in extra.items():
        path = f"{key}.{name}"
        if name not in kit:
            merged[name] = value
        elif isinstance(kit[name], Mapping) and isinstance(value, Mapping):
            merged[name] = merge_under(kit[name], value, stack=stack, key=path, owner_hint=owner_hint)
        else:
            raise ConfigError(stack, path, value,
                              f"the kit sets this value ({kit[name]!r}){owner_hint}: drop it from the "
                              "passthrough, or change the kit setting that produces it")
    return merged
