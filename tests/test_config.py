"""Configuration: validation names the file and the key; environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import ConfigError, load_config, parse_config
from flows.schedule import ScheduleError, parse_schedule

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "marsad.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[warehouse]
path = "data/x.duckdb"

[[feeds]]
name = "one"
url = "http://127.0.0.1:9/feed.xml"
"""


def test_default_config_has_the_two_default_feeds() -> None:
    config = load_config(REPO / "marsad.toml", env={})
    assert [f.name for f in config.feeds] == ["aljazeera", "baghdadtoday"]
    assert config.feed("baghdadtoday").timezone == "Asia/Baghdad"
    assert config.warehouse.path == REPO / "data" / "marsad.duckdb"
    assert config.warehouse.publish_path is None
    assert config.fetch.allow_private == ()


def test_feed_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    feed = config.feed("one")
    assert feed.source == "one"  # source defaults to the name
    assert feed.enabled is True
    assert feed.language is None
    assert str(feed.zone) == "UTC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "colour = 1\n", "unknown key 'colour' in feeds #1"),
        (MINIMAL.replace("[warehouse]", "[warehouse]\nkeep_html = true"), "warehouse.keep_html"),
        (MINIMAL + '\n[fetch]\ntimeout_s = "soon"\n', "fetch.timeout_s must be int or float"),
        (MINIMAL + "\n[fetch]\nper_host_concurrency = 0\n", "fetch.per_host_concurrency must be"),
        (MINIMAL + "\n[fetch]\nallow_private = [1]\n", "fetch.allow_private"),
        (MINIMAL + "\n[extra]\na = 1\n", "unknown section [extra]"),
        (MINIMAL.replace('name = "one"', 'name = "One Feed"'), "may only use a-z"),
        (MINIMAL + '[[feeds]]\nname = "one"\nurl = "http://127.0.0.1/b"\n', "used twice"),
        (
            MINIMAL.replace('url = "http://127.0.0.1:9/feed.xml"', 'url = "ftp://x/y"'),
            "http(s) URL",
        ),
        (MINIMAL.replace('url = "http://127.0.0.1:9/feed.xml"', ""), "feeds #1 needs a url"),
        (MINIMAL + 'timezone = "Mars/Olympus"\n', "not a known time zone"),
        (MINIMAL + 'enabled = "no"\n', "feeds #1.enabled must be bool"),
        (MINIMAL + '\n[schedule]\ningest = "every so often"\n', "schedule.ingest"),
        ("[warehouse]\npath = \n", "not valid TOML"),
        ("[[feeds]]\nname='a'\nurl='http://127.0.0.1/'\n", "warehouse.path is required"),
    ],
)
def test_invalid_configuration_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", env={})


def test_environment_overrides_single_settings(tmp_path: Path) -> None:
    env = {
        "MARSAD_FETCH__TIMEOUT_S": "3.5",
        "MARSAD_FETCH__ALLOW_PRIVATE": '["127.0.0.1", "127.0.0.0/8"]',
        "MARSAD_WAREHOUSE__KEEP_RAW_HTML": "false",
        "MARSAD_FETCH__USER_AGENT": "tester/1",  # not TOML: taken as text
        "MARSAD_CONFIG": "ignored.toml",  # not a section override
    }
    config = load_config(write(tmp_path, MINIMAL), env=env)
    assert config.fetch.timeout_s == 3.5
    assert config.fetch.allow_private == ("127.0.0.1", "127.0.0.0/8")
    assert config.warehouse.keep_raw_html is False
    assert config.fetch.user_agent == "tester/1"


def test_environment_override_of_unknown_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MARSAD_FETCH__SPEED"):
        load_config(write(tmp_path, MINIMAL), env={"MARSAD_FETCH__SPEED": "9"})


def test_unknown_feed_name_is_reported() -> None:
    config = parse_config({"warehouse": {"path": "x.duckdb"}}, env={})
    with pytest.raises(ConfigError, match="no feed named 'nope'"):
        config.feed("nope")


@pytest.mark.parametrize(
    ("value", "cron", "seconds"),
    [
        ("*/15 * * * *", "*/15 * * * *", None),
        ("15m", None, 900),
        ("1h", None, 3600),
        ("2d", None, 172800),
    ],
)
def test_schedules(value: str, cron: str | None, seconds: int | None) -> None:
    schedule = parse_schedule(value)
    assert schedule.cron == cron
    assert (schedule.interval.total_seconds() if schedule.interval else None) == seconds


@pytest.mark.parametrize("value", ["10s", "* * *", "often", ""])
def test_bad_schedules(value: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(value)
