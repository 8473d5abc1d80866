"""An idle ``jt808 serve`` loads only what a plain TCP gateway needs: the command line imports
the module of the command that runs, and TLS, OCSP, remote auth, the clients and Prometheus'
client are imported only by a gateway configured to use them (each costs resident memory)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

import anyio
import pytest

from gateway.server.config import HostPort
from tests.timeouts import HANG_GUARD

from .harness import free_port
from .test_serve_command import serving

#: ``jt808 serve`` through the real entry point; at exit it prints the modules it had loaded.
SERVE_AND_LIST_MODULES: Final = (
    sys.executable,
    "-c",
    "import atexit, json, sys\n"
    "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), flush=True))\n"
    "from clients.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n",
    "serve",
)
#: Packages an idle plain-TCP gateway must not import.
OPTIONAL: Final = (
    "aiohttp",  # the dashboard
    "httpx",  # OCSP
    "clients.sdk",  # the gRPC client
    "clients.simulator",
    "clients.dashboard",
    "clients.client_options",
    "gateway.tls",
    "controlplane.remote_auth",
    "controlplane.credentials",
    "cryptography",  # TLS, OCSP and the platform's RSA key: only when configured
    "nats",  # cluster mode (--nats-url)
    "prometheus_client",  # until a registry is asked for (--metrics-listen, TLS)
    "wsgiref",
    "argcomplete",  # only when the shell asks for completions
    "importlib.metadata",  # only for --version
    "ctypes",  # only in a cluster worker
    # Standard-library modules only a rarer path needs (each costs resident memory too).
    "importlib.abc",  # pulled importlib.resources, tempfile, bz2, lzma in (gateway.native)
    "difflib",  # a mistyped flag's suggestion
    "csv",  # `jt808 devices import`
    "gzip",  # compressing a terminal's upload (the simulator)
    "tomllib",  # only --config reads a TOML file
    # Bodies of commands and their answers (gateway.protocol.bodies.LAZY), and the command
    # builders that import them: on the first command or message of their kind.
    "gateway.protocol.bodies.parameters",
    "gateway.protocol.bodies.areas",
    "gateway.protocol.bodies.terminal",
    "controlplane.commands",
    "controlplane.replies",
)


def loaded(modules: list[str], package: str) -> list[str]:
    return [m for m in modules if m == package or m.startswith(package + ".")]


async def output_at_exit(command: tuple[str, ...], tmp_path: Path, *args: str) -> bytes:
    """What ``command`` (``jt808 serve`` through the real entry point) printed once it served
    and was stopped with SIGTERM."""
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"), *args,
            command=command, stdout=subprocess.PIPE,
        ) as server:  # fmt: skip
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
            assert server.process.stdout is not None
            return b"".join([chunk async for chunk in server.process.stdout])


@pytest.mark.anyio
async def test_an_idle_gateway_imports_no_optional_modules(tmp_path: Path) -> None:
    modules: list[str] = json.loads(await output_at_exit(SERVE_AND_LIST_MODULES, tmp_path))
    assert "controlplane.server" in modules  # the listing is of a gateway that served
    assert {p: loaded(modules, p) for p in OPTIONAL if loaded(modules, p)} == {}
