"""``jt808 health`` against a real gateway: SERVING and exit 0, or one sentence and exit 1."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from clients.cli import main
from tests.controlplane.harness import running_app
from tests.server.harness import free_port
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio
TOKEN = "health-check-token"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """One event loop for the module, as for the control-plane tests (tests/controlplane/
    conftest.py): grpc.aio completions of a stopped server land on a loop still open."""
    return "asyncio"


async def health(*flags: str) -> int:
    """``jt808 health FLAGS`` in a worker thread (its gRPC call blocks; the gateway runs on
    this loop)."""
    with anyio.fail_after(2 * HANG_GUARD):
        return await anyio.to_thread.run_sync(
            main, ["health", "--timeout", str(HANG_GUARD), *flags]
        )


async def test_a_running_gateway_is_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_app(tmp_path) as app:
        assert await health("--gateway", app.grpc_target) == 0
        assert capsys.readouterr().out == "SERVING\n"
        service = "jt808.gateway.v1.GatewayService"
        assert await health("--gateway", app.grpc_target, "--service", service) == 0
        assert await health("--gateway", app.grpc_target, "--service", "no.Such") == 1
    assert capsys.readouterr().err.endswith("no service named no.Such\n")


async def test_a_gateway_with_a_token_needs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_app(tmp_path, grpc_token=TOKEN) as app:
        assert await health("--gateway", app.grpc_target) == 1
        assert "requires a token" in capsys.readouterr().err
        assert await health("--gateway", app.grpc_target, "--token", TOKEN) == 0
        monkeypatch.setenv("JT808_GRPC_TOKEN", TOKEN)
        monkeypatch.setenv("JT808_GATEWAY", app.grpc_target)
        assert await health() == 0


async def test_the_token_can_come_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    async with running_app(tmp_path, grpc_token=TOKEN) as app:
        assert await health("--gateway", app.grpc_target, "--token-file", str(token_file)) == 0
        capsys.readouterr()
        missing = tmp_path / "nope"
        assert await health("--gateway", app.grpc_target, "--token-file", str(missing)) == 2
        assert capsys.readouterr().err == f"jt808 health: --token-file: {missing} does not exist\n"
        both = ("--token", TOKEN, "--token-file", str(token_file))
        assert await health("--gateway", app.grpc_target, *both) == 2
        assert "give one" in capsys.readouterr().err


async def test_nothing_listening_is_one_sentence_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"127.0.0.1:{free_port()}"
    assert await health("--gateway", address) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err == f"jt808 health: {address}: not reachable (is the gateway running, "
        "and is this its --grpc-listen address?)\n"
    )


async def test_a_bad_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert await health("--gateway", "nohost") == 2
    assert capsys.readouterr().err.startswith("jt808 health: --gateway: expected HOST:PORT")
