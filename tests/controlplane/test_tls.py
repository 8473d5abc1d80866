"""The control plane over TLS and mutual TLS, over real gRPC channels: who gets in, the client
certificate as the credential of a non-loopback bind, the token on top, reloads of the files,
and one-sentence startup errors for bad files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import anyio
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2

from clients.pki import CertificateAuthority, certificate_pem
from gateway.server.config import ConfigError, GatewayConfig, HostPort, validate
from gateway.tls.files import TlsFilesError
from tests.tls.pki import TestPki, make_pki

from .harness import RunningApp, app_config, bearer, running_app
from .test_access import health_check

pytestmark = pytest.mark.anyio
RPC_TIMEOUT: Final = 5.0
TOKEN: Final = "cp-token-tls-9c1e"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"), ocsp_url=None)


def tls_settings(pki: TestPki, *, mutual: bool) -> dict[str, Any]:
    settings = {"grpc_tls_cert": pki.files["server"].cert, "grpc_tls_key": pki.files["server"].key}
    if mutual:
        settings["grpc_tls_client_ca"] = pki.root_pem
    return settings


def channel_credentials(
    pki: TestPki, client: str | None = None, *, trust: Path | None = None
) -> grpc.ChannelCredentials:
    files = pki.files[client] if client is not None else None
    return grpc.ssl_channel_credentials(
        root_certificates=(trust or pki.root_pem).read_bytes(),
        private_key=None if files is None else files.key.read_bytes(),
        certificate_chain=None if files is None else files.cert.read_bytes(),
    )


@asynccontextmanager
async def secure_channel(
    app: RunningApp, credentials: grpc.ChannelCredentials
) -> AsyncIterator[grpc.aio.Channel]:
    channel = grpc.aio.secure_channel(app.grpc_target, credentials)
    try:
        yield channel
    finally:
        await channel.close()


async def health(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> str:
    """The server's health, or the status code name of the failed call."""
    try:
        status = await health_check(channel, "", metadata)
    except grpc.aio.AioRpcError as error:
        return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


async def test_tls_serves_clients_that_trust_its_ca(pki: TestPki, tmp_path: Path) -> None:
    async with running_app(tmp_path, **tls_settings(pki, mutual=False)) as app:
        async with secure_channel(app, channel_credentials(pki)) as channel:
            assert await health(channel) == "SERVING"
        # A plaintext client gets nothing.
        channel = grpc.aio.insecure_channel(app.grpc_target)
        try:
            assert await health(channel) == "UNAVAILABLE"
        finally:
            await channel.close()
        # Nor does one that trusts another CA.
        wrong = channel_credentials(pki, trust=pki.other_root_pem)
        async with secure_channel(app, wrong) as channel:
            assert await health(channel) == "UNAVAILABLE"


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(
    pki: TestPki, tmp_path: Path
) -> None:
    async with running_app(tmp_path, **tls_settings(pki, mutual=True)) as app:
        async with secure_channel(app, channel_credentials(pki, "control_client")) as channel:
            assert await health(channel) == "SERVING"
        async with secure_channel(app, channel_credentials(pki)) as channel:
            assert await health(channel) == "UNAVAILABLE"  # no certificate: no handshake
        async with secure_channel(app, channel_credentials(pki, "other_ca")) as channel:
            assert await health(channel) == "UNAVAILABLE"


async def test_with_a_token_too_a_call_needs_both(pki: TestPki, tmp_path: Path) -> None:
    settings = tls_settings(pki, mutual=True)
    credentials = channel_credentials(pki, "control_client")
    async with (
        running_app(tmp_path, grpc_token=TOKEN, **settings) as app,
        secure_channel(app, credentials) as channel,
    ):
        assert await health(channel) == "UNAUTHENTICATED"
        assert await health(channel, bearer(TOKEN)) == "SERVING"


def test_a_client_certificate_is_a_credential_for_a_non_loopback_bind(pki: TestPki) -> None:
    exposed = GatewayConfig(grpc_listen=HostPort("0.0.0.0", 50051))
    with pytest.raises(ConfigError, match="not a loopback address"):
        validate(exposed)
    with pytest.raises(ConfigError, match="not a loopback address"):  # TLS alone is not one
        validate(GatewayConfig(grpc_listen=HostPort("0.0.0.0", 50051),
                               grpc_tls_cert=Path("c"), grpc_tls_key=Path("k")))  # fmt: skip
    validate(
        GatewayConfig(
            grpc_listen=HostPort("0.0.0.0", 50051),
            grpc_tls_cert=Path("c"),
            grpc_tls_key=Path("k"),
            grpc_tls_client_ca=Path("ca"),
        )
    )


def test_control_plane_tls_settings_go_together() -> None:
    with pytest.raises(ConfigError, match="--grpc-tls-cert and --grpc-tls-key go together"):
        validate(GatewayConfig(grpc_tls_cert=Path("c")))
    with pytest.raises(ConfigError, match="--grpc-tls-client-ca needs --grpc-tls-cert"):
        validate(GatewayConfig(grpc_tls_client_ca=Path("ca")))


def test_bad_files_stop_the_control_plane_before_it_binds(pki: TestPki, tmp_path: Path) -> None:
    from controlplane.app import GatewayApp

    config = app_config(
        tmp_path,
        grpc_tls_cert=pki.files["server"].cert,
        grpc_tls_key=pki.files["server_rsa"].key,
    )
    with pytest.raises(TlsFilesError, match=r"^--grpc-tls-key: .* is not the key of"):
        GatewayApp(config)


async def test_renewed_certificates_are_used_by_new_connections(
    pki: TestPki, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cp.pem", tmp_path / "cp.key"
    cert.write_bytes(pki.files["server"].cert.read_bytes())
    key.write_bytes(pki.files["server"].key.read_bytes())
    async with (
        running_app(tmp_path, grpc_tls_cert=cert, grpc_tls_key=key) as app,
        secure_channel(app, channel_credentials(pki)) as old_channel,
    ):
        assert await health(old_channel) == "SERVING"
        # Renewal by another CA: clients must now trust that one.
        new_ca = CertificateAuthority.root("renewed control-plane CA")
        renewed = new_ca.issue_server(["localhost", "127.0.0.1"])
        renewed.write(tmp_path, "cp")
        new_trust = tmp_path / "new-ca.pem"
        new_trust.write_bytes(certificate_pem(new_ca.certificate))
        with anyio.fail_after(RPC_TIMEOUT * 2):
            async with secure_channel(app, channel_credentials(pki, trust=new_trust)) as channel:
                assert await health(channel) == "SERVING"
        # The channel opened before the renewal still works.
        assert await health(old_channel) == "SERVING"
