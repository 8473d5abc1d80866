"""The whole gateway process: data plane and control plane on one event loop."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.abc

from gateway.auth.base import AuthBackend
from gateway.server.config import GatewayConfig, HostPort
from gateway.server.gateway import Gateway
from gateway.server.listen_check import check_listen

from .remote_auth import RemoteAuthBackend
from .server import ControlPlane


@dataclass(frozen=True, slots=True)
class Addresses:
    terminals: HostPort
    grpc: HostPort


def auth_backend_for(config: GatewayConfig) -> AuthBackend | None:
    """The backend the data plane cannot build itself (the remote one); None: its default."""
    return RemoteAuthBackend.from_config(config) if config.auth == "remote" else None


class GatewayApp:
    def __init__(self, config: GatewayConfig, *, auth: AuthBackend | None = None) -> None:
        self.gateway = Gateway(config, auth=auth if auth is not None else auth_backend_for(config))
        self.control_plane = ControlPlane(self.gateway)

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[Addresses] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Every address is checked before anything binds (``ListenError``: nothing was
        started); then the control plane binds first, so a bad gRPC address fails before any
        terminal is accepted; both stop together when cancelled."""
        config = self.gateway.config
        check_listen(config.listen, "terminals", "--listen")
        check_listen(self.control_plane.requested, "gRPC", "--grpc-listen")
        if config.metrics_listen is not None:
            check_listen(config.metrics_listen, "metrics", "--metrics-listen")
        async with anyio.create_task_group() as tasks:
            grpc_address = await tasks.start(self.control_plane.serve)
            terminal_address = await tasks.start(self.gateway.serve)
            task_status.started(Addresses(terminal_address, grpc_address))
