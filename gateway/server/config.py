"""Gateway configuration: embedded defaults < ``--config`` TOML file < ``JT808_*`` environment
variables < command-line flags. Every setting exists in all four forms, from one table.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, Final

from gateway.cluster import settings as cluster
from gateway.protocol.errors import shown
from gateway.protocol.session import SessionLimits
from gateway.registry import REREGISTRATION_MODES

ENV_PREFIX: Final = "JT808_"
AUTH_MODES: Final = ("local", "remote", "insecure-accept-all")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMATS: Final = ("logfmt", "json")
#: ``--tls-ocsp``: what an unanswerable OCSP check of a device certificate means.
OCSP_MODES: Final = ("off", "soft-fail", "hard-fail")
#: ``--tls-identity``: where a device certificate names the terminal (default subject CN = phone).
IDENTITY_RULES: Final = ("cn=phone", "san=phone", "cn=device_name", "san=device_name")
#: Settings that are secrets: never printed, logged or shown as defaults.
SECRETS: Final = frozenset({"grpc_token", "auth_token"}) | cluster.CLUSTER_SECRETS
#: ``--durability``: what an acknowledgement to a terminal means (gateway.store.base).
DURABILITIES: Final = ("fsync", "os", "memory")
#: Terminal connections at once, before the open-file limit lowers it (most limits do).
DEFAULT_MAX_CONNECTIONS: Final = 100_000
#: ``--log-writer``: where the event log's commits run (gateway.store.log / log_process).
LOG_WRITERS: Final = ("thread", "process")


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(
    text: str, *, allow_any_port: bool = False, allow_free_port: bool = False
) -> HostPort:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6); ports outside 1024-65535 are refused, except 0
    with ``allow_free_port`` (a listener: the system picks a free port, logged once bound)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"expected HOST:PORT, got {shown(text)}")
    host = host.removeprefix("[").removesuffix("]")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"port {shown(port_text)} is not a number") from None
    if allow_free_port and port == 0:
        return HostPort(host, port)
    if not allow_any_port and not 1024 <= port <= 65535:
        free = ", or 0 for any free port" if allow_free_port else ""
        raise ConfigError(
            f"port {port} is outside 1024-65535 (ports below 1024 need root and are refused; "
            f"pick e.g. 7999{free})"
        )
    return HostPort(host, port)


def parse_listen_address(text: str) -> HostPort:
    """A listener's ``HOST:PORT``: port 0 asks the system for a free one (scripts and tests)."""
    return parse_host_port(text, allow_free_port=True)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything ``jt808 serve`` can be told. Defaults run a working gateway."""

    listen: HostPort = HostPort("0.0.0.0", 7999)
    data_dir: Path = Path("jt808-data")
    auth: str = "local"
    #: ``--auth local``: when a registered terminal may register again (registry.py).
    reregistration: str = "explicit"
    #: Deadline for one decision of the auth backend (all retries of a remote one included);
    #: past it the terminal gets a failure result.
    auth_timeout: float = 5.0
    #: ``--auth remote``: the user's DeviceAuthService, and how it is called.
    auth_endpoint: HostPort | None = None
    auth_attempt_timeout: float = 2.0
    auth_retries: int = 2
    auth_token: str | None = field(default=None, repr=False)
    auth_tls_ca: Path | None = None
    #: The gRPC control plane (loopback by default; elsewhere only with a token).
    grpc_listen: HostPort = HostPort("127.0.0.1", 50051)
    grpc_token: str | None = field(default=None, repr=False)
    #: A file holding ``grpc_token`` (read at start): keeps the token out of the process list.
    grpc_token_file: Path | None = None
    #: Items a stream subscriber may fall behind by before the oldest are dropped (and a gap
    #: marker tells it how many).
    stream_queue: int = 4096
    #: How long SendCommand waits for a reply when the request gives no timeout.
    command_timeout: float = 30.0
    #: First wait before a command is retransmitted (then 2x, 6x, ...), and how many times.
    command_retry_timeout: float = SessionLimits().command_retry_timeout
    command_max_retries: int = SessionLimits().command_max_retries
    idle_timeout: float = 180.0
    authentication_timeout: float = 60.0
    max_authentication_attempts: int = 3
    #: Lowered at start to what the open-file limit allows (gateway.server.descriptors).
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    #: Of those, connections not yet authenticated (each holds at most about 10 KiB), and
    #: from one source address.
    max_unauthenticated: int = 1024
    max_unauthenticated_per_address: int = 128
    max_frame_length: int = SessionLimits().max_frame_length
    max_pending_commands: int = 32
    reassembly_max_bytes: int = SessionLimits().reassembly_max_bytes
    #: Sub-package bytes all terminals together may hold (the per-terminal bound times many
    #: connections would be far more).
    reassembly_total_bytes: int = 256 * 1024 * 1024
    #: A terminal that does not read its replies for this long is disconnected.
    send_timeout: float = 30.0
    metrics_listen: HostPort | None = None
    log_level: str = "info"
    log_format: str = "logfmt"
    #: Terminals over TLS: a second listener, off unless configured (see gateway/tls/).
    tls_listen: HostPort | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Mutual TLS: devices must present a certificate issued by this CA bundle.
    tls_client_ca: Path | None = None
    tls_identity: str = "cn=phone"
    tls_ocsp: str = "hard-fail"
    tls_ocsp_url: str | None = None
    tls_ocsp_timeout: float = 5.0
    tls_handshake_timeout: float = 10.0
    #: Seconds between checks of the TLS files for changes (0: reload on SIGHUP only).
    tls_reload_interval: float = 10.0
    tls_max_handshakes: int = 1024
    #: The control plane over TLS (and mutual TLS with a client CA).
    grpc_tls_cert: Path | None = None
    grpc_tls_key: Path | None = None
    grpc_tls_client_ca: Path | None = None
    #: The platform's RSA key for JT/T 808 body encryption (0x8A00); default: a 1024-bit key
    #: created on first use as ``platform-rsa-key.pem`` under ``data_dir``.
    rsa_key: Path | None = None
    #: What an acknowledgement means (the event log under data_dir): fsync, os or memory.
    durability: str = "fsync"
    #: Where the event log's writer runs: a thread of the gateway, or a process of its own.
    log_writer: str = "process"
    #: The event log keeps events this long (seconds) and at most this many bytes (0: no limit).
    retention_age: float = 7 * 24 * 3600.0
    retention_bytes: int = 10 * 1024**3
    #: Cluster mode (gateway/cluster/, docs/cluster.md): off without nats_url.
    nats_url: str | None = None
    node_id: str | None = None
    nats_creds: Path | None = None
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    nats_token: str | None = field(default=None, repr=False)
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    #: Session-directory and node entries expire this long after their node stopped.
    cluster_ttl: float = 15.0
    workers: int = 1
    #: Encoding of locations and events on their JetStream subjects (None: protobuf).
    nats_format: str | None = None

    def session_limits(self) -> SessionLimits:
        return SessionLimits(
            idle_timeout=self.idle_timeout,
            authentication_timeout=self.authentication_timeout,
            max_authentication_attempts=self.max_authentication_attempts,
            max_frame_length=self.max_frame_length,
            max_pending_commands=self.max_pending_commands,
            command_retry_timeout=self.command_retry_timeout,
            command_max_retries=self.command_max_retries,
            reassembly_max_bytes=self.reassembly_max_bytes,
        )


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    help: str
    parse: Callable[[str], Any]
    metavar: str


def _number(kind: type[int] | type[float], text: str) -> Any:
    """``text`` as a finite number of ``kind``; a ValueError that says what was expected."""
    try:
        value = kind(text)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise ValueError(f"{shown(text)} is not {expected}") from None
    if not math.isfinite(value):
        raise ValueError(f"{shown(text)} is not a finite number")
    return value


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = _number(kind, text)
        if value <= 0:
            raise ValueError(f"{shown(text.strip(), quoted=False)} is not positive")
        return value

    return parse


def _non_negative_int(text: str) -> int:
    value: int = _number(int, text)
    if value < 0:
        raise ValueError(f"{shown(text.strip(), quoted=False)} is negative")
    return value


def _token(text: str) -> str:
    if not text or any(c.isspace() for c in text) or not text.isprintable():
        raise ValueError("a token must be printable and contain no spaces")
    return text


def _auth_mode(text: str) -> str:
    if text not in AUTH_MODES:
        raise ValueError(f"{shown(text)} is not one of {', '.join(AUTH_MODES)}")
    return text


def _reregistration(text: str) -> str:
    if text not in REREGISTRATION_MODES:
        raise ValueError(f"{shown(text)} is not one of {', '.join(REREGISTRATION_MODES)}")
    return text


def _ocsp_mode(text: str) -> str:
    if text not in OCSP_MODES:
        raise ValueError(f"{text!r} is not one of {', '.join(OCSP_MODES)}")
    return text


def identity_rule(text: str) -> str:
    """A ``--tls-identity`` rule in its normal form (``CN=Phone`` is ``cn=phone``)."""
    rule = text.strip().lower().replace("-", "_").replace(" ", "")
    if rule not in IDENTITY_RULES:
        raise ValueError(
            f"{text!r} is not one of {', '.join(IDENTITY_RULES)} (the default, cn=phone, "
            "reads the phone from the certificate's subject CN)"
        )
    return rule


def _http_url(text: str) -> str:
    if not text.lower().startswith(("http://", "https://")) or len(text) > 2048:
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    return text


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{text} is not a finite number >= 0")
    return value


def _choice(text: str, choices: tuple[str, ...]) -> str:
    if text.lower() not in choices:
        raise ValueError(f"{shown(text)} is not one of {', '.join(choices)}")
    return text.lower()


_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "k": 1024, "g": 1024**3, "t": 1024**4}


def _scaled(text: str, units: str) -> float:
    """A number with an optional unit letter of ``units`` (``7d``, ``512M``); not negative."""
    stripped = text.strip()
    scale = 1
    if stripped and stripped[-1].lower() in units:
        unit = stripped[-1].lower()
        scale = 1024**2 if unit == "m" and "g" in units else _UNITS[unit]
        stripped = stripped[:-1]
    value = float(_number(float, stripped)) * scale
    if value < 0:
        raise ValueError(f"{shown(text.strip(), quoted=False)} is negative")
    return value


def _duration(text: str) -> float:
    return _scaled(text, "smhd")


def _size(text: str) -> int:
    return int(_scaled(text, "kmgt"))


def _level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise ValueError(f"{shown(text)} is not debug, info, warning or error")
    return text.lower()


def _log_format(text: str) -> str:
    if text.lower() not in LOG_FORMATS:
        raise ValueError(f"{shown(text)} is not logfmt or json")
    return text.lower()


SETTINGS: Final = (
    Setting("listen", "terminal listener HOST:PORT", parse_listen_address,
            "HOST:PORT"),
    Setting("data_dir", "directory of embedded state: the event log (unless --durability "
            "memory), the device registry, the platform RSA key", Path, "DIR"),
    Setting("auth", f"who authenticates terminals: {', '.join(AUTH_MODES)}", _auth_mode, "MODE"),
    Setting("reregistration", "--auth local: a registered terminal registers again only "
            "after its logout or `jt808 devices reset` (explicit), or also while neither its "
            "phone nor its device is online (offline)", _reregistration, "MODE"),
    Setting("auth_timeout", "seconds one auth decision may take (retries included)",
            _positive(float), "SECONDS"),
    Setting("auth_endpoint", "--auth remote: the DeviceAuthService HOST:PORT",
            lambda t: parse_host_port(t, allow_any_port=True), "HOST:PORT"),
    Setting("auth_attempt_timeout", "--auth remote: deadline of one call", _positive(float),
            "SECONDS"),
    Setting("auth_retries", "--auth remote: retries of a call that failed transiently",
            _non_negative_int, "N"),
    Setting("auth_token", "--auth remote: bearer token sent to the service", _token, "TOKEN"),
    Setting("auth_tls_ca", "--auth remote: CA bundle; the channel to the service uses TLS",
            Path, "FILE"),
    Setting("grpc_listen", "gRPC control plane HOST:PORT", parse_listen_address, "HOST:PORT"),
    Setting("grpc_token", "bearer token every gRPC call must carry (visible in the process "
            "list: prefer --grpc-token-file or the environment)", _token, "TOKEN"),
    Setting("grpc_token_file", "file holding the --grpc-token (one line)", Path, "FILE"),
    Setting("stream_queue", "items a slow stream subscriber may fall behind by",
            _positive(int), "N"),
    Setting("command_timeout", "default SendCommand wait for a reply", _positive(float),
            "SECONDS"),
    Setting("command_retry_timeout", "first wait before a command is retransmitted",
            _positive(float), "SECONDS"),
    Setting("command_max_retries", "retransmissions of an unanswered command",
            _non_negative_int, "N"),
    Setting("idle_timeout", "close a connection silent this long", _positive(float), "SECONDS"),
    Setting("authentication_timeout", "a connection must authenticate within this",
            _positive(float), "SECONDS"),
    Setting("max_authentication_attempts", "failed 0x0102/0x0100 before closing",
            _positive(int), "N"),
    Setting("max_connections", "terminal connections at once", _positive(int), "N"),
    Setting("max_unauthenticated", "of those, not yet authenticated (the oldest idle ones "
            "are shed for newcomers)", _positive(int), "N"),
    Setting("max_unauthenticated_per_address", "unauthenticated connections from one source "
            "address", _positive(int), "N"),
    Setting("max_frame_length", "largest escaped frame accepted, bytes", _positive(int), "BYTES"),
    Setting("max_pending_commands", "commands in flight per terminal", _positive(int), "N"),
    Setting("reassembly_max_bytes", "sub-package bytes held per terminal", _positive(int),
            "BYTES"),
    Setting("reassembly_total_bytes", "sub-package bytes held by all terminals together",
            _positive(int), "BYTES"),
    Setting("send_timeout", "disconnect a terminal that does not read for this long",
            _positive(float), "SECONDS"),
    Setting("metrics_listen", "serve Prometheus metrics on HOST:PORT",
            parse_listen_address, "HOST:PORT"),
    Setting("log_level", "debug, info, warning or error", _level, "LEVEL"),
    Setting("log_format", "logfmt (key=value lines) or json (one object per line)",
            _log_format, "FORMAT"),
    Setting("tls_listen", "terminal listener over TLS, HOST:PORT (needs --tls-cert, --tls-key)",
            parse_listen_address, "HOST:PORT"),
    Setting("tls_cert", "TLS certificate chain (PEM, leaf first) of the terminal listener",
            Path, "FILE"),
    Setting("tls_key", "private key (PEM, RSA 2048+ or ECDSA P-256/P-384) of --tls-cert",
            Path, "FILE"),
    Setting("tls_client_ca", "mutual TLS: devices need a certificate issued by this CA bundle",
            Path, "FILE"),
    Setting("tls_identity", f"mutual TLS: where the certificate names the terminal: "
            f"{', '.join(IDENTITY_RULES)}", identity_rule, "RULE"),
    Setting("tls_ocsp", f"mutual TLS: OCSP for device certificates: {', '.join(OCSP_MODES)}",
            _ocsp_mode, "MODE"),
    Setting("tls_ocsp_url", "OCSP responder for every device certificate (default: the one "
            "each certificate names)", _http_url, "URL"),
    Setting("tls_ocsp_timeout", "deadline of one OCSP check", _positive(float), "SECONDS"),
    Setting("tls_handshake_timeout", "a TLS handshake must complete within this",
            _positive(float), "SECONDS"),
    Setting("tls_reload_interval", "check the TLS files for changes this often (0: on SIGHUP "
            "only)", _non_negative_float, "SECONDS"),
    Setting("tls_max_handshakes", "TLS handshakes in progress at once", _positive(int), "N"),
    Setting("grpc_tls_cert", "control plane over TLS: certificate chain (PEM)", Path, "FILE"),
    Setting("grpc_tls_key", "control plane over TLS: private key (PEM)", Path, "FILE"),
    Setting("grpc_tls_client_ca", "control plane mutual TLS: clients need a certificate issued "
            "by this CA bundle (a credential for a non-loopback --grpc-listen)", Path, "FILE"),
    Setting("rsa_key", "platform RSA key (PEM, 1024-bit) for JT/T 808 body encryption "
            "(default: created under --data-dir)", Path, "FILE"),
    Setting("durability", "when terminals are acknowledged: fsync (report on disk, survives "
            "power loss), os (survives a crash of the process), memory (nothing kept)",
            lambda t: _choice(t, DURABILITIES), "MODE"),
    Setting("log_writer", "where the event log commits: process (a writer process of its own, "
            "out of the GIL: more acknowledged reports per second at saturation) or thread (in "
            "the gateway's process: less CPU at moderate rates, one process fewer)",
            lambda t: _choice(t, LOG_WRITERS), "WHERE"),
    Setting("retention_age", "keep events in the log this long (s, or with m/h/d; 0: no "
            "limit)", _duration, "SECONDS"),
    Setting("retention_bytes", "keep the log at most this big (bytes, or with K/M/G; 0: no "
            "limit)", _size, "BYTES"),
    Setting("nats_url", "cluster mode: NATS server URL(s) nats://HOST:PORT, comma-separated",
            cluster.nats_urls, "URL"),
    Setting("node_id", "cluster mode: this node's name (default: the host name)",
            cluster.node_id, "NAME"),
    Setting("nats_creds", "cluster mode: NATS credentials file (JWT and NKey seed)", Path,
            "FILE"),
    Setting("nats_user", "cluster mode: NATS user name (with --nats-password)", _token, "USER"),
    Setting("nats_password", "cluster mode: NATS password", _token, "PASSWORD"),
    Setting("nats_token", "cluster mode: NATS authentication token", _token, "TOKEN"),
    Setting("nats_tls_ca", "cluster mode: CA bundle to verify the NATS server (TLS)", Path,
            "FILE"),
    Setting("nats_tls_cert", "cluster mode: client certificate (PEM) for NATS over TLS", Path,
            "FILE"),
    Setting("nats_tls_key", "cluster mode: private key (PEM) of --nats-tls-cert", Path, "FILE"),
    Setting("cluster_ttl", "cluster mode: a stopped node's sessions leave the directory after "
            "this long", _positive(float), "SECONDS"),
    Setting("workers", "cluster mode: node processes on this machine sharing --listen",
            _positive(int), "N"),
    Setting("nats_format", "cluster mode: locations and events on JetStream as protobuf "
            "(default) or json", cluster.nats_format, "FORMAT"),
)  # fmt: skip
_BY_NAME: Final = {s.name: s for s in SETTINGS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML file of settings")
    for setting in SETTINGS:
        flag = "--" + setting.name.replace("_", "-")
        env = ENV_PREFIX + setting.name.upper()
        parser.add_argument(
            flag,
            dest=setting.name,
            metavar=setting.metavar,
            default=None,
            help=f"{setting.help} (env {env}; default {_default_text(setting.name)})",
        )


def _default_text(name: str) -> str:
    if name in SECRETS:
        return "none"
    value = getattr(GatewayConfig(), name)
    return "off" if value is None else str(value)


def load(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Merge the layers; raise ``ConfigError`` naming the setting and the layer at fault."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file: Path | None = getattr(args, "config", None) if args is not None else None
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    if config_file is not None:
        values.update(_from_toml(config_file))
    for setting in SETTINGS:
        text = environ.get(ENV_PREFIX + setting.name.upper())
        if text is not None:
            values[setting.name] = _parse(
                setting, text, f"environment {ENV_PREFIX}{setting.name.upper()}"
            )
    if args is not None:
        for setting in SETTINGS:
            text = getattr(args, setting.name, None)
            if text is not None:
                flag = "--" + setting.name.replace("_", "-")
                values[setting.name] = _parse(setting, text, flag)
    config = dataclasses.replace(GatewayConfig(), **values)
    validate(config)
    return config


def grpc_token_of(config: GatewayConfig) -> str | None:
    """The control plane's token: ``grpc_token``, or what ``grpc_token_file`` holds (one line,
    surrounding whitespace ignored), read when the control plane starts."""
    path = config.grpc_token_file
    if path is None:
        return config.grpc_token
    if config.grpc_token is not None:
        raise ConfigError("--grpc-token and --grpc-token-file both give the token: give one")
    return read_token_file(path, "--grpc-token-file")


def read_token_file(path: Path, flag: str) -> str:
    """The token ``path`` holds (one line, surrounding whitespace ignored); a ``ConfigError``
    naming ``flag`` when it cannot be read or is no token. Files keep tokens out of the
    process list."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{flag}: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{flag}: {path} cannot be read: {why}") from None
    try:
        return _token(text)
    except ValueError as error:
        raise ConfigError(f"{flag}: {path}: {error}") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remote_auth_endpoint(config: GatewayConfig) -> HostPort:
    """The DeviceAuthService of ``--auth remote``; a ConfigError when none is set."""
    if config.auth_endpoint is None:
        raise ConfigError("--auth remote needs --auth-endpoint HOST:PORT (the DeviceAuthService)")
    return config.auth_endpoint


def validate(config: GatewayConfig) -> None:
    """Combinations of settings that cannot work (or would be unsafe) fail at startup."""
    if config.auth == "remote":
        remote_auth_endpoint(config)
    if config.auth != "remote" and config.auth_endpoint is not None:
        raise ConfigError(
            f"--auth-endpoint is only used with --auth remote (auth is {config.auth})"
        )
    if (
        not is_loopback(config.grpc_listen.host)
        and config.grpc_token is None
        and config.grpc_token_file is None
        and config.grpc_tls_client_ca is None
    ):
        raise ConfigError(
            f"--grpc-listen {config.grpc_listen} is not a loopback address: the control plane "
            "would be open to the network. Set --grpc-token-file (or JT808_GRPC_TOKEN) so that "
            "every call must carry `authorization: Bearer <token>`, or --grpc-tls-cert, "
            "--grpc-tls-key and --grpc-tls-client-ca so that every client needs a certificate, "
            "or bind to 127.0.0.1"
        )
    validate_tls(config)
    problem = cluster.cluster_problem(config)
    if problem is not None:
        raise ConfigError(problem)


def validate_tls(config: GatewayConfig) -> None:
    """TLS settings that cannot work together (the files themselves are read by gateway.tls)."""
    if config.tls_listen is None:
        for name in ("tls_cert", "tls_key", "tls_client_ca", "tls_ocsp_url"):
            if getattr(config, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} is only used with --tls-listen HOST:PORT")
    else:
        missing = [f for f, v in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key))
                   if v is None]  # fmt: skip
        if missing:
            raise ConfigError(
                f"--tls-listen {config.tls_listen} needs {' and '.join(missing)} (the "
                "certificate chain and private key terminals see)"
            )
        if config.tls_listen == config.listen:
            raise ConfigError(
                f"--tls-listen and --listen are both {config.listen}: give TLS its own port"
            )
    if (config.grpc_tls_cert is None) != (config.grpc_tls_key is None):
        raise ConfigError("--grpc-tls-cert and --grpc-tls-key go together (give both)")
    if config.grpc_tls_client_ca is not None and config.grpc_tls_cert is None:
        raise ConfigError(
            "--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key: client "
            "certificates are only asked for over TLS"
        )
    _check_distinct_listeners(config)


#: Hosts that mean every address of the machine.
_ANY_HOST: Final = frozenset({"", "0.0.0.0", "::"})


def listeners(config: GatewayConfig) -> list[tuple[str, HostPort]]:
    """Every address the gateway will listen on, with its flag."""
    found = [("--listen", config.listen), ("--grpc-listen", config.grpc_listen)]
    if config.tls_listen is not None:
        found.append(("--tls-listen", config.tls_listen))
    if config.metrics_listen is not None:
        found.append(("--metrics-listen", config.metrics_listen))
    return found


def _check_distinct_listeners(config: GatewayConfig) -> None:
    """Two listeners on one port and overlapping addresses would fail to bind, the second one
    after the first had already said it listens."""
    addresses = listeners(config)
    for index, (flag, address) in enumerate(addresses):
        for other_flag, other in addresses[index + 1 :]:
            overlap = address.host == other.host or {address.host, other.host} & _ANY_HOST
            if address.port and address.port == other.port and overlap:
                raise ConfigError(
                    f"{flag} {address} and {other_flag} {other} use the same port; give each "
                    "its own"
                )


def _parse(setting: Setting, text: str, where: str) -> Any:
    try:
        return setting.parse(str(text))
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


#: What a setting's value is, by its metavar: for errors about TOML values of the wrong type.
_EXPECTED: Final = {
    "SECONDS": "a number of seconds",
    "N": "a whole number",
    "BYTES": "a whole number of bytes",
    "HOST:PORT": 'a "HOST:PORT" string',
}
_NUMERIC: Final = frozenset({"SECONDS", "N", "BYTES"})


def _from_toml(path: Path) -> dict[str, Any]:
    import tomllib  # noqa: PLC0415 (lazy: only --config reads TOML; the defaults are embedded)

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text (TOML files are)") from None
    except OSError as error:
        raise ConfigError(f"config file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: {error}") from None
    values: dict[str, Any] = {}
    for key, raw in document.items():
        name = key.replace("-", "_")
        setting = _BY_NAME.get(name)
        if setting is None:
            known = ", ".join(s.name for s in SETTINGS)
            raise ConfigError(f"config file {path}: unknown setting {shown(key)} (known: {known})")
        where = f"config file {path}, {key}"
        values[name] = _parse(setting, _toml_text(setting, raw, where), where)
    return values


def _toml_text(setting: Setting, raw: object, where: str) -> str:
    """A TOML value as the text the setting's parser reads: numbers for numeric settings,
    strings for the others (a number written as a string is accepted too)."""
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if isinstance(raw, str) or (number and setting.metavar in _NUMERIC):
        return str(raw)
    expected = _EXPECTED.get(setting.metavar, "a string")
    raise ConfigError(f"{where}: expected {expected}, not {_toml_kind(raw)}")


def _toml_kind(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, date | time):
        return "a date or time"
    if isinstance(value, list):
        return "an array"
    return "a table"


def flags_of(config: GatewayConfig) -> Sequence[str]:
    """Command-line flags reproducing ``config`` (for tests and for spawning gateways)."""
    flags: list[str] = []
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        if value is not None and value != getattr(GatewayConfig(), setting.name):
            if setting.name in SECRETS:
                continue  # never on a command line (visible to every user in ps)
            flags += ["--" + setting.name.replace("_", "-"), str(value)]
    return flags
