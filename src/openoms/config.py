"""Configuration: the only module that reads environment variables or files.

Precedence, highest first: command-line flags, ``OMS_*`` environment variables, the TOML
config file (``--config`` or ``OMS_CONFIG``), then the defaults below.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from .fix.schedule import ScheduleError, calendar, weekday

DURABILITY_CHOICES = ("group", "event", "relaxed")
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FixSessionConfig:
    """One FIX client session of the acceptor, named as the client sees it."""

    sender_comp_id: str  # the client's SenderCompID(49)
    target_comp_id: str = "OPENOMS"  # ours: the client's TargetCompID(56)
    accounts: tuple[str, ...] = ("ACC-EQ-1",)  # the first is used when an order names no Account(1)
    user: str = "demo"  # the trader every command from this session is sent as
    port: int = 0  # 0: the acceptor's fix_port
    drop_copy: bool = False  # receives a copy of every ExecutionReport on its accounts; sends no orders
    # Daily session hours, "HH:MM" UTC (both or neither; start after end wraps midnight): logons
    # outside them are refused, the session is logged out at the end, and each day's session
    # starts again at sequence number 1.
    start_utc: str = ""
    end_utc: str = ""
    # Weekly instead of daily: the session opens on start_day at start_utc and closes on end_day
    # at end_utc (day names, "monday" or "mon"; both or neither, with the hours), one sequence
    # number series a week.
    start_day: str = ""
    end_day: str = ""
    # Closed dates (UTC), listed ("YYYY-MM-DD") and/or a financial calendar of the holidays
    # package (e.g. "XNYS"): no Logon, and a logged-on session is logged out. Need the hours.
    holidays: tuple[str, ...] = ()
    holiday_calendar: str = ""
    # Sent application messages kept for ResendRequests: the last N (0: all). A request for older
    # ones is answered with SequenceReset-GapFill over them.
    resend_keep: int = 0


@dataclass(frozen=True, slots=True)
class FixVenueConfig:
    """A FIX venue: OpenOMS connects as initiator and routes the listed instruments there."""

    venue_id: str
    port: int
    sender_comp_id: str = "OPENOMS"  # ours
    target_comp_id: str = "EXCH"  # the venue's
    host: str = "127.0.0.1"
    symbols: tuple[str, ...] = ()  # instruments routed to this venue instead of the simulated one
    heartbeat_s: int = 30
    reset_on_logon: bool = True  # ResetSeqNumFlag on every Logon (day sessions); false: sequence numbers persist
    cancel_on_disconnect: bool = False  # the venue cancels our orders when the session drops: book them canceled
    reconnect_s: float = 1.0


@dataclass(frozen=True, slots=True)
class FixMarketDataConfig:
    """A FIX 4.4 market-data provider: OpenOMS connects as initiator, sends one MarketDataRequest
    (35=V, snapshot plus updates) per instrument, and holds what it publishes (35=W/35=X) in the
    consolidated book as ``source``'s quotes."""

    source: str  # the venue (or feed) name its quotes carry in the consolidated book
    port: int
    symbols: tuple[str, ...]
    host: str = "127.0.0.1"
    sender_comp_id: str = "OPENOMS-MD"  # ours
    target_comp_id: str = "MDP"  # the provider's
    depth: int = 5  # MarketDepth(264): price levels per side
    heartbeat_s: int = 5
    # No message at all (not even a heartbeat) for this long and the source's quotes are stale;
    # 0: two heartbeat intervals. A disconnect makes them stale at once.
    stale_after_ms: int = 0
    reconnect_s: float = 1.0
    # Also the market pre-trade risk prices orders against and the simulated venue named
    # ``source`` (if any) matches against, as a replay is: the simulator stops quoting its symbols.
    reference: bool = False

    @property
    def stale_after_ns(self) -> int:
        return (self.stale_after_ms or 2 * self.heartbeat_s * 1000) * 1_000_000


DEMO_FIX_SESSION = FixSessionConfig("DEMO-CLIENT", "OPENOMS", ("ACC-EQ-1",), "demo")


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("oms-data")
    # The journal's store: empty for the embedded SQLite file in data_dir; a PostgreSQL URL
    # (postgresql://user:password@host:5432/dbname, libpq parameters such as
    # ?options=-csearch_path%3Doms allowed) for the PostgreSQL journal, migrated on open.
    database_url: str = ""
    # PostgreSQL only: when the database server goes away the engine refuses new commands and
    # reconnects (with backoff) for up to this many seconds, then resumes where it stopped; past
    # it, it fails closed until a restart. 0: fail closed at once.
    database_reconnect_s: float = 60.0
    # NATS server for scale-out (`oms serve --role engine|gateway|projector`): shards take their accounts'
    # commands from JetStream there. Empty: one process, no NATS.
    nats_url: str = ""
    # group: one fsync per batch of commands (default, never loses an acknowledged order);
    # event: one fsync per event (slow baseline); relaxed: fsync at checkpoints only
    # (survives a crash of the process, not of the machine).
    durability: str = "group"
    verify_on_start: bool = True  # check the whole hash chain while replaying
    default_user: str = "demo"  # trusted-header mode only: the user of calls without an X-OMS-User header
    # Trusted-header mode: the X-OMS-User header names the caller with no credential. Only for an
    # OMS behind something that authenticates for it (or tests); `oms serve` logs a warning with it.
    trust_user_header: bool = False
    session_ttl_minutes: int = 480  # a signed-in session (web blotter, `Authorization: Bearer`) lasts this long
    # Sign-in throttling: this many wrong passwords for one user name, or from one client address,
    # within the window refuse further sign-ins (429, Retry-After) until the oldest leaves it. 0: off.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_failure_window_seconds: int = 900
    # The WebSocket stream keeps this many recent updates so a client that reconnects resumes
    # where it stopped (older than that: it gets a fresh snapshot).
    stream_buffer: int = 100_000
    # permessage-deflate on WebSocket frames (the stream): less bandwidth, but compressing costs the
    # server more CPU per frame than anything else it does for a subscriber (benchmarks/README.md).
    ws_compression: bool = False
    market_data: bool = True  # run the built-in market data simulator
    market_data_interval_ms: int = 250
    seed: int = 7
    max_batch: int = 2048
    # Trading-day schedule in UTC ("HH:MM"; empty: no automatic close/open, use the admin API).
    # At the close DAY orders expire and GTC/GTD orders become DoneForDay; at the open they
    # are restated. GTD orders also expire on their own at their expire_at time.
    end_of_day_utc: str = ""
    start_of_day_utc: str = ""
    # How long a Python thread may hold the GIL before another may take it (CPython's default
    # is 5000 us). The journal writer thread needs the GIL back after every SQLite call; with
    # the default it queues behind the engine loop for milliseconds. 200 us doubled durable
    # throughput in benchmarks/engine_lifecycle.py. 0 leaves the interpreter's setting alone.
    gil_switch_interval_us: int = 200
    # Allocations between young-generation garbage collections (CPython's default is 700).
    # Every order allocates a few objects; at the default the collector runs every few orders
    # and its older-generation passes over a large book showed as 50 ms ack stalls. State
    # replayed at start is frozen out of collection altogether. 0 leaves the default alone.
    gc_threshold: int = 50_000
    # Pre-trade risk: the limits file (TOML; empty: the built-in demo limits) and how old the
    # market price may be before orders that need it are refused.
    limits_file: Path | None = None
    reference_max_age_ms: int = 5000
    # Routing: the rules file (TOML, see openoms/routing/rules.py; empty: every order goes to its
    # instrument's first venue unless it asks for "sor" or a venue), the three simulated
    # exchanges SIM-A/B/C beside SIM, and how old a venue's quote may be for the smart router.
    routing_file: Path | None = None
    sim_venues: bool = True
    sor_max_age_ms: int = 2000
    # Replay recorded venue quotes from CSV (openoms/marketdata/replay.py) at this speed
    # (1.0: as recorded, 0: as fast as possible), beside or instead of the simulator.
    replay_file: Path | None = None
    replay_speed: float = 1.0
    # After a restart, how long a venue that kept its state may take to answer the order status
    # requests before the engine fails closed (no new order is taken before it answers).
    venue_status_timeout_ms: int = 10_000
    # Post-trade: fee schedule, standing settlement instructions, netting and calendars (TOML;
    # empty: the built-in demo setup). What it changes is journaled at start.
    posttrade_file: Path | None = None
    log_level: str = "info"
    log_format: str = "text"  # text, or json: one JSON object per line with order ids (ops/logs.py)
    access_log: bool = False
    # FIX 4.4 client acceptor (openoms.api.fix_acceptor). Sessions come from [[fix.sessions]] in
    # the config file; with none, the demo session DEMO-CLIENT -> OPENOMS on account ACC-EQ-1.
    fix_enabled: bool = True
    fix_host: str = "127.0.0.1"
    fix_port: int = 9878
    fix_sessions: tuple[FixSessionConfig, ...] = (DEMO_FIX_SESSION,)
    fix_venues: tuple[FixVenueConfig, ...] = ()  # [[fix.venues]]: external venues reached over FIX
    # [[fix.market_data]] (or OMS_FIX_MARKET_DATA, a JSON list of the same tables): FIX 4.4
    # market-data providers whose quotes go into the consolidated book.
    fix_market_data: tuple[FixMarketDataConfig, ...] = ()

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite"

    def validate(self) -> Config:
        if self.durability not in DURABILITY_CHOICES:
            raise ConfigError(f"durability must be one of {', '.join(DURABILITY_CHOICES)}, got {self.durability!r}")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("database_url must be empty (SQLite in data_dir) or postgresql://...")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if self.market_data_interval_ms <= 0:
            raise ConfigError("market_data_interval_ms must be positive")
        for name in ("end_of_day_utc", "start_of_day_utc"):
            value = getattr(self, name)
            if value and parse_hhmm(value) is None:
                raise ConfigError(f"{name} must be HH:MM (UTC), got {value!r}")
        if self.reference_max_age_ms <= 0:
            raise ConfigError("reference_max_age_ms must be positive")
        if self.sor_max_age_ms <= 0:
            raise ConfigError("sor_max_age_ms must be positive")
        if self.replay_speed < 0:
            raise ConfigError("replay_speed must be >= 0 (0: as fast as possible)")
        if self.database_reconnect_s < 0:
            raise ConfigError("database_reconnect_s must be >= 0 (0: fail closed at once)")
        if self.replay_file is not None and not self.replay_file.is_file():
            raise ConfigError(f"replay_file {self.replay_file} not found")
        if self.gc_threshold < 0:
            raise ConfigError("gc_threshold must be >= 0")
        if self.gil_switch_interval_us < 0:
            raise ConfigError("gil_switch_interval_us must be >= 0")
        if self.venue_status_timeout_ms <= 0:
            raise ConfigError("venue_status_timeout_ms must be positive")
        if self.login_max_failures < 0 or self.login_max_failures_per_address < 0:
            raise ConfigError("login_max_failures and login_max_failures_per_address must be >= 0 (0: off)")
        if self.login_failure_window_seconds <= 0:
            raise ConfigError("login_failure_window_seconds must be positive")
        if self.max_batch <= 0:
            raise ConfigError("max_batch must be positive")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        self._validate_fix()
        carried: dict[str, str] = {}
        for feed in self.fix_market_data:
            for symbol in feed.symbols if feed.reference else ():
                if symbol in carried:
                    raise ConfigError(f"fix market data {feed.source}: {symbol} is already the reference market of "
                                      f"{carried[symbol]} (one reference feed per instrument)")
                carried[symbol] = feed.source
        return self

    def _validate_fix(self) -> None:
        if not 0 < self.fix_port < 65536:
            raise ConfigError(f"fix_port must be 1-65535, got {self.fix_port}")
        seen: set[tuple[str, str]] = set()
        for session in self.fix_sessions:
            pair = (session.sender_comp_id, session.target_comp_id)
            if not all(pair):
                raise ConfigError("fix session: sender_comp_id and target_comp_id must not be empty")
            if pair in seen:
                raise ConfigError(f"fix session {pair[0]} -> {pair[1]} is configured twice")
            seen.add(pair)
            if not session.accounts:
                raise ConfigError(f"fix session {pair[0]} -> {pair[1]}: accounts must not be empty")
            hours = (session.start_utc, session.end_utc)
            if (any(hours) and not all(hours)) or not all(parse_hhmm(h) is not None for h in hours if h):
                raise ConfigError(f"fix session {pair[0]} -> {pair[1]}: start_utc and end_utc must both be HH:MM (UTC)")
            problem = schedule_problem(session)
            if problem is not None:
                raise ConfigError(f"fix session {pair[0]} -> {pair[1]}: {problem}")
            if session.resend_keep < 0:
                raise ConfigError(f"fix session {pair[0]} -> {pair[1]}: resend_keep must be 0 (keep all) or more, "
                                  f"got {session.resend_keep}")
            if not 0 <= session.port < 65536:
                raise ConfigError(f"fix session {pair[0]} -> {pair[1]}: port must be 1-65535, got {session.port}")


def _string_list(path: Path, what: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(item, str | date) for item in value):
        return tuple(str(item) for item in value)  # TOML dates (holidays = [2026-12-25]) are dates already
    raise ConfigError(f"config file {path}: {what} must be a list of strings")


def schedule_problem(session: FixSessionConfig) -> str | None:
    """What is wrong with a session's weekly days and holidays (the hours are checked apart)."""
    days = (session.start_day, session.end_day)
    if any(days):
        if not all(days) or not all(weekday(d) is not None for d in days):
            return "start_day and end_day must both be day names (monday .. sunday, or mon .. sun)"
        if not session.start_utc:
            return "start_day and end_day need start_utc and end_utc (the times on those days)"
    if (session.holidays or session.holiday_calendar) and not session.start_utc:
        return "holidays need the session's hours (start_utc and end_utc)"
    for text in session.holidays:
        try:
            date.fromisoformat(text)
        except ValueError:
            return f"holidays must be dates YYYY-MM-DD, got {text!r}"
    if session.holiday_calendar:
        try:
            calendar(session.holiday_calendar)
        except ScheduleError as exc:
            return str(exc)
    return None


def parse_hhmm(text: str) -> tuple[int, int] | None:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    return (hour, minute) if hour < 24 and minute < 60 else None


def _coerce(name: str, kind: Any, value: Any) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind in (int, "int"):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind in (Path, "Path", "Path | None"):
            return Path(value)
        if kind in (float, "float"):  # a speed or a ratio, never money
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot use {value!r} as {getattr(kind, '__name__', kind)}") from None


def load(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    kinds = {f.name: f.type for f in fields(Config)}
    path = config_file or (Path(environ["OMS_CONFIG"]) if environ.get("OMS_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        values.update(_fix_section(path, data.get("fix")))
        for section in (data, data.get("oms", {})):
            for key, value in section.items():
                if isinstance(value, dict):
                    continue
                if key not in kinds:
                    raise ConfigError(f"config file {path}: unknown setting {key!r}")
                values[key] = _coerce(key, kinds[key], value)
    for name, kind in kinds.items():
        if name in ("fix_sessions", "fix_venues"):
            continue  # only from the config file
        if name == "fix_market_data":
            env_feeds = environ.get("OMS_FIX_MARKET_DATA")
            if env_feeds is not None:
                values[name] = _fix_market_data_env(env_feeds)
            continue
        env_value = environ.get(f"OMS_{name.upper()}")
        if env_value is not None:
            values[name] = _coerce(f"OMS_{name.upper()}", kind, env_value)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, kinds[name], value)
    return dataclasses.replace(Config(), **values).validate()


_FIX_KEYS = {"enabled": ("fix_enabled", bool), "host": ("fix_host", str), "port": ("fix_port", int)}
_FIX_SESSION_KEYS = {"sender_comp_id", "target_comp_id", "accounts", "user", "port", "drop_copy", "start_utc", "end_utc",
                     "start_day", "end_day", "holidays", "holiday_calendar", "resend_keep"}


def _fix_section(path: Path, section: Any) -> dict[str, Any]:
    """The ``[fix]`` table: ``enabled``, ``host``, ``port`` and ``[[fix.sessions]]``."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [fix] must be a table")
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key in ("sessions", "venues", "market_data"):
            continue
        if key not in _FIX_KEYS:
            raise ConfigError(f"config file {path}: unknown setting fix.{key}")
        name, kind = _FIX_KEYS[key]
        values[name] = _coerce(f"fix.{key}", kind, value)
    sessions = section.get("sessions")
    if sessions is not None:
        if not isinstance(sessions, list) or not all(isinstance(item, dict) for item in sessions):
            raise ConfigError(f"config file {path}: fix.sessions must be an array of tables ([[fix.sessions]])")
        parsed = []
        for item in sessions:
            unknown = set(item) - _FIX_SESSION_KEYS
            if unknown:
                raise ConfigError(f"config file {path}: unknown fix session setting(s) {sorted(unknown)}")
            if "sender_comp_id" not in item:
                raise ConfigError(f"config file {path}: a fix session needs sender_comp_id")
            accounts = item.get("accounts", list(DEMO_FIX_SESSION.accounts))
            if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
                raise ConfigError(f"config file {path}: fix session accounts must be a list of strings")
            parsed.append(FixSessionConfig(
                sender_comp_id=str(item["sender_comp_id"]),
                target_comp_id=str(item.get("target_comp_id", DEMO_FIX_SESSION.target_comp_id)),
                accounts=tuple(accounts),
                user=str(item.get("user", DEMO_FIX_SESSION.user)),
                port=_coerce("fix session port", int, item.get("port", 0)),
                drop_copy=_coerce("fix session drop_copy", bool, item.get("drop_copy", False)),
                start_utc=str(item.get("start_utc", "")),
                end_utc=str(item.get("end_utc", "")),
                start_day=str(item.get("start_day", "")),
                end_day=str(item.get("end_day", "")),
                holidays=_string_list(path, "fix session holidays", item.get("holidays", [])),
                holiday_calendar=str(item.get("holiday_calendar", "")),
                resend_keep=_coerce("fix session resend_keep", int, item.get("resend_keep", 0)),
            ))
        values["fix_sessions"] = tuple(parsed)
    venues = section.get("venues")
    if venues is not None:
        values["fix_venues"] = tuple(_fix_venue(path, item) for item in (venues if isinstance(venues, list) else [venues]))
    feeds = section.get("market_data")
    if feeds is not None:
        values["fix_market_data"] = _fix_market_data(f"config file {path}", feeds)
    return values


_FIX_VENUE_KEYS = {f.name for f in fields(FixVenueConfig)}


def _fix_venue(path: Path, item: Any) -> FixVenueConfig:
    if not isinstance(item, dict):
        raise ConfigError(f"config file {path}: fix.venues must be an array of tables ([[fix.venues]])")
    unknown = set(item) - _FIX_VENUE_KEYS
    if unknown:
        raise ConfigError(f"config file {path}: unknown fix venue setting(s) {sorted(unknown)}")
    for required in ("venue_id", "port"):
        if required not in item:
            raise ConfigError(f"config file {path}: a fix venue needs {required}")
    symbols = item.get("symbols", [])
    if not isinstance(symbols, list) or not all(isinstance(symbol, str) for symbol in symbols):
        raise ConfigError(f"config file {path}: fix venue symbols must be a list of strings")
    venue = FixVenueConfig(
        venue_id=str(item["venue_id"]),
        port=_coerce("fix venue port", int, item["port"]),
        sender_comp_id=str(item.get("sender_comp_id", "OPENOMS")),
        target_comp_id=str(item.get("target_comp_id", "EXCH")),
        host=str(item.get("host", "127.0.0.1")),
        symbols=tuple(symbols),
        heartbeat_s=_coerce("fix venue heartbeat_s", int, item.get("heartbeat_s", 30)),
        reset_on_logon=_coerce("fix venue reset_on_logon", bool, item.get("reset_on_logon", True)),
        cancel_on_disconnect=_coerce("fix venue cancel_on_disconnect", bool, item.get("cancel_on_disconnect", False)),
        reconnect_s=float(item.get("reconnect_s", 1.0)),
    )
    if not 0 < venue.port < 65536 or not 1 <= venue.heartbeat_s <= 3600 or venue.reconnect_s <= 0:
        raise ConfigError(f"config file {path}: fix venue {venue.venue_id}: port 1-65535, heartbeat_s 1-3600, reconnect_s > 0")
    return venue


_FIX_MD_KEYS = {f.name for f in fields(FixMarketDataConfig)}


def _fix_market_data_env(text: str) -> tuple[FixMarketDataConfig, ...]:
    """OMS_FIX_MARKET_DATA: a JSON list of the tables [[fix.market_data]] takes (empty: none)."""
    if not text.strip():
        return ()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"OMS_FIX_MARKET_DATA: not JSON ({exc})") from None
    return _fix_market_data("OMS_FIX_MARKET_DATA", items)


def _fix_market_data(where: str, items: Any) -> tuple[FixMarketDataConfig, ...]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ConfigError(f"{where}: fix.market_data must be an array of tables ([[fix.market_data]])")
    parsed: list[FixMarketDataConfig] = []
    for item in items:
        unknown = set(item) - _FIX_MD_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown fix market data setting(s) {sorted(unknown)}")
        for required in ("source", "port", "symbols"):
            if required not in item:
                raise ConfigError(f"{where}: a fix market data feed needs {required}")
        symbols = item["symbols"]
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise ConfigError(f"{where}: fix market data symbols must be a non-empty list of instrument symbols")
        feed = FixMarketDataConfig(
            source=str(item["source"]),
            port=_coerce("fix market data port", int, item["port"]),
            symbols=tuple(symbols),
            host=str(item.get("host", "127.0.0.1")),
            sender_comp_id=str(item.get("sender_comp_id", "OPENOMS-MD")),
            target_comp_id=str(item.get("target_comp_id", "MDP")),
            depth=_coerce("fix market data depth", int, item.get("depth", 5)),
            heartbeat_s=_coerce("fix market data heartbeat_s", int, item.get("heartbeat_s", 5)),
            stale_after_ms=_coerce("fix market data stale_after_ms", int, item.get("stale_after_ms", 0)),
            reconnect_s=_coerce("fix market data reconnect_s", float, item.get("reconnect_s", 1.0)),
            reference=_coerce("fix market data reference", bool, item.get("reference", False)),
        )
        if not feed.source or not 0 < feed.port < 65536 or not 1 <= feed.heartbeat_s <= 3600 or feed.reconnect_s <= 0 \
                or feed.depth < 1 or feed.stale_after_ms < 0:
            raise ConfigError(f"{where}: fix market data {feed.source or '(no source)'}: source non-empty, port 1-65535, "
                              "depth >= 1, heartbeat_s 1-3600, stale_after_ms >= 0, reconnect_s > 0")
        if any(other.source == feed.source for other in parsed):
            raise ConfigError(f"{where}: fix market data source {feed.source!r} is configured twice")
        parsed.append(feed)
    return tuple(parsed)
