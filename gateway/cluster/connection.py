"""The node's NATS connection: the official client (``nats-py``), imported only here and only in
cluster mode, so that a plain ``jt808 serve`` never loads it.

The client reconnects by itself for ever; the node logs each loss and recovery of the link, and
``NatsLink.up`` tells the rest of the node whether NATS can be reached right now.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from typing import TYPE_CHECKING, Any, Final

import anyio

from gateway.server.logs import get_logger

from .settings import node_of

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from gateway.server.config import GatewayConfig

log = get_logger()
#: Seconds a first connection may take before the node gives up starting.
CONNECT_TIMEOUT: Final = 5
#: Seconds between reconnection attempts once connected (the client retries for ever).
RECONNECT_WAIT: Final = 1


class ClusterStartError(OSError):
    """The node cannot join the cluster; the message says why in one sentence."""


class NatsUnavailableError(ClusterStartError):
    """NATS cannot be reached at startup; the message names the URL and the reason."""


class NatsMissingError(ClusterStartError):
    """Cluster mode was asked for but the NATS client is not installed."""


class NatsLink:
    """One NATS connection of a node, with JetStream, and whether it is up."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.node_id = node_of(config)
        self.up = False
        #: Tells this run of the node from earlier ones (message ids for de-duplication).
        self.boot = secrets.token_hex(4)
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the connection lives on (for calls from worker threads)."""
        if self._loop is None:
            raise RuntimeError("the NATS link is not connected yet")
        return self._loop

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the NATS link is not connected yet")
        return self._client

    @property
    def jetstream(self) -> JetStreamContext:
        return self.client.jetstream()

    async def connect(self) -> Client:
        try:
            import nats  # noqa: PLC0415  (cluster mode only: see the module docstring)
            import nats.errors  # noqa: PLC0415
        except ImportError:
            raise NatsMissingError(
                "--nats-url needs the NATS client: pip install 'jt808-gateway[cluster]'"
            ) from None
        url = self.config.nats_url or ""
        try:
            # The client retries a first connection for ever too: give up after a while.
            with anyio.fail_after(CONNECT_TIMEOUT * 2):
                client = await nats.connect(**self._options())
        except TimeoutError:
            raise NatsUnavailableError(
                f"cannot reach NATS at {url} (--nats-url): no server answered within "
                f"{CONNECT_TIMEOUT * 2} s"
            ) from None
        except (OSError, nats.errors.Error) as error:
            reason = str(error) or type(error).__name__
            raise NatsUnavailableError(
                f"cannot reach NATS at {url} (--nats-url): {reason}"
            ) from None
        self._client = client
        self._loop = asyncio.get_running_loop()
        self.up = True
        return client

    def _options(self) -> dict[str, Any]:
        config = self.config
        options: dict[str, Any] = {
            "servers": (config.nats_url or "").split(","),
            "name": f"jt808-{self.node_id}",
            "connect_timeout": CONNECT_TIMEOUT,
            "reconnect_time_wait": RECONNECT_WAIT,
            "max_reconnect_attempts": -1,
            "disconnected_cb": self._disconnected,
            "reconnected_cb": self._reconnected,
            "error_cb": self._error,
        }
        if config.nats_creds is not None:
            options["user_credentials"] = str(config.nats_creds)
        if config.nats_user is not None:
            options["user"], options["password"] = config.nats_user, config.nats_password
        if config.nats_token is not None:
            options["token"] = config.nats_token
        if config.nats_tls_ca is not None or config.nats_tls_cert is not None:
            context = ssl.create_default_context(
                cafile=None if config.nats_tls_ca is None else str(config.nats_tls_ca)
            )
            if config.nats_tls_cert is not None and config.nats_tls_key is not None:
                context.load_cert_chain(str(config.nats_tls_cert), str(config.nats_tls_key))
            options["tls"] = context
        return options

    async def _disconnected(self) -> None:
        if self.up:
            self.up = False
            log.warning("NATS unreachable: reconnecting", extra={"node": self.node_id})

    async def _reconnected(self) -> None:
        self.up = True
        log.info("NATS reachable again", extra={"node": self.node_id})

    async def _error(self, error: Exception) -> None:
        log.debug("NATS client error", extra={"node": self.node_id, "error": str(error)})

    async def close(self) -> None:
        client, self._client = self._client, None
        self.up = False
        if client is not None and not client.is_closed:
            await client.close()
