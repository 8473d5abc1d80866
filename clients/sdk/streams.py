"""Live streams that survive a lost connection.

``LiveStream`` iterates the items of ``StreamLocations`` or ``StreamEvents`` (the ``Location``
or ``Event`` messages, not their envelopes). When the connection drops or the gateway restarts
(UNAVAILABLE), it subscribes again after a short jittered backoff; any other failure (a bad
token, a bad filter) ends the iteration with a ``GatewayError``. Items lost in between are
reported to ``on_gap`` like the gateway's own ``gap`` items: the stream never hides a loss.

The sequence number of the last item seen is kept in ``last_sequence``. A gateway whose stream
requests have ``after_sequence`` (streams that can resume) is asked to continue after it, so a
reconnection loses nothing the gateway still holds; older gateways just continue live.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, Generic, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from .errors import GatewayError, GatewayUnavailableError, error_from_rpc

#: Backoff between reconnection attempts: first wait, then doubled up to the cap (jittered).
FIRST_BACKOFF_S: Final = 0.25
MAX_BACKOFF_S: Final = 5.0
#: The request field of streams that can resume.
RESUME_FIELD: Final = "after_sequence"

Item = TypeVar("Item", bound=Message)
Request = TypeVar("Request", bound=Message)


class _StreamCall(Protocol):
    def __aiter__(self) -> AsyncIterator[Any]: ...

    def cancel(self) -> bool: ...


#: Opens the server stream for a request; ``wait_for_ready`` queues it until the channel is up.
OpenStream = Callable[[Any, bool], _StreamCall]


class LiveStream(Generic[Request, Item]):
    """``async for item in stream``: the items of a server stream, re-subscribed after a
    connection loss when ``reconnect`` is set.

    ``connected`` is awaited before the first subscription: it raises when the gateway cannot
    be reached, so a first failure is reported at once instead of waited out (pass
    ``wait_for_gateway=True`` to the client's stream methods to wait instead).
    """

    def __init__(
        self,
        open_stream: OpenStream,
        request: Request,
        *,
        target: str,
        connected: Callable[[], Awaitable[None]] | None,
        reconnect: bool = True,
        on_gap: Callable[[int], None] | None = None,
        on_reconnect: Callable[[GatewayError], None] | None = None,
    ) -> None:
        self._open = open_stream
        self._request = request
        self._target = target
        self._connected = connected
        self.reconnect = reconnect
        self.on_gap = on_gap
        self.on_reconnect = on_reconnect
        #: Sequence number of the last item received (0: none yet).
        self.last_sequence = 0
        #: Items the gateway reported lost to this subscriber (its ``gap`` items).
        self.dropped = 0
        #: Subscriptions made again after a lost connection.
        self.reconnects = 0

    def request(self) -> Request:
        """The request of the next subscription: resuming after ``last_sequence`` when the
        gateway's streams can resume."""
        request = self._request
        fields = request.DESCRIPTOR.fields_by_name
        if self.last_sequence and RESUME_FIELD in fields:
            resumed = type(request)()
            resumed.CopyFrom(request)
            setattr(resumed, RESUME_FIELD, self.last_sequence)
            return resumed
        return request

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._items()

    async def _items(self) -> AsyncIterator[Item]:
        if self._connected is not None:
            await self._connected()
        failures = 0
        while True:
            call = self._open(self.request(), failures > 0)
            try:
                async for response in call:
                    failures = 0
                    kind = response.WhichOneof("item")
                    if kind == "gap":
                        self._lost(response.gap.dropped)
                    elif kind is not None:
                        item: Item = getattr(response, kind)
                        # A batch (``locations``) is as far as its last location.
                        batch = getattr(item, "items", None) if kind == "locations" else None
                        last = batch[-1] if batch else item
                        self.last_sequence = getattr(last, "sequence", 0) or self.last_sequence
                        yield item
                error: GatewayError = GatewayUnavailableError(
                    "the gateway ended the stream", code=grpc.StatusCode.UNAVAILABLE
                )
            except grpc.RpcError as rpc_error:
                error = error_from_rpc(rpc_error, self._target)
            finally:
                call.cancel()
            if not (self.reconnect and isinstance(error, GatewayUnavailableError)):
                raise error
            failures += 1
            self.reconnects += 1
            if self.on_reconnect is not None:
                self.on_reconnect(error)
            await asyncio.sleep(_backoff(failures))

    def _lost(self, dropped: int) -> None:
        self.dropped += dropped
        if self.on_gap is not None:
            self.on_gap(dropped)


def _backoff(failures: int) -> float:
    ceiling = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2.0 ** (failures - 1))
    return ceiling * random.uniform(0.5, 1.0)
