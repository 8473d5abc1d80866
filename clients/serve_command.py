"""``jt808 serve``: run the gateway with its embedded defaults (or what flags/env/TOML say)."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import signal
import sys
from typing import Final

import anyio

from controlplane.app import GatewayApp
from controlplane.server import ControlPlaneBindError
from gateway.cluster.connection import ClusterStartError
from gateway.cluster.workers import run_workers
from gateway.registry import RegistryUnavailableError
from gateway.server import config as gateway_config
from gateway.server.listen_check import ListenError
from gateway.server.logs import configure, get_logger
from gateway.store.base import StoreUnavailableError

#: The youngest generation is collected after this many more allocations than deallocations
#: of tracked objects (CPython's default: 700), once the gateway serves; see ``_settle_gc``.
YOUNG_GC_THRESHOLD: Final = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gateway_config.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        config = gateway_config.load(args)
    except gateway_config.ConfigError as error:
        print(f"jt808 serve: {error}", file=sys.stderr)
        return 2
    configure(config.log_level, config.log_format)
    if config.workers > 1:
        try:
            return run_workers(args, config)
        except ListenError as error:
            print(f"jt808 serve: {error}", file=sys.stderr)
            return 1
    failure: OSError | None = None
    try:
        app = GatewayApp(config)
    except gateway_config.ConfigError as error:
        print(f"jt808 serve: {error}", file=sys.stderr)
        return 2
    except RegistryUnavailableError as error:
        print(
            f"jt808 serve: cannot use the data directory {config.data_dir} (--data-dir): {error}",
            file=sys.stderr,
        )
        return 2
    try:
        anyio.run(_serve, app, backend="asyncio", backend_options=_loop_options())
    except* OSError as group:
        failure = _first_os_error(group)
    except* KeyboardInterrupt:
        pass
    if isinstance(failure, ControlPlaneBindError | ListenError | ClusterStartError):
        print(f"jt808 serve: {failure}", file=sys.stderr)
        return 1
    if isinstance(failure, StoreUnavailableError):
        print(f"jt808 serve: cannot use the data directory {config.data_dir} (--data-dir): "
              f"{failure}", file=sys.stderr)  # fmt: skip
        return 2
    if failure is not None:
        reason = failure.strerror or str(failure)
        print(f"jt808 serve: cannot listen on {config.listen}: {reason}", file=sys.stderr)
        return 1
    return 0


def _first_os_error(group: BaseExceptionGroup[OSError]) -> OSError:
    """The first ``OSError`` of a group however deeply task groups nested it."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_os_error(error)
        return error
    raise AssertionError("an empty exception group")


def _loop_options() -> dict[str, object]:
    # uvloop is a dependency where it is built (Linux, macOS); elsewhere the asyncio loop.
    return {"use_uvloop": True} if importlib.util.find_spec("uvloop") is not None else {}


async def _serve(app: GatewayApp) -> None:
    # The signal receiver exists before the listeners, so an early SIGTERM still exits cleanly
    # (and an early SIGHUP, whose default action would end the gateway, is handled).
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with anyio.create_task_group() as tasks:
            await tasks.start(app.serve)
            _settle_gc()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    _hang_up(app)
                    continue
                get_logger().info("signal received", extra={"signal": signal.Signals(signum).name})
                tasks.cancel_scope.cancel()
                break


def _settle_gc() -> None:
    """Once the gateway serves: what start-up made (modules, descriptors, configuration) is
    frozen out of the cyclic collector's sight, so a full collection no longer walks it, and
    the youngest generation is collected after ``YOUNG_GC_THRESHOLD`` net allocations.

    Why: at the default 700, every event a stream subscriber's queue holds for a moment (one
    ``LocationReported`` and its report per location, thousands under load) counted towards a
    collection, and collections walked them every few hundred reports: with one StreamLocations
    subscriber the collector took about 0.35 µs a report (each full collection ≈ 10 ms).
    Reference counting still frees nearly everything at once; only cycles wait longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


def _hang_up(app: GatewayApp) -> None:
    """SIGHUP reloads the TLS listener's files. With a TLS listener, gateway.tls.reload takes
    the signal over once the listener runs; it comes here before that, or without one."""
    if app.tls is None:
        get_logger().info("signal received", extra=_NOTHING_TO_RELOAD)
        return
    get_logger().info("signal received", extra={"signal": "SIGHUP", "action": "reload TLS"})
    app.tls.reload()


_NOTHING_TO_RELOAD: Final = {"signal": "SIGHUP", "action": "nothing to reload (no TLS listener)"}
