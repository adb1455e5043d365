"""FIX settings in the config file: sessions, ports, account bindings, and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from openoms.config import DEMO_FIX_SESSION, ConfigError, FixSessionConfig, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oms.toml"
    path.write_text(text)
    return path


def test_default_is_the_demo_session_on_9878() -> None:
    config = load(environ={})
    assert (config.fix_enabled, config.fix_host, config.fix_port) == (True, "127.0.0.1", 9878)
    assert config.fix_sessions == (DEMO_FIX_SESSION,)
    assert (DEMO_FIX_SESSION.sender_comp_id, DEMO_FIX_SESSION.target_comp_id, DEMO_FIX_SESSION.accounts) == (
        "DEMO-CLIENT", "OPENOMS", ("ACC-EQ-1",))


def test_sessions_ports_and_accounts_come_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
port = 8100
[fix]
port = 9900
[[fix.sessions]]
sender_comp_id = "CLIENT1"
accounts = ["ACC-EQ-2", "ACC-EQ-1"]
user = "alice"
[[fix.sessions]]
sender_comp_id = "CLIENT2"
target_comp_id = "OMS2"
port = 9901
""")
    config = load(path, environ={"OMS_FIX_HOST": "0.0.0.0"})
    assert (config.port, config.fix_port, config.fix_host) == (8100, 9900, "0.0.0.0")
    assert config.fix_sessions == (
        FixSessionConfig("CLIENT1", "OPENOMS", ("ACC-EQ-2", "ACC-EQ-1"), "alice", 0),
        FixSessionConfig("CLIENT2", "OMS2", ("ACC-EQ-1",), "demo", 9901),
    )


def test_environment_beats_the_file_for_the_port(tmp_path: Path) -> None:
    path = write(tmp_path, "[fix]\nport = 9900\n")
    assert load(path, environ={"OMS_FIX_PORT": "9911", "OMS_FIX_ENABLED": "false"}).fix_port == 9911


@pytest.mark.parametrize(("text", "problem"), [
    ("[fix]\nbogus = 1\n", "unknown setting fix.bogus"),
    ("[[fix.sessions]]\ntarget_comp_id = 'X'\n", "needs sender_comp_id"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nfoo = 1\n", "unknown fix session setting"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\naccounts = []\n", "accounts must not be empty"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\naccounts = 'ACC'\n", "list of strings"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\n[[fix.sessions]]\nsender_comp_id = 'A'\n", "configured twice"),
    ("[fix]\nport = 70000\n", "fix_port must be 1-65535"),
    ("[fix]\nport = 'x'\n", "cannot use 'x'"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '08:00'\n", "start_utc and end_utc must both be HH:MM"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '8am'\nend_utc = '17:00'\n", "must both be HH:MM"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '08:00'\nend_utc = '17:00'\nstart_day = 'mon'\n",
     "start_day and end_day must both be day names"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '08:00'\nend_utc = '17:00'\nstart_day = 'mon'\nend_day = 'fry'\n",
     "must both be day names"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_day = 'mon'\nend_day = 'fri'\n", "need start_utc and end_utc"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nholidays = ['2026-12-25']\n", "holidays need the session's hours"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '08:00'\nend_utc = '17:00'\nholidays = ['25/12/2026']\n",
     "holidays must be dates YYYY-MM-DD, got '25/12/2026'"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '08:00'\nend_utc = '17:00'\nholidays = '2026-12-25'\n",
     "holidays must be a list of strings"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nstart_utc = '08:00'\nend_utc = '17:00'\nholiday_calendar = 'MOON'\n",
     "unknown holiday calendar 'MOON'"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nresend_keep = -1\n", "resend_keep must be 0 \\(keep all\\) or more"),
    ("[[fix.sessions]]\nsender_comp_id = 'A'\nresend_keep = 'lots'\n", "cannot use 'lots'"),
])
def test_bad_fix_settings_are_named(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load(write(tmp_path, text), environ={})


def test_a_fix_port_in_use_is_named_before_serving() -> None:
    import socket

    from openoms.api.fix_acceptor import unavailable_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = unavailable_port(load(environ={"OMS_FIX_PORT": str(port)}))
        assert problem is not None and f"127.0.0.1:{port}" in problem
        assert unavailable_port(load(environ={"OMS_FIX_PORT": str(port), "OMS_FIX_ENABLED": "false"})) is None


def test_the_readme_fix_config_samples_load(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("## FIX 4.4"):readme.index("## Configuration")]
    samples = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    assert len(samples) == 2
    config = load(write(tmp_path, "\n".join(samples)), environ={})
    assert [s.sender_comp_id for s in config.fix_sessions] == ["CLIENT1"]
    assert config.fix_sessions[0].start_utc == "07:00" and config.fix_venues[0].symbols == ("MSFT",)


def test_weekly_hours_holidays_and_resend_keep_come_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[fix.sessions]]
sender_comp_id = "WEEKLY"
start_day = "sunday"
start_utc = "22:00"
end_day = "fri"
end_utc = "21:00"
holidays = ["2026-12-24", 2026-12-31]
holiday_calendar = "XNYS"
resend_keep = 100000
""")
    [session] = load(path, environ={}).fix_sessions
    assert (session.start_day, session.end_day, session.holidays, session.holiday_calendar, session.resend_keep) == (
        "sunday", "fri", ("2026-12-24", "2026-12-31"), "XNYS", 100000)
