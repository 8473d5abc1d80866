"""Whether an address can be listened on, asked before anything is bound: a gateway whose
second address is taken must say so alone, not after a "listening" line for its first one, and
in one sentence rather than in the words of the library that would have failed."""

from __future__ import annotations

import errno
import socket

from gateway.protocol.errors import shown

from .config import HostPort

_REASONS = {
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address",
    errno.EACCES: "permission denied",
}


class ListenError(OSError):
    """An address cannot be listened on; the message names it, its setting and the reason."""


def check_listen(address: HostPort, what: str, flag: str, *, reuse_port: bool = False) -> None:
    """Raise ``ListenError`` when ``address`` (for ``what``, set by ``flag``) cannot be bound
    now. Port 0 (any free port) always can. ``reuse_port``: the listener shares the port with
    others that set SO_REUSEPORT too (the nodes of a cluster on one machine)."""
    where = f"cannot listen on {address} for {what} ({flag})"
    try:
        family, kind, protocol, _, socket_address = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        raise ListenError(f"{where}: unknown host {shown(address.host, quoted=False)}") from None
    with socket.socket(family, kind, protocol) as probe:
        # As the listeners themselves bind: a port whose old connections linger is usable.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind(socket_address)
        except OSError as error:
            reason = _REASONS.get(error.errno or 0, (error.strerror or str(error)).lower())
            raise ListenError(f"{where}: {reason}") from None
