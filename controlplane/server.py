"""The gRPC control plane on the data plane's event loop: GatewayService, DeviceRegistryService,
health checking and reflection, behind the bearer-token interceptor when a token is set.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, cast

import anyio
import anyio.abc
import anyio.to_thread
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from gateway.auth.local import LocalAuthBackend
from gateway.server.config import GatewayConfig, HostPort, grpc_token_of
from gateway.server.gateway import Gateway
from gateway.server.logs import get_logger
from jt808.gateway.v1 import (
    device_registry_service_pb2,
    device_registry_service_pb2_grpc,
    gateway_service_pb2,
    gateway_service_pb2_grpc,
)

from .access import BearerTokenInterceptor, describe_access
from .devices import DeviceRegistryServicer
from .gateway_service import GatewayServicer

if TYPE_CHECKING:
    from .credentials import ControlPlaneTls

log = get_logger()
GATEWAY_SERVICE: Final = gateway_service_pb2.DESCRIPTOR.services_by_name["GatewayService"]
REGISTRY_SERVICE: Final = device_registry_service_pb2.DESCRIPTOR.services_by_name[
    "DeviceRegistryService"
]
#: Time given to calls in progress when the gateway stops.
SHUTDOWN_GRACE: Final = 2.0


class ControlPlaneBindError(OSError):
    """The control plane's address cannot be bound."""


class ControlPlane:
    def __init__(
        self,
        gateway: Gateway,
        *,
        address: HostPort | None = None,
        servicer: GatewayServicer | None = None,
    ) -> None:
        self.gateway = gateway
        #: GatewayService's servicer (cluster mode passes one that routes between nodes).
        self.servicer = servicer or GatewayServicer(
            gateway, stream_queue=gateway.config.stream_queue
        )
        self.requested = address or gateway.config.grpc_listen
        self.address: HostPort | None = None
        self.health = HealthServicer()
        #: Read now, so that a bad certificate file stops ``jt808 serve`` at startup (exit 2).
        self.tls = _control_plane_tls(gateway.config)
        self.token = grpc_token_of(gateway.config)  # likewise for a token file

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[HostPort] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled, then stop with a short grace period."""
        token = self.token
        interceptors = [] if token is None else [BearerTokenInterceptor(token)]
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="grpc-sync")
        try:
            server = grpc.aio.server(
                interceptors=interceptors,
                migration_thread_pool=pool,  # the registry service is synchronous SQLite
                # Without this a second gateway could bind the same port and share its calls.
                options=[("grpc.so_reuseport", 0)],
            )
            self._add_services(server)
            try:
                if self.tls is None:
                    port = server.add_insecure_port(str(self.requested))
                else:
                    port = server.add_secure_port(
                        str(self.requested), self.tls.server_credentials()
                    )
            except RuntimeError:  # its text only says to set GRPC_VERBOSITY=debug
                raise ControlPlaneBindError(
                    f"cannot listen on {self.requested} for gRPC (--grpc-listen): the address "
                    "cannot be bound"
                ) from None
            self.address = HostPort(self.requested.host, port)
            # Health: "" (the whole server) and each service are serving once started.
            for name in ("", GATEWAY_SERVICE.full_name, REGISTRY_SERVICE.full_name):
                await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
            await server.start()
            log.info(
                "control plane listening",
                extra={"address": str(self.address),
                       "tls": "off" if self.tls is None else "on",
                       "access": describe_access(token=token is not None,
                                                 client_certificate=self.tls is not None
                                                 and self.tls.mutual)},
            )  # fmt: skip
            try:
                task_status.started(self.address)
                await anyio.sleep_forever()
            finally:
                with anyio.CancelScope(shield=True):
                    await self.health.enter_graceful_shutdown()
                    await server.stop(SHUTDOWN_GRACE)
        finally:
            with anyio.CancelScope(shield=True):
                await stop_off_the_loop(pool)

    def _add_services(self, server: grpc.aio.Server) -> None:
        gateway = self.gateway
        add_gateway_service(self.servicer, server)
        registry = gateway.auth.registry if isinstance(gateway.auth, LocalAuthBackend) else None
        device_registry_service_pb2_grpc.add_DeviceRegistryServiceServicer_to_server(
            DeviceRegistryServicer(registry, gateway.config.auth), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (
            GATEWAY_SERVICE.full_name,
            REGISTRY_SERVICE.full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)


class _HandlerCapture:
    """Stands in for the server while a generated ``add_*_to_server`` registers its handlers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass  # the same handlers also come through add_registered_method_handlers

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.service = service
        self.handlers = dict(handlers)


def _already_serialized(item: bytes) -> bytes:
    return item


def add_gateway_service(servicer: GatewayServicer, server: grpc.aio.Server) -> None:
    """The generated registration, except that StreamLocations yields its responses already
    serialized (``controlplane.location_wire``): each location is encoded once for all
    subscribers instead of once per subscriber by the generated serializer."""
    capture = _HandlerCapture()
    gateway_service_pb2_grpc.add_GatewayServiceServicer_to_server(
        servicer,
        cast(grpc.aio.Server, capture),  # it only calls the two methods _HandlerCapture has
    )
    handlers = capture.handlers
    locations = handlers["StreamLocations"]
    assert locations.unary_stream is not None
    handlers["StreamLocations"] = grpc.unary_stream_rpc_method_handler(
        locations.unary_stream,
        request_deserializer=locations.request_deserializer,
        response_serializer=_already_serialized,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(capture.service, handlers),)
    )
    server.add_registered_method_handlers(capture.service, handlers)


def _control_plane_tls(config: GatewayConfig) -> ControlPlaneTls | None:
    if config.grpc_tls_cert is None and config.grpc_tls_key is None:
        return None
    # The TLS modules (and cryptography) are imported only by a gateway that uses them.
    from .credentials import ControlPlaneTls  # noqa: PLC0415 (lazy: only TLS)

    return ControlPlaneTls.from_config(config)


async def stop_off_the_loop(pool: ThreadPoolExecutor) -> None:
    """Wait for the synchronous handlers' threads in a worker thread, never on the loop: a
    handler still running may need the loop (grpc.aio runs a synchronous handler's
    ``context.abort`` there and waits for it), so a loop blocked in ``shutdown`` and that
    handler would wait for each other forever."""
    await anyio.to_thread.run_sync(pool.shutdown)
