"""The cluster settings: their parsers and the combinations that cannot work.

Used by ``gateway.server.config`` (the one table of settings); imports no NATS.
"""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING, Final

from gateway.protocol.errors import shown

if TYPE_CHECKING:
    from gateway.server.config import GatewayConfig

#: Node ids go into NATS subjects and KV keys: a conservative alphabet, no dots or wildcards.
_NODE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_URL_SCHEMES: Final = ("nats://", "tls://")
#: Settings that mean something only in cluster mode.
CLUSTER_ONLY: Final = (
    "node_id",
    "nats_format",
    "nats_creds",
    "nats_user",
    "nats_password",
    "nats_token",
    "nats_tls_ca",
    "nats_tls_cert",
    "nats_tls_key",
)
#: Secrets among them: never printed, logged or passed on a command line.
CLUSTER_SECRETS: Final = frozenset({"nats_password", "nats_token"})


def nats_urls(text: str) -> str:
    """``nats://HOST:PORT`` (or ``tls://``), several separated by commas: the servers the node
    may connect to."""
    urls = [part.strip() for part in text.split(",")]
    for url in urls:
        if not url.lower().startswith(_URL_SCHEMES) or len(url) > 2048 or "@" in url:
            raise ValueError(
                f"{shown(url)} is not a nats://HOST:PORT or tls://HOST:PORT URL "
                "(credentials go in --nats-user/--nats-password, --nats-token or --nats-creds)"
            )
    return ",".join(urls)


#: ``--nats-format``: how locations and events are encoded on their JetStream subjects.
NATS_FORMATS: Final = ("protobuf", "json")


def nats_format(text: str) -> str:
    if text.lower() not in NATS_FORMATS:
        raise ValueError(f"{shown(text)} is not protobuf or json")
    return text.lower()


def node_id(text: str) -> str:
    if not _NODE_ID.fullmatch(text):
        raise ValueError(
            f"{shown(text)} is not a node id (1-64 letters, digits, '-' or '_'; it is part of "
            "NATS subjects)"
        )
    return text


def default_node_id() -> str:
    """The host name, reduced to the node-id alphabet (``--node-id`` overrides it)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0])[:64]
    return name or "node"


def node_of(config: GatewayConfig) -> str:
    return config.node_id or default_node_id()


def cluster_problem(config: GatewayConfig) -> str | None:
    """Why the cluster settings cannot work together (cluster settings without
    ``--nats-url``, half a client certificate, several workers of a single node), or None."""
    if config.nats_url is None:
        for name in CLUSTER_ONLY:
            if getattr(config, name) is not None:
                flag = "--" + name.replace("_", "-")
                return f"{flag} is only used with --nats-url (cluster mode)"
        if config.workers != 1:
            return (
                f"--workers {config.workers} needs --nats-url: worker processes are nodes of a "
                "cluster, which shares sessions and devices through NATS"
            )
        return None
    free = _free_port_listener(config)
    if free is not None:
        return (
            f"{free} port 0 (any free port) does not work in cluster mode: the nodes share "
            "--listen and --tls-listen, shift ports by worker and advertise --grpc-listen to "
            "each other; give fixed ports"
        )
    if (config.nats_tls_cert is None) != (config.nats_tls_key is None):
        return "--nats-tls-cert and --nats-tls-key go together (give both)"
    if (config.nats_user is None) != (config.nats_password is None):
        return "--nats-user and --nats-password go together (give both)"
    if config.cluster_ttl < 3:
        return (
            f"--cluster-ttl {config.cluster_ttl:g} is below 3 seconds: entries are refreshed "
            "every third of it"
        )
    return None


def _free_port_listener(config: GatewayConfig) -> str | None:
    """The first listener flag given port 0, or None."""
    from gateway.server.config import listeners  # noqa: PLC0415 (config imports this module)

    return next((flag for flag, address in listeners(config) if address.port == 0), None)
