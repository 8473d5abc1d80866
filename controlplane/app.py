"""The whole gateway process: data plane and control plane on one event loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from gateway.auth.base import AuthBackend
from gateway.server.config import GatewayConfig, HostPort
from gateway.server.gateway import Gateway
from gateway.server.listen_check import check_listen
from gateway.server.platform_key import platform_key_for
from gateway.server.tls_terminals import serve_tls_terminals

from .server import ControlPlane

if TYPE_CHECKING:
    from gateway.tls.server import TlsServer

    from .cluster_service import Cluster


@dataclass(frozen=True, slots=True)
class Addresses:
    terminals: HostPort
    grpc: HostPort
    #: The terminal listener over TLS (None without ``--tls-listen``).
    tls: HostPort | None = None


def auth_backend_for(config: GatewayConfig) -> AuthBackend | None:
    """The backend the data plane cannot build itself (the remote one); None: its default."""
    if config.auth != "remote":
        return None
    from .remote_auth import RemoteAuthBackend  # noqa: PLC0415 (lazy: only remote auth)

    return RemoteAuthBackend.from_config(config)


class GatewayApp:
    def __init__(self, config: GatewayConfig, *, auth: AuthBackend | None = None) -> None:
        #: Cluster mode (--nats-url): the node's NATS side; None for the embedded gateway.
        self.cluster = _cluster(config, auth)
        if self.cluster is not None:
            auth = self.cluster.auth
        self.gateway = Gateway(config, auth=auth if auth is not None else auth_backend_for(config))
        self.control_plane = ControlPlane(
            self.gateway,
            servicer=None if self.cluster is None else self.cluster.attach(self.gateway),
        )
        #: The terminal listener's TLS material, read now so that a bad file stops startup
        #: (exit 2); None without --tls-listen (and then the TLS stack is never imported).
        self.tls = self.gateway.tls = _tls_server(self.gateway)
        #: The platform's RSA key for body encryption (0x8A00); sessions take it as ``rsa=``.
        self.platform_key = self.gateway.platform_key = platform_key_for(config)

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[Addresses] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Every address is checked before anything binds (``ListenError``: nothing was
        started); then the control plane binds first, so a bad gRPC address fails before any
        terminal is accepted; both stop together when cancelled."""
        config = self.gateway.config
        shared = config.nats_url is not None  # the nodes of one machine share terminal ports
        check_listen(config.listen, "terminals", "--listen", reuse_port=shared)
        check_listen(self.control_plane.requested, "gRPC", "--grpc-listen")
        if config.tls_listen is not None:
            check_listen(config.tls_listen, "terminals over TLS", "--tls-listen", reuse_port=shared)
        if config.metrics_listen is not None:
            check_listen(config.metrics_listen, "metrics", "--metrics-listen")
        try:
            async with anyio.create_task_group() as tasks:
                if self.cluster is not None:  # NATS first: unreachable, nothing listens
                    await tasks.start(self.cluster.serve)
                grpc_address = await tasks.start(self.control_plane.serve)
                terminal_address = await tasks.start(self.gateway.serve)
                tls_address = None
                if self.tls is not None and config.tls_listen is not None:
                    tls_address = await tasks.start(
                        serve_tls_terminals, self.gateway, self.tls, config.tls_listen
                    )
                    tasks.start_soon(self._serve_tls_reloads, self.tls)
                task_status.started(Addresses(terminal_address, grpc_address, tls_address))
        finally:
            if self.tls is not None:
                with anyio.CancelScope(shield=True):
                    await self.tls.aclose()

    async def _serve_tls_reloads(self, tls: TlsServer) -> None:
        """SIGHUP, and a change of the files every --tls-reload-interval, reload them."""
        from gateway.tls.reload import serve_reloads  # noqa: PLC0415 - only with TLS

        await serve_reloads([tls], interval=self.gateway.config.tls_reload_interval)


def _tls_server(gateway: Gateway) -> TlsServer | None:
    """The TLS listener's material (its metrics beside the gateway's); the TLS stack is imported
    only when it is configured."""
    if gateway.config.tls_listen is None:
        return None
    from gateway.tls.server import TlsServer  # noqa: PLC0415 - only with TLS

    return TlsServer.from_config(gateway.config, registry=gateway.metrics.registry)


def _cluster(config: GatewayConfig, auth: AuthBackend | None) -> Cluster | None:
    """Cluster mode's pieces (imported only then: a plain gateway loads none of it)."""
    if config.nats_url is None:
        return None
    from .cluster_service import Cluster  # noqa: PLC0415

    return Cluster(config, auth)
