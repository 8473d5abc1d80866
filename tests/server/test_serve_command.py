"""``jt808 serve`` as a real process: start, serve a terminal, stop on SIGTERM, refuse bad
settings with a clear message and exit code 2."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import anyio.abc
import pytest

from gateway import native
from gateway.protocol import V2013, V2019
from gateway.server.config import HostPort
from tests.timeouts import HANG_GUARD

from .harness import free_port
from .terminal_client import TerminalClient

REPO: Final = Path(__file__).resolve().parents[2]
COMMAND: Final = (sys.executable, "-m", "clients.cli", "serve")


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without ``JT808_*`` settings, plus ``extra``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("JT808_")}
    environment.update(extra)
    return environment


def run_serve(
    *args: str, environment: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``jt808 serve ARGS`` to completion (for settings it must refuse)."""
    return subprocess.run(
        [*COMMAND, *args],
        cwd=REPO,
        env=dict(environment or clean_environment()),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


class ServeProcess:
    """A running ``jt808 serve`` whose stderr (the log) is collected line by line."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = anyio.Event()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def collect(self) -> None:
        assert self.process.stderr is not None
        pending = b""
        async for chunk in self.process.stderr:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            self.lines += [line.decode() for line in complete]
            self._changed.set()
            self._changed = anyio.Event()
        if pending:
            self.lines.append(pending.decode())
        self._changed.set()

    async def wait_for_line(self, text: str, timeout: float = HANG_GUARD) -> str:
        """The first log line containing ``text``."""
        with anyio.fail_after(timeout):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"jt808 serve exited without logging {text!r}:\n{self.log}"
                    )
                await self._changed.wait()


@asynccontextmanager
async def serving(
    *args: str,
    environment: Mapping[str, str] | None = None,
    ready: str = "event=listening ",
    command: Sequence[str] = COMMAND,
    stdout: int = subprocess.DEVNULL,
) -> AsyncIterator[ServeProcess]:
    """``jt808 serve ARGS`` running until the block ends (then killed if still alive), once it
    logged ``ready``; the gRPC control plane on a free loopback port unless ARGS choose one."""
    if "--grpc-listen" not in args:
        args = (*args, "--grpc-listen", f"127.0.0.1:{free_port()}")
    process = await anyio.open_process(
        [*command, *args],
        cwd=REPO,
        env=dict(environment or clean_environment()),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )
    try:
        async with process, anyio.create_task_group() as tasks:
            server = ServeProcess(process)
            tasks.start_soon(server.collect)
            try:
                await server.wait_for_line(ready)
                yield server
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.move_on_after(5, shield=True):
                    await process.wait()
    except BaseExceptionGroup as group:  # let a failed assertion come out as itself
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


@pytest.mark.anyio
async def test_serve_accepts_a_terminal_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"),
        ) as server:  # fmt: skip
            listening = server.wait_for_line("event=listening ")
            assert f"address={address}" in await listening
            assert "INSECURE" in server.log
            async with TerminalClient.connect(address, V2019) as terminal:
                await terminal.log_in(terminal_id="ANY-DEVICE")  # unknown, let in anyway
                server.process.send_signal(signal.SIGTERM)
                await terminal.closed()
                with anyio.fail_after(HANG_GUARD):
                    assert await server.process.wait() == 0
            await server.wait_for_line("shutting down")


@pytest.mark.anyio
async def test_port_0_listeners_get_free_ports_and_log_them(tmp_path: Path) -> None:
    # A script need not pick ports: it reads the bound ones from the log and uses them.
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0", "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"),
        ) as server:  # fmt: skip
            listening = await server.wait_for_line("event=listening ")
            control = await server.wait_for_line("control plane listening")
            terminals = logged_address(listening, "address")
            metrics = logged_address(listening, "metrics")
            grpc = logged_address(control, "address")
            assert 0 not in {terminals.port, metrics.port, grpc.port}
            async with TerminalClient.connect(terminals, V2019) as terminal:
                await terminal.log_in(terminal_id="ANY-DEVICE")
            with socket.create_connection((grpc.host, grpc.port), timeout=HANG_GUARD):
                pass  # the control plane is on the port it logged
            with socket.create_connection((metrics.host, metrics.port), timeout=HANG_GUARD):
                pass


def logged_address(line: str, key: str) -> HostPort:
    """``key=HOST:PORT`` of a logfmt line."""
    value = next(word for word in line.split() if word.startswith(f"{key}="))
    host, _, port = value.removeprefix(f"{key}=").rpartition(":")
    return HostPort(host, int(port))


def test_serve_refuses_port_0_in_cluster_mode_with_exit_code_2(tmp_path: Path) -> None:
    result = run_serve("--listen", "127.0.0.1:0", "--nats-url", "nats://127.0.0.1:4222",
                       "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert result.returncode == 2
    assert "port 0 (any free port) does not work in cluster mode" in result.stderr


@pytest.mark.anyio
async def test_serve_honours_jt808_idle_timeout_from_the_environment(tmp_path: Path) -> None:
    address = HostPort("127.0.0.1", free_port())
    environment = clean_environment(JT808_IDLE_TIMEOUT="1", JT808_AUTH="insecure-accept-all")
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--data-dir", str(tmp_path / "data"),
            environment=environment,
        ) as server:  # fmt: skip
            async with TerminalClient.connect(address, V2013) as terminal:
                started = anyio.current_time()  # before the last frame the gateway hears
                await terminal.log_in()
                assert await terminal.closed() == []
                assert anyio.current_time() - started >= 1
            assert "reason=idle_timeout" in await server.wait_for_line("disconnected")
            server.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(HANG_GUARD):
                assert await server.process.wait() == 0


def test_serve_refuses_a_privileged_listen_port_with_exit_code_2(tmp_path: Path) -> None:
    result = run_serve("--listen", "127.0.0.1:80", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--listen" in result.stderr
    assert "port 80 is outside 1024-65535" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_an_unknown_key_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("idle_timeout = 30\nidle_timout = 30\n", encoding="utf-8")
    result = run_serve("--config", str(config))
    assert result.returncode == 2
    assert f"config file {config}: unknown setting 'idle_timout'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_port_in_use_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(
            "--listen", f"127.0.0.1:{port}", "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def taken_port() -> socket.socket:
    """A loopback socket listening on a port of its own (close it to free the port)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


@pytest.mark.parametrize(
    ("flag", "what"),
    [("--listen", "terminals"), ("--grpc-listen", "gRPC"), ("--metrics-listen", "metrics")],
)
def test_a_port_in_use_is_one_sentence_before_anything_listens(
    tmp_path: Path, flag: str, what: str
) -> None:
    addresses = {
        "--listen": f"127.0.0.1:{free_port()}",
        "--grpc-listen": f"127.0.0.1:{free_port()}",
        "--metrics-listen": f"127.0.0.1:{free_port()}",
    }
    with taken_port() as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        addresses[flag] = address
        result = run_serve(
            *(word for pair in addresses.items() for word in pair),
            "--auth", "insecure-accept-all", "--data-dir", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"jt808 serve: cannot listen on {address} for {what} ({flag}): address already in use"
    ]


def test_an_unusable_data_dir_is_one_sentence(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("", encoding="utf-8")
    result = run_serve("--data-dir", str(a_file), "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"jt808 serve: cannot use the data directory {a_file} (--data-dir): "
        "it is a file, not a directory"
    ]


def test_a_wrongly_typed_toml_value_is_one_sentence(tmp_path: Path) -> None:
    config = tmp_path / "jt808.toml"
    config.write_text("idle_timeout = true\n", encoding="utf-8")
    result = run_serve("--config", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"jt808 serve: config file {config}, idle_timeout: expected a number of seconds, "
        "not a boolean (true)"
    ]


def test_a_typo_in_a_serve_flag_prints_the_serve_usage_and_a_suggestion() -> None:
    result = run_serve("--idle-timout", "30")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: jt808 serve ")
    last = result.stderr.splitlines()[-1]
    assert last == (
        "jt808 serve: error: unrecognized arguments: --idle-timout 30 "
        "(did you mean --idle-timeout?)"
    )


def test_jt808_version_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clients.cli", "--version"],
        cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    core = "compiled" if native.running_compiled() else "pure-Python"
    expected = f"jt808 {importlib.metadata.version('jt808-gateway')} ({core} protocol core)\n"
    assert result.stdout == expected


@pytest.mark.anyio
async def test_log_format_json_writes_one_object_per_line(tmp_path: Path) -> None:
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"), "--log-format", "json",
            ready='"event": "listening"',
        ) as server:  # fmt: skip
            server.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(HANG_GUARD):
                assert await server.process.wait() == 0
            await server.wait_for_line("shutting down")
    events = [json.loads(line) for line in server.lines if line]
    assert [e["event"] for e in events if e["event"] == "listening"] == ["listening"]
    listening = next(e for e in events if e["event"] == "listening")
    assert listening["address"] == str(address) and listening["level"] == "info"


@pytest.mark.anyio
async def test_sighup_without_tls_is_logged_and_serving_goes_on(tmp_path: Path) -> None:
    """SIGHUP reloads TLS material; without a TLS listener there is nothing to reload, and the
    signal's default action (exit) must not stop the gateway."""
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"),
        ) as server:  # fmt: skip
            for sent in (1, 2):  # twice: the second one too is only a line
                server.process.send_signal(signal.SIGHUP)
                while sum("SIGHUP" in logged for logged in server.lines) < sent:
                    await server.wait_for_line("SIGHUP")
                    await anyio.sleep(0.01)
            async with TerminalClient.connect(address, V2019) as terminal:
                await terminal.log_in(terminal_id="ANY-DEVICE")
            assert server.process.returncode is None
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    hups = [logged for logged in server.lines if "SIGHUP" in logged]
    assert len(hups) == 2
    assert all("nothing to reload (no TLS listener)" in logged for logged in hups)
