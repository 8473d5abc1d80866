"""Reload without restart: new certificates, keys and CA bundles take effect for new connections
(on SIGHUP, on a file change, or a direct ``reload``) while live connections keep running; a
broken file keeps the previous material."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import anyio.streams.tls
import pytest
from cryptography import x509

from gateway.protocol import V2013
from gateway.server.config import HostPort
from gateway.tls.context import ServerTlsFiles
from gateway.tls.reload import serve_reloads
from gateway.tls.server import TlsServer, TlsSettings
from tests.server.harness import free_port
from tests.server.terminal_client import TerminalClient
from tests.server.test_serve_command import serving
from tests.timeouts import HANG_GUARD

from .conftest import copy_files
from .harness import GUARD, device_context, echo, open_echo, running_listener
from .pki import TestPki

pytestmark = pytest.mark.anyio


def mutual_settings(pki: TestPki, directory: Path) -> TlsSettings:
    cert, key = copy_files(pki, "server", directory)
    client_ca = directory / "client-ca.pem"
    client_ca.write_bytes(pki.root_pem.read_bytes())
    return TlsSettings(ServerTlsFiles(cert, key, client_ca))


async def test_a_new_client_ca_applies_to_new_connections_and_live_ones_keep_running(
    pki: TestPki, tmp_path: Path
) -> None:
    settings = mutual_settings(pki, tmp_path)
    async with running_listener(settings) as running:
        async with open_echo(running.address, device_context(pki, "device")) as (reader, writer):
            writer.write(b"before")
            assert await reader.readexactly(6) == b"before"
            # The operator now trusts another CA only.
            assert settings.files.client_ca is not None
            settings.files.client_ca.write_bytes(pki.other_root_pem.read_bytes())
            assert running.tls.reload()
            assert await echo(running.address, device_context(pki, "device")) == b""
            await running.counted("jt808_tls_handshakes", outcome="certificate_untrusted")
            other = device_context(pki, "other_ca")
            other.load_verify_locations(pki.root_pem)
            assert await echo(running.address, other) == b"ping"
            # The session made before the reload is untouched.
            writer.write(b"after")
            with anyio.fail_after(GUARD):
                assert await reader.readexactly(5) == b"after"
        assert running.count("jt808_tls_reloads", outcome="ok") == 1


async def test_a_renewed_server_certificate_is_served_after_reload(
    pki: TestPki, tmp_path: Path
) -> None:
    cert, key = copy_files(pki, "server", tmp_path)
    settings = TlsSettings(ServerTlsFiles(cert, key))
    async with running_listener(settings) as running:
        assert (
            await served_certificate(running.address.port, pki) == pki.issued["server"].certificate
        )
        cert.write_bytes(pki.files["server_rsa"].cert.read_bytes())
        key.write_bytes(pki.files["server_rsa"].key.read_bytes())
        assert running.tls.reload()
        renewed = pki.issued["server_rsa"].certificate
        assert await served_certificate(running.address.port, pki) == renewed


async def test_a_broken_file_keeps_the_previous_certificates(
    pki: TestPki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = copy_files(pki, "server", tmp_path)
    settings = TlsSettings(ServerTlsFiles(cert, key))
    async with running_listener(settings) as running:
        key.write_bytes(pki.files["server_rsa"].key.read_bytes())  # not the key of ``cert``
        assert not running.tls.reload()
        assert running.count("jt808_tls_reloads", outcome="failed") == 1
        assert any("--tls-key" in str(getattr(r, "error", "")) for r in caplog.records)
        assert await echo(running.address, device_context(pki, None)) == b"ping"
        assert (
            await served_certificate(running.address.port, pki) == pki.issued["server"].certificate
        )


async def test_a_file_change_is_picked_up_without_a_signal(pki: TestPki, tmp_path: Path) -> None:
    cert, key = copy_files(pki, "server", tmp_path)
    tls = TlsServer(TlsSettings(ServerTlsFiles(cert, key)))
    first = tls.generation
    async with anyio.create_task_group() as tasks:
        await tasks.start(lambda **kw: serve_reloads([tls], interval=0.02, on_signal=False, **kw))
        assert not tls.reload(only_if_changed=True)  # nothing changed yet
        cert.write_bytes(pki.files["server_rsa"].cert.read_bytes())
        key.write_bytes(pki.files["server_rsa"].key.read_bytes())
        with anyio.fail_after(GUARD):
            while tls.generation is first:
                await anyio.sleep(0.02)
        tasks.cancel_scope.cancel()
    assert tls.generation.key_pair.leaf == pki.issued["server_rsa"].certificate


async def test_sighup_reloads(pki: TestPki, tmp_path: Path) -> None:
    cert, key = copy_files(pki, "server", tmp_path)
    tls = TlsServer(TlsSettings(ServerTlsFiles(cert, key)))
    first = tls.generation
    async with anyio.create_task_group() as tasks:
        await tasks.start(lambda **kw: serve_reloads([tls], interval=0, **kw))
        os.kill(os.getpid(), signal.SIGHUP)
        with anyio.fail_after(GUARD):
            while tls.generation is first:
                await anyio.sleep(0.01)
        tasks.cancel_scope.cancel()
    assert tls.metrics.registry.get_sample_value("jt808_tls_reloads_total", {"outcome": "ok"}) == 1


async def served_certificate(port: int, pki: TestPki) -> x509.Certificate:
    """The leaf certificate the listener presents to a new connection."""
    context = device_context(pki, None)
    with anyio.fail_after(GUARD):
        stream = await anyio.connect_tcp(
            "127.0.0.1", port, ssl_context=context, tls_hostname="localhost"
        )
        async with stream:
            der = stream.extra(anyio.streams.tls.TLSAttribute.peer_certificate_binary)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def test_jt808_serve_with_a_tls_listener_reloads_on_sighup_and_keeps_serving(
    pki: TestPki, tmp_path: Path
) -> None:
    cert, key = copy_files(pki, "server", tmp_path / "tls")
    plain = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(plain), "--tls-listen", f"127.0.0.1:{free_port()}",
            "--tls-cert", str(cert), "--tls-key", str(key), "--tls-reload-interval", "0",
            "--auth", "insecure-accept-all", "--data-dir", str(tmp_path / "data"),
        ) as server:  # fmt: skip
            server.process.send_signal(signal.SIGHUP)
            reloaded = await server.wait_for_line("SIGHUP")
            async with TerminalClient.connect(plain, V2013) as terminal:
                await terminal.log_in()
            assert server.process.returncode is None
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert 'action="reload TLS"' in reloaded
    assert not any("nothing to reload" in line for line in server.lines)
