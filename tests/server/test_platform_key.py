"""The platform RSA key: created once under the data directory (owner-only), reused after a
restart, or read from --rsa-key; a key that cannot serve 0x8A00 is refused in one sentence."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from clients.pki import key_pem
from gateway.protocol.encryption import RsaKeyPair
from gateway.server.config import ConfigError, GatewayConfig
from gateway.server.platform_key import KEY_FILE, load_platform_key, platform_key_for


def test_the_key_is_created_once_and_survives_a_restart(tmp_path: Path) -> None:
    config = GatewayConfig(data_dir=tmp_path / "data")
    first = load_platform_key(config)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_platform_key(config).public == first.public
    assert len(first.public.modulus) == 128


def test_a_configured_key_is_used(tmp_path: Path) -> None:
    key = RsaKeyPair.generate()
    path = tmp_path / "platform.pem"
    path.write_bytes(key.to_pem())
    loaded = load_platform_key(GatewayConfig(data_dir=tmp_path / "data", rsa_key=path))
    assert loaded.public == key.public
    assert not (tmp_path / "data" / KEY_FILE).exists()


def test_unusable_keys_are_refused_naming_the_setting(tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    big.write_bytes(key_pem(rsa.generate_private_key(65537, 2048)))
    with pytest.raises(ConfigError, match=r"^--rsa-key: .*big.pem: a 2048-bit RSA key cannot go"):
        load_platform_key(GatewayConfig(rsa_key=big))
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match=r"^--rsa-key: the platform RSA key .* does not exist$"):
        load_platform_key(GatewayConfig(rsa_key=missing))
    data = tmp_path / "data"
    data.mkdir()
    (data / KEY_FILE).write_text("garbage")
    with pytest.raises(ConfigError, match=r"^--data-dir: .*: not an unencrypted PEM"):
        load_platform_key(GatewayConfig(data_dir=data))


def test_the_data_directory_key_is_made_when_first_needed(tmp_path: Path) -> None:
    config = GatewayConfig(data_dir=tmp_path / "data")
    deferred = platform_key_for(config)
    path = tmp_path / "data" / KEY_FILE
    assert not path.exists()
    assert "not loaded" in repr(deferred)
    public = deferred.public  # the first terminal that asks
    assert path.exists()
    assert load_platform_key(config).public == public
    assert platform_key_for(config).platform_body() == deferred.platform_body()


def test_a_configured_key_is_read_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--rsa-key: the platform RSA key .* does not exist$"):
        platform_key_for(GatewayConfig(rsa_key=tmp_path / "missing.pem"))
