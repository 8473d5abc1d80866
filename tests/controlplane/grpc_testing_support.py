"""Servicers under test without sockets, through grpcio-testing (``grpc_testing``).

Sync servicers (``def Method(self, request, context)``)::

    service = device_registry_service_pb2.DESCRIPTOR.services_by_name["DeviceRegistryService"]
    server = ServicerHarness(service, servicer)
    outcome = server.unary("ListDevices", pb.ListDevicesRequest(), metadata=[("k", "v")])
    outcome.response, outcome.code, outcome.details, outcome.trailing_metadata

``outcome.response`` is ``None`` when the call did not succeed. Every call has a deadline
(``timeout``, default ``DEFAULT_TIMEOUT``) so that a servicer that hangs fails the test with
DEADLINE_EXCEEDED instead of hanging it.

Async servicers (grpc.aio style: ``async def Method(self, request, context)``, ``await
context.abort(code, details)``; server streams as async generators)::

    server = ServicerHarness(service, sync_adapter(async_servicer, service))
    outcome = server.unary("GetSession", request)
    outcome = server.stream("StreamEvents", request)         # a stream that ends: all of it
    with server.open_stream("StreamLocations", request) as call:
        first = call.take()                                   # blocks until the next item
    # leaving the block cancels the RPC, which cancels the servicer's coroutine

``sync_adapter`` runs each call on a private event loop in grpc_testing's service thread
(``asyncio.new_event_loop`` / ``run_until_complete``, one loop per call, closed afterwards like
``asyncio.run`` does), so whatever the servicer awaits must not be bound to another loop. To drive
a servicer whose objects live on the test's own loop, pass ``loop=asyncio.get_running_loop()``
from an async test: the coroutines then run on that loop, and the test must make its (blocking)
harness calls from a worker thread: ``await anyio.to_thread.run_sync(server.unary, "X", request)``.

The context the async servicer sees (``AsyncContextAdapter``) offers awaitable ``abort`` (raising
``grpc.aio.AbortError`` like grpc.aio; code, details and trailing metadata reach the outcome) and
``send_initial_metadata``, and ``invocation_metadata``, ``set_code``, ``set_details``, ``code``,
``details``, ``set_trailing_metadata``, ``peer`` (``TEST_PEER``), ``time_remaining``,
``cancelled``; anything else is delegated to grpc_testing's sync context. Not supported: writing
stream items with ``await context.write`` (use an async generator) and client-streaming methods.
``AdaptedServicer.wait_idle()`` waits until every adapted call has finished (e.g. after cancelling
a stream, before asserting on the servicer's clean-up).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, NoReturn, Protocol, TypeVar, cast

import grpc
import grpc.aio
import grpc_testing  # type: ignore[import-untyped]
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from tests.timeouts import HANG_GUARD

T = TypeVar("T")
Metadata = Sequence[tuple[str, str | bytes]]

#: Seconds before a call through the harness ends with DEADLINE_EXCEEDED.
DEFAULT_TIMEOUT: Final = HANG_GUARD
#: What ``peer()`` answers in adapted async servicers (grpc_testing has no peer).
TEST_PEER: Final = "ipv4:127.0.0.1:0"
_RUNTIME_METADATA_KEY: Final = "grpc.metadata_added_by_runtime"


# ------------------------------------------------------------------------------------------------
# Typed views of the untyped grpc_testing objects used here


class UnaryUnaryServerRpc(Protocol):
    def cancel(self) -> None: ...
    def termination(self) -> tuple[Any, Metadata, grpc.StatusCode, str]: ...


class UnaryStreamServerRpc(Protocol):
    def take_response(self) -> Any: ...
    def cancel(self) -> None: ...
    def termination(self) -> tuple[Metadata, grpc.StatusCode, str]: ...


class TestingServer(Protocol):
    def invoke_unary_unary(
        self,
        method_descriptor: MethodDescriptor,
        invocation_metadata: Metadata,
        request: Message,
        timeout: float | None,
    ) -> UnaryUnaryServerRpc: ...

    def invoke_unary_stream(
        self,
        method_descriptor: MethodDescriptor,
        invocation_metadata: Metadata,
        request: Message,
        timeout: float | None,
    ) -> UnaryStreamServerRpc: ...


def testing_server(servicers: Mapping[ServiceDescriptor, object]) -> TestingServer:
    """A grpc_testing server for these servicers, on real time."""
    server = grpc_testing.server_from_dictionary(dict(servicers), grpc_testing.strict_real_time())
    return cast(TestingServer, server)


# ------------------------------------------------------------------------------------------------
# Calls


@dataclass(frozen=True, slots=True)
class UnaryOutcome:
    """How a unary call ended; ``response`` is None unless it succeeded."""

    response: Any
    code: grpc.StatusCode
    details: str
    trailing_metadata: Metadata


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """Every item of a server stream that ended, and how it ended."""

    responses: list[Any]
    code: grpc.StatusCode
    details: str
    trailing_metadata: Metadata


def without_runtime_metadata(metadata: Metadata) -> Metadata:
    """The metadata without the item grpc_testing adds to show that gRPC may add some."""
    return tuple(item for item in metadata if item[0] != _RUNTIME_METADATA_KEY)


def invoke_unary(
    server: TestingServer,
    method: MethodDescriptor,
    request: Message,
    *,
    metadata: Metadata = (),
    timeout: float | None = DEFAULT_TIMEOUT,
) -> UnaryOutcome:
    rpc = server.invoke_unary_unary(method, tuple(metadata), request, timeout)
    response, trailing_metadata, code, details = rpc.termination()
    return UnaryOutcome(
        response if code is grpc.StatusCode.OK else None,
        code,
        details,
        without_runtime_metadata(trailing_metadata),
    )


class StreamCall:
    """A server stream in progress: take items as they come; leaving the ``with`` cancels it."""

    def __init__(self, rpc: UnaryStreamServerRpc, response_type: type[Message]) -> None:
        self._rpc = rpc
        self._response_type = response_type

    def take(self) -> Any:
        """The next item; ValueError when the stream ended instead (see ``termination``).

        A servicer that yields serialized responses (StreamLocations: the real server sends
        them as they are) gets them parsed, as a client would."""
        item = self._rpc.take_response()
        if isinstance(item, bytes):
            return self._response_type.FromString(item)
        return item

    def take_many(self, count: int) -> list[Any]:
        return [self.take() for _ in range(count)]

    def termination(self) -> tuple[grpc.StatusCode, str, Metadata]:
        """Blocks until the servicer ends the stream (not for a stream the test cancelled)."""
        trailing_metadata, code, details = self._rpc.termination()
        return code, details, without_runtime_metadata(trailing_metadata)

    def cancel(self) -> None:
        """Cancel as a client would (no-op once the stream has ended)."""
        self._rpc.cancel()

    def __enter__(self) -> StreamCall:
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


class ServicerHarness:
    """One servicer of ``service`` behind a grpc_testing server; methods called by name."""

    def __init__(
        self,
        service: ServiceDescriptor,
        servicer: object,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.service = service
        self.server = testing_server({service: servicer})
        self.timeout = timeout

    def method(self, name: str) -> MethodDescriptor:
        return self.service.methods_by_name[name]

    def unary(self, method: str, request: Message, *, metadata: Metadata = ()) -> UnaryOutcome:
        return invoke_unary(
            self.server, self.method(method), request, metadata=metadata, timeout=self.timeout
        )

    def open_stream(self, method: str, request: Message, *, metadata: Metadata = ()) -> StreamCall:
        descriptor = self.method(method)
        rpc = self.server.invoke_unary_stream(descriptor, tuple(metadata), request, self.timeout)
        return StreamCall(rpc, GetMessageClass(descriptor.output_type))

    def stream(self, method: str, request: Message, *, metadata: Metadata = ()) -> StreamOutcome:
        """Every item of a stream that ends on its own (else this waits for the deadline)."""
        call = self.open_stream(method, request, metadata=metadata)
        code, details, trailing_metadata = call.termination()
        responses: list[Any] = []
        with contextlib.suppress(ValueError):  # "No more responses!"
            while True:
                responses.append(call.take())
        return StreamOutcome(responses, code, details, trailing_metadata)


# ------------------------------------------------------------------------------------------------
# Async servicers


class AsyncContextAdapter:
    """The grpc.aio ``ServicerContext`` an async servicer expects, over grpc_testing's sync one.

    ``abort`` does not use grpc_testing's abort (which drops trailing metadata and logs a
    traceback): it records code, details and trailing metadata and raises ``AbortError``, which
    the adapter turns into the end of the call with that status.
    """

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> NoReturn:
        if code is grpc.StatusCode.OK:
            raise ValueError("abort() needs a status code other than OK")  # as grpc.aio does
        if trailing_metadata:
            self.set_trailing_metadata(trailing_metadata)
        self.set_code(code)
        self.set_details(details)
        raise grpc.aio.AbortError(f"aborted with {code.name}: {details}")

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        self._context.send_initial_metadata(tuple(initial_metadata))

    async def write(self, message: Message) -> None:
        raise NotImplementedError("sync_adapter: yield stream items from an async generator")

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return tuple(self._context.invocation_metadata() or ())

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code
        self._context.set_code(code)

    def set_details(self, details: str) -> None:
        self._details = details
        self._context.set_details(details)

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._context.set_trailing_metadata(tuple(trailing_metadata))

    def peer(self) -> str:
        return TEST_PEER

    def time_remaining(self) -> float | None:
        remaining: float | None = self._context.time_remaining()
        return remaining

    def cancelled(self) -> bool:
        """True once the RPC is over (grpc_testing does not tell cancelled from finished)."""
        return not self._context.is_active()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


_CANCELLED: Final = (asyncio.CancelledError, concurrent.futures.CancelledError)


class _CallRunner:
    """Runs the awaitables of one call, on a private loop in this thread or on ``loop``; the
    RPC's termination (client cancel, deadline) cancels what is running, from another thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._foreign_loop = loop
        self._own_loop = asyncio.new_event_loop() if loop is None else None
        self._lock = threading.Lock()
        self._cancelled = False
        self._running: asyncio.Task[Any] | concurrent.futures.Future[Any] | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._cancelled:
                coroutine.close()
                raise asyncio.CancelledError
            if self._own_loop is not None:
                task = self._own_loop.create_task(coroutine)
                self._running = task
            else:
                assert self._foreign_loop is not None
                future = asyncio.run_coroutine_threadsafe(coroutine, self._foreign_loop)
                self._running = future
        if self._own_loop is not None:
            return self._own_loop.run_until_complete(task)
        return future.result()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            running = self._running
        if isinstance(running, concurrent.futures.Future):
            running.cancel()
        elif running is not None and self._own_loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._own_loop.call_soon_threadsafe(running.cancel)

    def close(self) -> None:
        """Like the end of ``asyncio.run``: cancel leftover tasks, finalise async generators."""
        loop = self._own_loop
        if loop is None:
            return
        with self._lock:
            self._running = None
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.wait(leftovers))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _next_item(responses: AsyncIterator[T]) -> tuple[bool, T | None]:
    # StopAsyncIteration must not cross a Task boundary: report the end as a value.
    try:
        return True, await anext(responses)
    except StopAsyncIteration:
        return False, None


class AdaptedServicer:
    """Sync methods for grpc_testing over an async servicer's methods (see ``sync_adapter``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._active_calls = 0
        self._idle = threading.Condition()

    def wait_idle(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wait until no adapted call is running; False when that took longer than timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active_calls == 0, timeout)

    @contextlib.contextmanager
    def _call(self, context: grpc.ServicerContext) -> Iterator[_CallRunner]:
        with self._idle:
            self._active_calls += 1
        runner = _CallRunner(self._loop)
        if not context.add_callback(runner.cancel):
            runner.cancel()  # the RPC ended before the call started
        try:
            yield runner
        finally:
            runner.close()
            with self._idle:
                self._active_calls -= 1
                self._idle.notify_all()

    def unary(
        self,
        method: Callable[[Message, AsyncContextAdapter], Coroutine[Any, Any, Message]],
        request: Message,
        context: grpc.ServicerContext,
    ) -> Message | None:
        with self._call(context) as runner:
            try:
                return runner.run(method(request, AsyncContextAdapter(context)))
            except grpc.aio.AbortError:
                return None  # the status is pending on the context: the call completes with it
            except _CANCELLED:
                _raise_unless_rpc_over(context)
                return None

    def server_stream(
        self,
        method: Callable[[Message, AsyncContextAdapter], AsyncIterator[Message]],
        request: Message,
        context: grpc.ServicerContext,
    ) -> Iterator[Message]:
        with self._call(context) as runner:
            responses = method(request, AsyncContextAdapter(context))
            try:
                while True:
                    more, item = runner.run(_next_item(responses))
                    if not more:
                        return
                    assert item is not None
                    yield item
            except grpc.aio.AbortError:
                return
            except _CANCELLED:
                _raise_unless_rpc_over(context)


def _raise_unless_rpc_over(context: grpc.ServicerContext) -> None:
    """A cancellation the RPC's end did not cause is the servicer's own failure."""
    if context.is_active():
        raise RuntimeError("the servicer's coroutine was cancelled")


def _unsupported(reason: str) -> Callable[[object, grpc.ServicerContext], NoReturn]:
    def handler(request: object, context: grpc.ServicerContext) -> NoReturn:
        raise NotImplementedError(f"sync_adapter: {reason}")

    return handler


def _adapt_method(
    adapted: AdaptedServicer, method: MethodDescriptor, implementation: Callable[..., Any]
) -> Callable[..., Any]:
    if method.client_streaming:
        return _unsupported(f"{method.name} is client-streaming")
    if inspect.isasyncgenfunction(implementation):
        return lambda request, context: adapted.server_stream(implementation, request, context)
    if inspect.iscoroutinefunction(implementation):
        if method.server_streaming:
            return _unsupported(f"{method.name}: write stream items from an async generator")
        return lambda request, context: adapted.unary(implementation, request, context)
    return implementation  # a sync method (e.g. the generated UNIMPLEMENTED default)


def sync_adapter(
    async_servicer: object,
    service: ServiceDescriptor,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
) -> AdaptedServicer:
    """A servicer for grpc_testing running ``async_servicer``'s methods of ``service`` to the
    end: on a private loop per call, or on ``loop`` (a loop running in another thread)."""
    adapted = AdaptedServicer(loop)
    for method in service.methods:
        implementation = getattr(async_servicer, method.name, None)
        if implementation is None:
            handler = _unsupported(f"the servicer has no {method.name}")
        else:
            handler = _adapt_method(adapted, method, implementation)
        setattr(adapted, method.name, handler)
    return adapted
