"""The dashboard's web side: aiohttp on the same asyncio loop as its gRPC client.

The server is a client of the gateway like any other: it follows ``StreamLocations`` and
``StreamEvents`` (reconnecting), polls ``ListSessions`` now and then, folds all of it into a
``Fleet`` and pushes the changes to every open page over a WebSocket in one batch per
``flush_interval``. Commands from the page (a text message, a location query) are plain JSON
POSTs that become ``SendCommand`` calls.

Routes: ``/`` the page, ``/static/…`` its built files, ``/api/config``, ``/api/terminals``
(a snapshot, also handy for scripts), ``/api/live`` (WebSocket), and
``POST /api/terminals/{phone}/text`` and ``/query-location``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from aiohttp import WSMsgType, web

from clients.sdk import (
    AccessDeniedError,
    GatewayClient,
    GatewayError,
    GatewayUnavailableError,
    InvalidRequestError,
    NoReplyError,
    TerminalDisconnectedError,
    TerminalNotConnectedError,
    TooManyCommandsError,
    message_dict,
    result_text,
)

from .fleet import OFFLINE_EVENTS, ONLINE_EVENTS, Fleet

log = logging.getLogger("jt808.dashboard")

STATIC_DIR: Final = Path(__file__).parent / "static"
#: Seconds between two batches of changes sent to the pages.
FLUSH_INTERVAL_S: Final = 0.5
#: Seconds between two session lists (who is online, in case events were missed).
SESSIONS_INTERVAL_S: Final = 15.0
#: Batches a page may have waiting; a page further behind gets a fresh snapshot instead.
PAGE_QUEUE: Final = 8
#: A command from the page waits this long for the terminal's reply.
COMMAND_TIMEOUT_S: Final = 30.0
MAX_TEXT_CHARS: Final = 1024
#: Pause before following a stream again after a failure the stream does not retry itself.
RETRY_PAUSE_S: Final = 5.0

_HTTP_STATUS: Final[dict[type[GatewayError], int]] = {
    InvalidRequestError: 400,
    TerminalNotConnectedError: 404,
    TooManyCommandsError: 429,
    GatewayUnavailableError: 503,
    NoReplyError: 504,
    TerminalDisconnectedError: 504,
    AccessDeniedError: 502,
}


class _Page:
    """One open page: its queue of JSON batches, and whether it needs a whole snapshot."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=PAGE_QUEUE)
        self.needs_snapshot = True

    def offer(self, payload: str) -> None:
        if self.needs_snapshot:
            return  # it gets everything in its next snapshot
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            # Too slow: drop what waits and start it over from a snapshot.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.needs_snapshot = True


class Dashboard:
    def __init__(
        self,
        client: GatewayClient,
        *,
        tiles: str | None = None,
        password: str | None = None,
        static_dir: Path = STATIC_DIR,
        flush_interval: float = FLUSH_INTERVAL_S,
        sessions_interval: float = SESSIONS_INTERVAL_S,
    ) -> None:
        self.client = client
        self.tiles = tiles
        self.static_dir = static_dir
        self.flush_interval = flush_interval
        self.sessions_interval = sessions_interval
        self.fleet = Fleet()
        self.pages: set[_Page] = set()
        self._expected_authorization = (
            "Basic " + base64.b64encode(f"jt808:{password}".encode()).decode() if password else None
        )
        self._password = password

    # ---- the web application ----------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._access])
        app.router.add_get("/", self._index)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/terminals", self._terminals)
        app.router.add_get("/api/live", self._live)
        app.router.add_post("/api/terminals/{phone}/text", self._send_text)
        app.router.add_post("/api/terminals/{phone}/query-location", self._query_location)
        app.router.add_static("/static", self.static_dir)
        app.cleanup_ctx.append(self._feeds)
        return app

    @web.middleware
    async def _access(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self._password is not None and not self._authorized(request):
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="jt808 dashboard"'},
                text="this dashboard needs its password (user name: any)",
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            # Another site's page must not drive vehicles through a browser that can reach us.
            raise web.HTTPForbidden(text="cross-origin requests are refused")
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        scheme, _, encoded = given.partition(" ")
        if scheme.lower() != "basic" or self._password is None:
            return False
        try:
            _, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), self._password.encode())

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self.static_dir / "index.html")

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response({"tiles": self.tiles, "gateway": self.client.target})

    async def _terminals(self, request: web.Request) -> web.Response:
        return web.json_response(self.fleet.snapshot())

    async def _live(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        page = _Page()
        self.pages.add(page)
        sender = asyncio.create_task(self._send_to(page, socket))
        try:
            async for message in socket:
                if message.type is WSMsgType.ERROR:
                    break  # the page only listens; anything it sends is ignored
        finally:
            self.pages.discard(page)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return socket

    async def _send_to(self, page: _Page, socket: web.WebSocketResponse) -> None:
        with contextlib.suppress(ConnectionError):
            while not socket.closed:
                await socket.send_str(await page.queue.get())

    # ---- commands from the page ---------------------------------------------------------------

    async def _send_text(self, request: web.Request) -> web.Response:
        phone = request.match_info["phone"]
        body = await _json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "give the text to send")
        if len(text) > MAX_TEXT_CHARS:
            return _error(400, f"a text message holds at most {MAX_TEXT_CHARS} characters")
        try:
            reply = await self.client.send_text(phone, text, timeout=COMMAND_TIMEOUT_S)
        except GatewayError as error:
            return _gateway_error(error)
        return web.json_response(
            {"result": result_text(reply.result), "reply": message_dict(reply)}
        )

    async def _query_location(self, request: web.Request) -> web.Response:
        phone = request.match_info["phone"]
        try:
            location = await self.client.query_location(phone, timeout=COMMAND_TIMEOUT_S)
        except GatewayError as error:
            return _gateway_error(error)
        self.fleet.add_location(location)
        return web.json_response({"result": "success", "location": message_dict(location)})

    # ---- following the gateway ----------------------------------------------------------------

    async def _feeds(self, app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(self._follow_locations()),
            asyncio.create_task(self._follow_events()),
            asyncio.create_task(self._poll_sessions()),
            asyncio.create_task(self._flush_forever()),
        ]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow_locations(self) -> None:
        while True:
            stream = self.client.locations(wait_for_gateway=True, on_reconnect=self._lost)
            try:
                async for location in stream:
                    self._gateway_status("")
                    self.fleet.add_location(location)
            except GatewayError as error:
                self._lost(error)
                await asyncio.sleep(RETRY_PAUSE_S)

    async def _follow_events(self) -> None:
        kinds = sorted(ONLINE_EVENTS | OFFLINE_EVENTS)
        while True:
            stream = self.client.events(kinds=kinds, wait_for_gateway=True)
            try:
                async for event in stream:
                    self.fleet.add_event(event)
            except GatewayError as error:
                self._lost(error)
                await asyncio.sleep(RETRY_PAUSE_S)

    async def _poll_sessions(self) -> None:
        while True:
            try:
                sessions = await self.client.list_sessions()
            except GatewayError as error:
                self._lost(error)
                await asyncio.sleep(min(RETRY_PAUSE_S, self.sessions_interval))
                continue
            self._gateway_status("")
            self.fleet.sync_sessions(sessions)
            await asyncio.sleep(self.sessions_interval)

    def _lost(self, error: GatewayError) -> None:
        self._gateway_status(str(error))

    def _gateway_status(self, problem: str) -> None:
        """Record the gateway connection's state for the pages; log it when it changes."""
        if problem != self.fleet.gateway_problem:
            if problem:
                log.warning("gateway: %s", problem)
            else:
                log.info("gateway connected: %s", self.client.target)
        self.fleet.set_gateway_problem(problem)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            self.flush()

    def flush(self) -> None:
        """Send the changes to every page, then a whole snapshot to pages that need one."""
        changes = self.fleet.take_changes()
        if changes is not None:
            payload = json.dumps(changes, separators=(",", ":"))
            for page in self.pages:
                page.offer(payload)
        waiting = [page for page in self.pages if page.needs_snapshot]
        if waiting:
            snapshot = json.dumps(self.fleet.snapshot(), separators=(",", ":"))
            for page in waiting:
                page.needs_snapshot = False
                page.offer(snapshot)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _gateway_error(error: GatewayError) -> web.Response:
    return _error(_HTTP_STATUS.get(type(error), 502), str(error))
