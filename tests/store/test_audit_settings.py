"""Issue 10's acceptance audit of the settings: ``--data-dir``, ``--durability`` and the
retention flags parse as documented (units, 0 for no limit), reach the store the gateway
builds, and ``fsync``/``os`` are the SQLite syncs the README promises."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from gateway.hub import EventHub
from gateway.server.config import ConfigError, GatewayConfig, add_arguments, load
from gateway.server.gateway import make_store
from gateway.store.base import Durability
from gateway.store.log import LogStore
from gateway.store.log_process import ProcessLogStore
from gateway.store.memory import MemoryStore
from gateway.store.sqlite_log import LOG_NAME, SqliteLog


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(flags))


def help_of(flag: str) -> str:
    """What ``jt808 serve --help`` says of ``flag``, on one line."""
    parser = argparse.ArgumentParser(prog="jt808 serve")
    add_arguments(parser)
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    entry = out.getvalue().split(f"\n  {flag} ", 1)[1].split("\n  --", 1)[0]
    return " ".join(entry.split())  # argparse wraps lines


def test_by_default_acknowledgements_wait_for_fsync_and_the_log_keeps_7_days_or_10_gib(
    tmp_path: Path,
) -> None:
    config = GatewayConfig(data_dir=tmp_path)
    store = make_store(config, EventHub())
    assert type(store) is ProcessLogStore  # a writer process, under --data-dir
    assert store.durability is Durability.FSYNC
    assert (store.retention_age, store.retention_bytes) == (7 * 24 * 3600.0, 10 * 1024**3)
    assert store._log.path == tmp_path / LOG_NAME
    assert store.replays and store.defers_acks


def test_the_flags_take_units_and_reach_the_store(tmp_path: Path) -> None:
    config = load(parse("--data-dir", str(tmp_path), "--durability", "os",
                        "--retention-age", "30d", "--retention-bytes", "512M",
                        "--log-writer", "thread"), {})  # fmt: skip
    assert (config.data_dir, config.durability) == (tmp_path, "os")
    assert (config.retention_age, config.retention_bytes) == (30 * 86400.0, 512 * 1024**2)
    store = make_store(config, EventHub())
    assert type(store) is LogStore
    assert store.durability is Durability.OS
    assert (store.retention_age, store.retention_bytes) == (30 * 86400.0, 512 * 1024**2)
    hours = load(parse("--retention-age", "12h", "--retention-bytes", "2G"), {})
    assert (hours.retention_age, hours.retention_bytes) == (12 * 3600.0, 2 * 1024**3)


def test_retention_0_means_no_limit(tmp_path: Path) -> None:
    config = load(parse("--data-dir", str(tmp_path), "--retention-age", "0",
                        "--retention-bytes", "0"), {})  # fmt: skip
    store = make_store(config, EventHub())
    assert isinstance(store, LogStore)
    assert (store.retention_age, store.retention_bytes) == (None, None)


def test_durability_memory_keeps_nothing(tmp_path: Path) -> None:
    store = make_store(GatewayConfig(data_dir=tmp_path, durability="memory"), EventHub())
    assert isinstance(store, MemoryStore)
    assert not store.replays and not store.defers_acks


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--durability", "disk"), "--durability: 'disk' is not one of fsync, os, memory"),
        (("--retention-age", "-1"), "--retention-age: -1 is negative"),
        (("--retention-bytes", "lots"), "--retention-bytes: 'lots' is not a number"),
    ],
)
def test_a_bad_log_setting_is_named_in_the_error(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(parse(*flags), {})


@pytest.mark.parametrize(("durability", "synchronous"), [(Durability.FSYNC, 2), (Durability.OS, 1)])
def test_fsync_syncs_every_commit_and_os_leaves_it_to_the_os(
    tmp_path: Path, durability: Durability, synchronous: int
) -> None:
    # WAL mode: FULL syncs the WAL at each commit (survives power loss); NORMAL writes it
    # without syncing (survives the process, not the machine).
    log = SqliteLog(tmp_path, durability)
    log.open()
    try:
        assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log.db.execute("PRAGMA synchronous").fetchone()[0] == synchronous
    finally:
        log.close(clean=True)


def test_serve_help_describes_the_log_settings() -> None:
    assert "the event log" in help_of("--data-dir")
    durability = help_of("--durability")
    assert all(mode in durability for mode in ("fsync", "os", "memory", "default fsync"))
    assert "0: no limit" in help_of("--retention-age")
    assert "0: no limit" in help_of("--retention-bytes")
