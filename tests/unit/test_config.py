"""Configuration precedence (flags > OMS_* env > TOML file > defaults) and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from openoms.config import Config, ConfigError, load


def test_defaults_are_the_embedded_setup() -> None:
    config = load(environ={})
    assert (config.host, config.port, config.data_dir, config.durability) == ("127.0.0.1", 8000, Path("oms-data"), "group")
    assert config.journal_path == Path("oms-data/journal.sqlite")


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    file = tmp_path / "oms.toml"
    file.write_text('port = 8100\nhost = "0.0.0.0"\ndurability = "relaxed"\n[oms]\nseed = 11\n')
    config = load(file, environ={"OMS_PORT": "8200", "OMS_MARKET_DATA": "false"}, overrides={"port": 8300, "host": None})
    assert config.port == 8300  # flag
    assert config.market_data is False  # env
    assert config.host == "0.0.0.0" and config.durability == "relaxed" and config.seed == 11  # file
    assert load(file, environ={"OMS_PORT": "8200"}).port == 8200


def test_config_file_from_environment(tmp_path: Path) -> None:
    file = tmp_path / "oms.toml"
    file.write_text('data_dir = "/var/lib/openoms"\n')
    assert load(environ={"OMS_CONFIG": str(file)}).data_dir == Path("/var/lib/openoms")


@pytest.mark.parametrize(
    ("content", "environ", "message"),
    [
        ("port = 0\n", {}, "port must be 1-65535"),
        ('durability = "sometimes"\n', {}, "durability must be one of"),
        ('log_format = "xml"\n', {}, "log_format must be one of"),
        ("colour = 1\n", {}, "unknown setting 'colour'"),
        ("port = [\n", {}, "oms.toml"),
        ("", {"OMS_PORT": "eighty"}, "OMS_PORT: cannot use 'eighty' as int"),
        ("", {"OMS_MARKET_DATA": "maybe"}, "OMS_MARKET_DATA"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, content: str, environ: dict[str, str], message: str) -> None:
    file = tmp_path / "oms.toml"
    file.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load(file, environ=environ)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.toml", environ={})


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Config().port = 1  # type: ignore[misc]


def test_schedule_times_are_validated(tmp_path: Path) -> None:
    assert load(environ={"OMS_END_OF_DAY_UTC": "21:00"}).end_of_day_utc == "21:00"
    for bad in ("9pm", "24:00", "21:60", "2100"):
        with pytest.raises(ConfigError, match="end_of_day_utc must be HH:MM"):
            load(environ={"OMS_END_OF_DAY_UTC": bad})


def test_schedule_crossing_is_detected_once_including_across_midnight() -> None:
    from openoms.bootstrap import crossed

    day = 1_780_012_800 * 10**9  # a UTC midnight
    minute = 60 * 10**9
    at_21 = day + 21 * 60 * minute
    assert crossed("21:00", at_21 - minute, at_21)
    assert not crossed("21:00", at_21, at_21 + minute)  # already past: fires once
    assert not crossed("21:00", at_21 - 2 * minute, at_21 - minute)
    assert not crossed("", at_21 - minute, at_21)
    midnight = day + 24 * 60 * minute
    assert crossed("00:00", midnight - minute, midnight + minute)
    assert crossed("23:59", midnight - 2 * minute, midnight + minute)


def test_database_url_selects_postgresql_and_must_be_one(tmp_path: Path) -> None:
    assert load(environ={}).database_url == ""  # SQLite in data_dir
    url = "postgresql://oms@db:5432/openoms"
    assert load(environ={"OMS_DATABASE_URL": url}).database_url == url
    file = tmp_path / "oms.toml"
    file.write_text(f'database_url = "{url}"\n')
    assert load(file, environ={}, overrides={"database_url": "postgres://other/db"}).database_url == "postgres://other/db"
    with pytest.raises(ConfigError, match="database_url must be empty"):
        load(environ={"OMS_DATABASE_URL": "sqlite:///x.db"})
