"""Gateway configuration layers: embedded defaults < TOML file < JT808_* environment < flags,
and the errors that name the setting and the layer at fault."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from gateway.server.config import (
    SETTINGS,
    ConfigError,
    GatewayConfig,
    HostPort,
    Setting,
    add_arguments,
    flags_of,
    load,
    parse_host_port,
)


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(flags))


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_any_layer_the_embedded_defaults_apply() -> None:
    assert load(parse(), {}) == GatewayConfig()
    assert load(None, {}) == GatewayConfig()


def test_defaults_run_a_working_local_gateway() -> None:
    config = GatewayConfig()
    assert (config.listen, config.auth, config.metrics_listen) == (
        HostPort("0.0.0.0", 7999),
        "local",
        None,
    )
    assert config.auth_timeout > 0 and config.send_timeout > 0


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'idle_timeout = 10\nauth_timeout = 2\nmax_connections = 5\nlisten = "127.0.0.1:8001"\n',
    )
    environ = {"JT808_IDLE_TIMEOUT": "20", "JT808_AUTH_TIMEOUT": "3"}
    config = load(parse("--config", str(path), "--idle-timeout", "30"), environ)
    assert config.idle_timeout == 30.0  # flag over environment over file
    assert config.auth_timeout == 3.0  # environment over file
    assert config.max_connections == 5  # file over default
    assert config.listen == HostPort("127.0.0.1", 8001)
    assert config.send_timeout == GatewayConfig().send_timeout  # default


def test_config_file_can_come_from_jt808_config_and_the_flag_wins(tmp_path: Path) -> None:
    from_env = tmp_path / "env.toml"
    from_env.write_text("max_connections = 7\n", encoding="utf-8")
    from_flag = tmp_path / "flag.toml"
    from_flag.write_text("max_connections = 9\n", encoding="utf-8")
    environ = {"JT808_CONFIG": str(from_env)}
    assert load(parse(), environ).max_connections == 7
    assert load(parse("--config", str(from_flag)), environ).max_connections == 9


def test_toml_keys_may_use_dashes(tmp_path: Path) -> None:
    path = toml(tmp_path, 'idle-timeout = 12.5\nmetrics-listen = "127.0.0.1:9100"\n')
    config = load(parse("--config", str(path)), {})
    assert config.idle_timeout == 12.5
    assert config.metrics_listen == HostPort("127.0.0.1", 9100)


#: A valid, non-default value of every setting, as text.
EXAMPLES = {
    "listen": "127.0.0.1:8001",
    "data_dir": "/srv/jt808",
    "auth": "insecure-accept-all",
    "auth_timeout": "1.5",
    "idle_timeout": "61",
    "authentication_timeout": "7",
    "max_authentication_attempts": "5",
    "max_connections": "100",
    "max_unauthenticated": "64",
    "max_unauthenticated_per_address": "8",
    "max_frame_length": "512",
    "max_pending_commands": "4",
    "reassembly_max_bytes": "65536",
    "reassembly_total_bytes": "1048576",
    "send_timeout": "2.5",
    "metrics_listen": "127.0.0.1:9101",
    "log_level": "debug",
    "auth_endpoint": "127.0.0.1:50052",
    "auth_attempt_timeout": "0.5",
    "auth_retries": "0",
    "auth_token": "s3cret-token",
    "auth_tls_ca": "/etc/jt808/ca.pem",
    "grpc_listen": "127.0.0.1:50061",
    "grpc_token": "another-token",
    "grpc_token_file": "/run/secrets/jt808-grpc-token",
    "reregistration": "offline",
    "command_timeout": "12",
    "stream_queue": "64",
    "command_retry_timeout": "3",
    "command_max_retries": "5",
    "log_format": "json",
    "tls_listen": "127.0.0.1:8443",
    "tls_cert": "/etc/jt808/tls.pem",
    "tls_key": "/etc/jt808/tls.key",
    "tls_client_ca": "/etc/jt808/devices-ca.pem",
    "tls_identity": "san=device_name",
    "tls_ocsp": "soft-fail",
    "tls_ocsp_url": "http://ocsp.example.com/",
    "tls_ocsp_timeout": "2",
    "tls_handshake_timeout": "3",
    "tls_reload_interval": "0",
    "tls_max_handshakes": "50",
    "grpc_tls_cert": "/etc/jt808/grpc.pem",
    "grpc_tls_key": "/etc/jt808/grpc.key",
    "grpc_tls_client_ca": "/etc/jt808/operators-ca.pem",
    "rsa_key": "/etc/jt808/platform-rsa.pem",
    "durability": "os",
    "log_writer": "thread",
    "retention_age": "3600",
    "retention_bytes": "1048576",
    "nats_url": "nats://127.0.0.1:4222",
    "node_id": "node-a",
    "nats_creds": "/etc/jt808/nats.creds",
    "nats_user": "gateway",
    "nats_password": "nats-secret",
    "nats_token": "nats-token",
    "nats_tls_ca": "/etc/jt808/nats-ca.pem",
    "nats_tls_cert": "/etc/jt808/nats.pem",
    "nats_tls_key": "/etc/jt808/nats.key",
    "cluster_ttl": "30",
    "workers": "2",
    "nats_format": "json",
}
_TLS_FILES = ("--tls-listen", "127.0.0.1:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem")
_NATS = ("--nats-url", "nats://127.0.0.1:4222")
#: Settings that only make sense with another one (given as flags, the top layer).
COMPANIONS = {
    "auth_endpoint": ("--auth", "remote"),
    "tls_cert": ("--tls-listen", "127.0.0.1:8443", "--tls-key", "k.pem"),
    "tls_key": ("--tls-listen", "127.0.0.1:8443", "--tls-cert", "c.pem"),
    "tls_listen": ("--tls-cert", "c.pem", "--tls-key", "k.pem"),
    "tls_client_ca": _TLS_FILES,
    "tls_ocsp_url": _TLS_FILES,
    "grpc_tls_cert": ("--grpc-tls-key", "k.pem"),
    "grpc_tls_key": ("--grpc-tls-cert", "c.pem"),
    "grpc_tls_client_ca": ("--grpc-tls-cert", "c.pem", "--grpc-tls-key", "k.pem"),
    **{
        name: _NATS
        for name in (
            "node_id",
            "nats_creds",
            "nats_token",
            "nats_tls_ca",
            "cluster_ttl",
            "workers",
            "nats_format",
        )
    },
    "nats_user": (*_NATS, "--nats-password", "p"),
    "nats_password": (*_NATS, "--nats-user", "u"),
    "nats_tls_cert": (*_NATS, "--nats-tls-key", "k.pem"),
    "nats_tls_key": (*_NATS, "--nats-tls-cert", "c.pem"),
}


def test_examples_cover_every_setting() -> None:
    assert (
        set(EXAMPLES)
        == {s.name for s in SETTINGS}
        == {f.name for f in dataclasses.fields(GatewayConfig)}
    )


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_has_a_flag_an_environment_variable_and_a_toml_key(
    setting: Setting, tmp_path: Path
) -> None:
    text = EXAMPLES[setting.name]
    expected = setting.parse(text)
    assert expected != getattr(GatewayConfig(), setting.name)
    flag = "--" + setting.name.replace("_", "-")
    env = "JT808_" + setting.name.upper()
    path = toml(tmp_path, f"{setting.name} = {text!r}\n".replace("'", '"'))
    more = COMPANIONS.get(setting.name, ())
    assert getattr(load(parse(flag, text, *more), {}), setting.name) == expected
    assert getattr(load(parse(*more), {env: text}), setting.name) == expected
    assert getattr(load(parse("--config", str(path), *more), {}), setting.name) == expected


def test_flags_of_reproduces_a_config() -> None:
    config = GatewayConfig(
        listen=HostPort("::1", 8000),
        data_dir=Path("/var/lib/jt808"),
        auth="insecure-accept-all",
        idle_timeout=42.5,
        max_pending_commands=3,
        metrics_listen=HostPort("127.0.0.1", 9100),
        log_level="debug",
    )
    assert load(parse(*flags_of(config)), {}) == config
    assert flags_of(GatewayConfig()) == []


def test_session_limits_carry_the_per_connection_settings() -> None:
    config = GatewayConfig(
        idle_timeout=11, authentication_timeout=12, max_authentication_attempts=4,
        max_frame_length=300, max_pending_commands=5, reassembly_max_bytes=6000,
    )  # fmt: skip
    limits = config.session_limits()
    assert (
        limits.idle_timeout, limits.authentication_timeout, limits.max_authentication_attempts,
        limits.max_frame_length, limits.max_pending_commands, limits.reassembly_max_bytes,
    ) == (11, 12, 4, 300, 5, 6000)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7999", HostPort("127.0.0.1", 7999)),
        ("0.0.0.0:65535", HostPort("0.0.0.0", 65535)),
        ("[::1]:8000", HostPort("::1", 8000)),
        ("gateway.example:1024", HostPort("gateway.example", 1024)),
    ],
)
def test_host_port_parses(text: str, expected: HostPort) -> None:
    assert parse_host_port(text) == expected
    assert parse_host_port(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "expected HOST:PORT"),
        (":7999", "expected HOST:PORT"),
        ("127.0.0.1:http", "port 'http' is not a number"),
        ("127.0.0.1:80", "port 80 is outside 1024-65535"),
        ("127.0.0.1:70000", "port 70000 is outside 1024-65535"),
    ],
)
def test_host_port_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_host_port(text)


def test_listeners_take_port_0_for_a_free_port() -> None:
    config = load(parse("--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
                        "--metrics-listen", "127.0.0.1:0"), {})  # fmt: skip
    assert config.listen == config.grpc_listen == HostPort("127.0.0.1", 0)
    assert config.metrics_listen == HostPort("127.0.0.1", 0)


def test_port_0_is_only_for_listeners() -> None:
    with pytest.raises(ConfigError, match="port 0 is outside 1024-65535"):
        parse_host_port("127.0.0.1:0")
    with pytest.raises(ConfigError, match="or 0 for any free port"):
        load(parse("--listen", "127.0.0.1:80"), {})


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--listen", "127.0.0.1:80"), "--listen: port 80 is outside 1024-65535"),
        (("--idle-timeout", "0"), "--idle-timeout: 0 is not positive"),
        (("--idle-timeout", "soon"), "--idle-timeout: 'soon' is not a number"),
        (("--idle-timeout", "nan"), "--idle-timeout: 'nan' is not a finite number"),
        (("--max-connections", "1.5"), "--max-connections: '1.5' is not a whole number"),
        (("--log-format", "xml"), "--log-format: 'xml' is not logfmt or json"),
        (("--auth", "ldap"), "--auth: 'ldap' is not one of local, remote, insecure-accept-all"),
        (("--log-level", "loud"), "--log-level: 'loud' is not debug, info, warning or error"),
    ],
)
def test_a_bad_flag_is_named_in_the_error(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(parse(*flags), {})


def test_a_bad_environment_variable_is_named_in_the_error() -> None:
    with pytest.raises(ConfigError, match="environment JT808_SEND_TIMEOUT: -1 is not positive"):
        load(parse(), {"JT808_SEND_TIMEOUT": "-1"})


def test_a_bad_environment_variable_is_reported_even_when_a_flag_overrides_it() -> None:
    with pytest.raises(ConfigError, match="JT808_IDLE_TIMEOUT"):
        load(parse("--idle-timeout", "5"), {"JT808_IDLE_TIMEOUT": "x"})


def test_unknown_toml_key_names_the_key_the_file_and_the_known_settings(tmp_path: Path) -> None:
    path = toml(tmp_path, "idle_timout = 30\n")
    with pytest.raises(ConfigError) as error:
        load(parse("--config", str(path)), {})
    assert f"config file {path}: unknown setting 'idle_timout'" in str(error.value)
    assert "idle_timeout" in str(error.value)  # the known ones are listed


def test_bad_toml_value_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = toml(tmp_path, "max_connections = -3\n")
    with pytest.raises(ConfigError, match=f"config file {path}, max_connections: -3 is not"):
        load(parse("--config", str(path)), {})


def test_missing_and_invalid_toml_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(parse("--config", str(tmp_path / "nope.toml")), {})
    broken = toml(tmp_path, "idle_timeout = = 3\n")
    with pytest.raises(ConfigError, match=f"config file {broken}"):
        load(parse("--config", str(broken)), {})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("idle_timeout = true", "idle_timeout: expected a number of seconds, not a boolean (true)"),
        ("max_connections = [1, 2]", "max_connections: expected a whole number, not an array"),
        ("listen = 7999", 'listen: expected a "HOST:PORT" string, not an integer (7999)'),
        ("auth = false", "auth: expected a string, not a boolean (false)"),
        ("data_dir = 2024-01-01", "data_dir: expected a string, not a date or time"),
        ("log_level = { a = 1 }", "log_level: expected a string, not a table"),
        ("max_connections = 1.5", "max_connections: '1.5' is not a whole number"),
    ],
)
def test_a_toml_value_of_the_wrong_type_is_named_with_what_was_expected(
    tmp_path: Path, line: str, message: str
) -> None:
    path = toml(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as error:
        load(parse("--config", str(path)), {})
    assert str(error.value) == f"config file {path}, {message}"


def test_toml_numbers_may_be_integers_floats_or_strings(tmp_path: Path) -> None:
    path = toml(tmp_path, 'idle_timeout = 90\nsend_timeout = 2.5\ncommand_timeout = "12"\n')
    config = load(parse("--config", str(path)), {})
    assert (config.idle_timeout, config.send_timeout, config.command_timeout) == (90, 2.5, 12)


def test_a_config_file_that_is_a_directory_or_not_utf8_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a TOML file"):
        load(parse("--config", str(tmp_path)), {})
    latin = tmp_path / "latin.toml"
    latin.write_bytes("data_dir = 'caf\u00e9'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load(parse("--config", str(latin)), {})


def test_errors_never_repeat_a_long_value_whole() -> None:
    with pytest.raises(ConfigError) as error:
        load(parse("--listen", "x" * 70_000), {})
    assert len(str(error.value)) < 120


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--grpc-listen", "127.0.0.1:7999"), "--listen 0.0.0.0:7999 and --grpc-listen"),
        (
            ("--listen", "127.0.0.1:8000", "--metrics-listen", "127.0.0.1:8000"),
            "--listen 127.0.0.1:8000 and --metrics-listen 127.0.0.1:8000 use the same port",
        ),
        (("--metrics-listen", "0.0.0.0:50051"), "--grpc-listen 127.0.0.1:50051 and --metrics"),
    ],
)
def test_two_listeners_on_one_port_are_refused(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(parse(*flags), {})


def test_one_port_on_two_distinct_addresses_is_fine() -> None:
    config = load(parse("--listen", "127.0.0.2:8000", "--metrics-listen", "127.0.0.1:8000"), {})
    assert (config.listen, config.metrics_listen) == (
        HostPort("127.0.0.2", 8000),
        HostPort("127.0.0.1", 8000),
    )
