"""Control-plane access control: with a token configured, every call must carry
``authorization: Bearer <token>``; anything else ends with UNAUTHENTICATED before a servicer
runs. The comparison takes constant time and the token is never logged.

The other credential is a client certificate (``--grpc-tls-client-ca``): gRPC refuses the TLS
handshake of a client without one that CA issued, before any call exists
(``credentials.ControlPlaneTls``). Either credential lets the control plane bind a non-loopback
address (``gateway.server.config.validate``); with both, a call needs both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import grpc

if TYPE_CHECKING:  # the stubs are generic, the runtime classes are not
    Handler = grpc.RpcMethodHandler[Any, Any]


def describe_access(*, token: bool, client_certificate: bool) -> str:
    """Who may call, for the startup log line."""
    needed = [name for name, on in (("client certificate", client_certificate),
                                    ("bearer token", token)) if on]  # fmt: skip
    return " and ".join(needed) if needed else "loopback only"


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def __repr__(self) -> str:
        return "BearerTokenInterceptor(token=<hidden>)"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        problem = self._problem(handler_call_details.invocation_metadata or ())
        handler = await continuation(handler_call_details)
        if problem is None:
            return handler
        # Unknown methods are refused the same way, so that nobody can probe what exists.
        return _refusal(handler, problem)

    def _problem(self, metadata: Any) -> str | None:
        values = [value for key, value in metadata if key == "authorization"]
        if not values:
            return "this gateway requires `authorization: Bearer <token>` metadata on every call"
        given = values[0] if isinstance(values[0], bytes) else str(values[0]).encode()
        if len(values) > 1 or not hmac.compare_digest(given, self._expected):
            return "the bearer token in `authorization` is not this gateway's control-plane token"
        return None


#: A refused client stream is read (and its messages discarded unparsed) until the client
#: half-closes, for at most this long and this many messages, before the refusal is sent.
REFUSAL_DRAIN_S: Final = 1.0
REFUSAL_DRAIN_MESSAGES: Final = 16


def _refusal(handler: Handler | None, problem: str) -> Handler:
    """A handler of the same shape as ``handler`` that only refuses the call (grpc.aio takes a
    plain coroutine for streaming responses too). Requests are never deserialized."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    async def refuse_stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        # A status that reaches a grpc.aio client while it still writes may surface there as
        # INTERNAL "Failed execute_batch" instead (grpc/grpc#36066): let it finish first.
        with contextlib.suppress(TimeoutError, grpc.RpcError):
            async with asyncio.timeout(REFUSAL_DRAIN_S):
                read = 0
                async for _ in requests:
                    read += 1
                    if read >= REFUSAL_DRAIN_MESSAGES:
                        break
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    if handler is None:
        return grpc.unary_unary_rpc_method_handler(refuse)
    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream, None, serializer)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse_stream, None, serializer)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse, None, serializer)
    return grpc.unary_unary_rpc_method_handler(refuse, None, serializer)
