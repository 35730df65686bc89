"""A strict reader for nested stack config, and the one error type bad input raises.

Every key a stack may set is read through `Section`, which remembers what it handed out;
`Section.finish()` then rejects whatever was not read, with a did-you-mean. Errors name
the stack, the full key path, the bad value and what is allowed, so a platform engineer
never reads a traceback from inside a component.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, Mapping, Optional, Sequence

from airflow_kit_platform.quantities import canonical, parse_quantity

PROJECT = "airflow-kit"
_MISSING = object()
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DURATION = re.compile(r"^([0-9]+)(s|m|h)?$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


class ConfigError(ValueError):
    """Bad stack config, raised by the pure layer before any resource is created. The Pulumi layer
    (program.run, Platform) turns it into a pulumi.RunError: one line, no traceback."""

    def __init__(self, stack: str, key: str, value: Any, allowed: str):
        self.stack, self.key, self.value, self.allowed = stack, key, value, allowed
        shown = "(missing)" if value is _MISSING or value is None else repr(value)
        super().__init__(f"stack '{stack}': {PROJECT}:{key} = {shown}: {allowed}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Section:
    """One mapping of the stack config, read key by key."""

    def __init__(self, stack: str, path: str, data: Any):
        self.stack, self.path = stack, path
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(stack, path, data, "must be a mapping of keys to values")
        self.data = dict(data)
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(self.stack, self.key(name), value, allowed)

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self._read.add(name)
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.error(name, _MISSING, "is required")
            return default
        return value

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def section(self, name: str) -> "Section":
        self._read.add(name)
        return Section(self.stack, self.key(name), self.data.get(name))

    def string(self, name: str, default: Any = _MISSING, pattern: Optional[re.Pattern] = None,
               pattern_help: str = "") -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, value, "must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.error(name, value, pattern_help)
        return value

    def boolean(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.error(name, value, "must be true or false")

    def integer(self, name: str, default: Any = _MISSING, minimum: Optional[int] = None,
                maximum: Optional[int] = None) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        number = value
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int):
            raise self.error(name, value, _range_text("must be an integer", minimum, maximum))
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise self.error(name, value, _range_text("must be an integer", minimum, maximum))
        return number

    def number(self, name: str, default: Any = _MISSING, minimum: Optional[float] = None) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(name, value, _range_text("must be a number", minimum, None)) from None
        if minimum is not None and number < minimum:
            raise self.error(name, value, _range_text("must be a number", minimum, None))
        return number

    def duration(self, name: str, default: str, minimum_seconds: int = 1) -> int:
        """A duration like `90s`, `30m`, `6h` (or whole seconds), returned in seconds."""
        value = self.raw(name, default)
        match = DURATION.match(str(value).strip()) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        seconds = int(match.group(1)) * DURATION_UNITS[match.group(2) or "s"] if match else None
        if seconds is None or seconds < minimum_seconds:
            raise self.error(name, value, f"must be a duration like 90s, 30m or 6h, at least {minimum_seconds}s")
        return seconds

    def choice(self, name: str, allowed: Sequence[str], default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value in allowed or (value is None and default is None):
            return value
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise self.error(name, value, f"must be one of {', '.join(allowed)}{hint}")

    def quantity(self, name: str, default: Any = _MISSING, resource: Optional[str] = None) -> Any:
        """A Kubernetes quantity (kept as written); `resource` (default: the key) picks the byte rule."""
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        try:
            parse_quantity(value, resource or name)
        except ValueError as error:
            problem = str(error).removeprefix("expected ")
            raise self.error(name, value, f"must be {problem}") from None
        return canonical(value)

    def string_map(self, name: str) -> dict[str, str]:
        value = self.raw(name, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in value.items()
        ):
            raise self.error(name, value, "must be a mapping of strings to strings")
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}

    def mapping(self, name: str) -> dict[str, Any]:
        """A free-form mapping (chart values): only its shape is checked here."""
        value = self.raw(name, {})
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise self.error(name, value, "must be a mapping of keys to values")
        return dict(value)

    def config_sections(self, name: str) -> dict[str, dict[str, Any]]:
        """airflow.cfg options: section -> option -> a scalar value."""
        value = self.mapping(name)
        for section, options in value.items():
            if not isinstance(options, Mapping) or not all(
                    isinstance(option, str) and isinstance(v, (str, int, float, bool)) for option, v in options.items()):
                raise self.error(f"{name}.{section}", options,
                                 "must be a mapping of airflow.cfg options to values (section -> option -> value)")
        return {section: dict(options) for section, options in value.items()}

    def listing(self, name: str) -> list:
        value = self.raw(name, [])
        if not isinstance(value, list):
            raise self.error(name, value, "must be a list")
        return value

    def accept(self, *names: str) -> None:
        """Keys read elsewhere (or ignored on purpose): known to finish(), never refused."""
        self._read.update(names)

    def finish(self) -> None:
        """Reject keys nobody read: a typo must not silently fall back to a default."""
        known = sorted(self._read)
        for name in self.data:
            if name not in self._read:
                raise self.error(name, self.data[name],
                                 f"unknown key{did_you_mean(name, known)}; known keys: {', '.join(known)}")


def _range_text(what: str, minimum: Optional[float], maximum: Optional[float]) -> str:
    if minimum is not None and maximum is not None:
        return f"{what} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{what} >= {minimum}"
    return what

