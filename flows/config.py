"""Reading and validating marsad.toml.

The configuration is a TOML file (see marsad.toml at the repository root). Every error names the
file and the key, so a user can fix it without reading code. Single settings can be overridden
from the environment as ``MARSAD_<SECTION>__<KEY>`` (for example ``MARSAD_FETCH__TIMEOUT_S=5``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FEED_NAME = re.compile(r"^[a-z0-9_-]+$")
ENV_OVERRIDE = re.compile(r"^MARSAD_([A-Z0-9]+)__([A-Z0-9_]+)$")


class ConfigError(Exception):
    """The configuration file cannot be used; the message says which file, which key and why."""


@dataclass(frozen=True)
class WarehouseConfig:
    path: Path
    keep_raw_html: bool = True
    publish_path: Path | None = None
    lock_timeout_s: float = 30.0  # how long to retry while another process holds the file


@dataclass(frozen=True)
class ScheduleConfig:
    ingest: str = "*/15 * * * *"
    min_feed_interval_s: float = 300.0  # a busy feed is polled at most this often (with --due)
    max_feed_interval_s: float = 86400.0  # and a quiet one at least this often


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = "marsad/0.1 (+https://example.org/marsad)"
    timeout_s: float = 20.0
    max_feed_bytes: int = 10_000_000
    max_page_bytes: int = 5_000_000
    per_host_concurrency: int = 2
    allow_private: tuple[str, ...] = ()
    max_redirects: int = 5
    retries: int = 2
    page_retry_passes: int = 3
    respect_robots_txt: bool = True
    min_host_delay_s: float = 0.0
    concurrency: int = 32


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    source: str
    language: str | None = None
    timezone: str | None = None
    enabled: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")


@dataclass(frozen=True)
class Config:
    path: Path | None
    warehouse: WarehouseConfig
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    feeds: tuple[FeedConfig, ...] = ()

    def feed(self, name: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        raise ConfigError(
            f"{self._where()}: no feed named {name!r}; `marsad feeds list` shows them."
        )

    def _where(self) -> str:
        return str(self.path) if self.path else "configuration"


# Key -> (type, required). Types are checked, then converted.
_SECTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "warehouse": {
        "path": str,
        "keep_raw_html": bool,
        "publish_path": str,
        "lock_timeout_s": (int, float),
    },
    "schedule": {
        "ingest": str,
        "min_feed_interval_s": (int, float),
        "max_feed_interval_s": (int, float),
    },
    "fetch": {
        "user_agent": str,
        "timeout_s": (int, float),
        "max_feed_bytes": int,
        "max_page_bytes": int,
        "per_host_concurrency": int,
        "allow_private": list,
        "max_redirects": int,
        "retries": int,
        "page_retry_passes": int,
        "respect_robots_txt": bool,
        "min_host_delay_s": (int, float),
        "concurrency": int,
    },
}
_FEED_KEYS: dict[str, type] = {
    "name": str,
    "url": str,
    "source": str,
    "language": str,
    "timezone": str,
    "enabled": bool,
}
_POSITIVE = {
    "timeout_s",
    "max_feed_bytes",
    "max_page_bytes",
    "per_host_concurrency",
    "max_redirects",
    "concurrency",
}


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """The file `--config` defaults to: $MARSAD_CONFIG, else ./marsad.toml."""
    return Path(env.get("MARSAD_CONFIG") or "marsad.toml")


def load_config(path: Path | str, env: Mapping[str, str] = os.environ) -> Config:
    """Read, validate and return the configuration at `path`, with environment overrides applied.

    Raises ConfigError naming the file and the offending key for a missing or unreadable file,
    invalid TOML, an unknown key, a value of the wrong type, or a bad feed definition.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found; create it (see marsad.toml in the "
            "repository) or pass --config FILE."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there.") from None
    return parse_config(raw, path=path, env=env)


def parse_config(
    raw: Mapping[str, Any], *, path: Path | None = None, env: Mapping[str, str] = os.environ
) -> Config:
    """Validate an already-parsed TOML document; see load_config."""
    where = str(path) if path else "configuration"
    raw = _apply_env(dict(raw), env, where)
    for key in raw:
        if key not in _SECTIONS and key != "feeds":
            raise ConfigError(f"{where}: unknown section [{key}]; remove it or check the spelling.")
    sections = {name: _section(raw, name, where) for name in _SECTIONS}

    wh = sections["warehouse"]
    base = path.parent if path else Path.cwd()
    if "path" not in wh or not str(wh["path"]).strip():
        raise ConfigError(f'{where}: warehouse.path is required (e.g. "data/marsad.duckdb").')
    publish = wh.get("publish_path") or ""
    warehouse = WarehouseConfig(
        path=_resolve(base, wh["path"]),
        keep_raw_html=wh.get("keep_raw_html", True),
        publish_path=_resolve(base, publish) if publish else None,
        lock_timeout_s=float(wh.get("lock_timeout_s", 30.0)),
    )
    schedule = ScheduleConfig(**sections["schedule"])
    _check_schedule(schedule.ingest, where)
    if not 0 < schedule.min_feed_interval_s < schedule.max_feed_interval_s:
        raise ConfigError(
            f"{where}: schedule.min_feed_interval_s must be greater than 0 and less than "
            "schedule.max_feed_interval_s."
        )

    fetch_raw = dict(sections["fetch"])
    for key in _POSITIVE & fetch_raw.keys():
        if fetch_raw[key] <= 0:
            raise ConfigError(f"{where}: fetch.{key} must be greater than 0.")
    if "allow_private" in fetch_raw:
        items = fetch_raw["allow_private"]
        if not all(isinstance(item, str) for item in items):
            raise ConfigError(f"{where}: fetch.allow_private must be a list of hosts or CIDRs.")
        fetch_raw["allow_private"] = tuple(items)
    if "timeout_s" in fetch_raw:
        fetch_raw["timeout_s"] = float(fetch_raw["timeout_s"])
    fetch = FetchConfig(**fetch_raw)

    feeds = _feeds(raw.get("feeds", []), where)
    return Config(path=path, warehouse=warehouse, schedule=schedule, fetch=fetch, feeds=feeds)


def _section(raw: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    section = raw.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: [{name}] must be a table.")
    allowed = _SECTIONS[name]
    for key, value in section.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {name}.{key}; allowed: {', '.join(allowed)}.")
        _check_type(f"{name}.{key}", value, allowed[key], where)
    return dict(section)


def _feeds(items: Any, where: str) -> tuple[FeedConfig, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: feeds must be written as [[feeds]] tables.")
    feeds: list[FeedConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        label = f"feeds #{index}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: {label} must be a table.")
        for key, value in item.items():
            if key not in _FEED_KEYS:
                raise ConfigError(
                    f"{where}: unknown key {key!r} in {label}; allowed: {', '.join(_FEED_KEYS)}."
                )
            _check_type(f"{label}.{key}", value, _FEED_KEYS[key], where)
        for key in ("name", "url"):
            if not item.get(key):
                raise ConfigError(f"{where}: {label} needs a {key}.")
        name = item["name"]
        if not FEED_NAME.match(name):
            raise ConfigError(
                f"{where}: feed name {name!r} ({label}) may only use a-z, 0-9, '_' and '-'."
            )
        if name in seen:
            raise ConfigError(f"{where}: feed name {name!r} is used twice; names must be unique.")
        seen.add(name)
        if not re.match(r"^https?://[^/\s]+", item["url"], re.IGNORECASE):
            raise ConfigError(f"{where}: feeds.{name}.url must be an http(s) URL: {item['url']!r}.")
        zone = item.get("timezone")
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"{where}: feeds.{name}.timezone {zone!r} is not a known time zone "
                    '(use an IANA name such as "Asia/Baghdad").'
                ) from None
        feeds.append(
            FeedConfig(
                name=name,
                url=item["url"],
                source=item.get("source") or name,
                language=item.get("language"),
                timezone=zone,
                enabled=item.get("enabled", True),
            )
        )
    return tuple(feeds)


def _check_type(key: str, value: Any, expected: type | tuple[type, ...], where: str) -> None:
    types = expected if isinstance(expected, tuple) else (expected,)
    # bool is an int in Python; a flag is never a number here and vice versa.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{where}: {key} must be {names}, got {value!r}.")


def _check_schedule(value: str, where: str) -> None:
    from flows.schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(value)
    except ScheduleError as exc:
        raise ConfigError(f"{where}: schedule.ingest: {exc}") from None


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], where: str) -> dict[str, Any]:
    for name, text in env.items():
        match = ENV_OVERRIDE.match(name)
        if not match:
            continue
        section, key = match.group(1).lower(), match.group(2).lower()
        if section not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section {section!r} in environment override.")
        if key not in _SECTIONS[section]:
            raise ConfigError(f"{name}: unknown key {section}.{key} in environment override.")
        table = dict(raw.get(section, {}))
        table[key] = _env_value(text)
        raw[section] = table
    return raw


def _env_value(text: str) -> Any:
    """Environment values are read as TOML values when they parse (5, true, ["a"]), else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
