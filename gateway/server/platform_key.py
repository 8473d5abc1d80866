"""The platform's RSA key for JT/T 808 body encryption (0x8A00), from ``--rsa-key`` or kept under
``--data-dir``.

Terminals may remember the platform key across connections, so it must survive restarts: when
``--rsa-key`` is not given, a 1024-bit key (the size 0x8A00 carries) is created on first start as
``platform-rsa-key.pem`` in the data directory, readable by the gateway's user only, and reused
afterwards. Problems are one ``ConfigError`` sentence naming the setting.

``platform_key_for`` is what the gateway uses: ``--rsa-key`` is read at startup (a bad file
stops it), the data directory's key only when a terminal first needs it (0x0A00, an encrypted
body, a 0x8A00 command), so that a gateway whose terminals never encrypt loads no crypto.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from gateway.protocol.encryption import RsaKeyError, RsaKeyPair

from .config import ConfigError, GatewayConfig

KEY_FILE: Final = "platform-rsa-key.pem"


def platform_key_path(config: GatewayConfig) -> Path:
    return config.rsa_key if config.rsa_key is not None else config.data_dir / KEY_FILE


def platform_key_for(config: GatewayConfig) -> RsaKeyPair:
    """``--rsa-key`` read now; else the data directory's key, read or created on first use."""
    if config.rsa_key is not None:
        return load_platform_key(config)
    return RsaKeyPair.deferred(lambda: load_platform_key(config))


def load_platform_key(config: GatewayConfig) -> RsaKeyPair:
    """The configured key, else the one under the data directory (created when missing)."""
    if config.rsa_key is not None:
        return _read(config.rsa_key, "--rsa-key")
    path = config.data_dir / KEY_FILE
    if path.exists():
        return _read(path, "--data-dir")
    key = RsaKeyPair.generate()
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.to_pem())
    except FileExistsError:  # another process created it first: use that one
        return _read(path, "--data-dir")
    except OSError as error:
        raise ConfigError(
            f"--data-dir: cannot create the platform RSA key {path}: {error.strerror}"
        ) from None
    return key


def _read(path: Path, setting: str) -> RsaKeyPair:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{setting}: the platform RSA key {path} does not exist") from None
    except OSError as error:
        raise ConfigError(
            f"{setting}: the platform RSA key {path} cannot be read: {error.strerror}"
        ) from None
    try:
        return RsaKeyPair.from_pem(data)
    except RsaKeyError as error:
        raise ConfigError(f"{setting}: {path}: {error.message}") from None
