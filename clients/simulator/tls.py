"""TLS for simulated terminals (``jt808 simulate --tls``): whom to trust, which client
certificate each terminal presents.

``cert`` and ``key`` may hold ``{phone}``, replaced by each terminal's phone as it sends it (12
digits, 20 in 2019): with mutual TLS and the default identity rule (subject CN = phone) every
terminal needs its own certificate, e.g. ``--tls-cert 'devices/{phone}.pem'`` as
``jt808 pki device`` writes them. Contexts are built once per certificate and reused for
reconnections.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PLACEHOLDER: Final = "{phone}"


@dataclass(frozen=True)
class TlsClientSettings:
    """How simulated terminals speak TLS. ``ca`` None trusts the system's CA store."""

    ca: Path | None = None
    cert: str | None = None
    key: str | None = None
    #: The name to verify the gateway's certificate against (default: the host connected to).
    server_name: str | None = None
    _contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("--tls-cert and --tls-key go together (give both)")
        if self.ca is not None and not self.ca.is_file():
            raise ValueError(f"--tls-ca: {self.ca} is not a readable file")

    def files_for(self, phone: str) -> tuple[Path, Path] | None:
        if self.cert is None or self.key is None:
            return None
        cert = Path(self.cert.replace(PLACEHOLDER, phone))
        return cert, Path(self.key.replace(PLACEHOLDER, phone))

    def context_for(self, phone: str) -> ssl.SSLContext:
        """The client context of the terminal with ``phone``; ``ValueError`` naming the flag
        when its files cannot be used."""
        files = self.files_for(phone)
        cache_key = (None, None) if files is None else (str(files[0]), str(files[1]))
        context = self._contexts.get(cache_key)
        if context is not None:
            return context
        if files is not None:
            for flag, path in (("--tls-cert", files[0]), ("--tls-key", files[1])):
                if not path.is_file():
                    raise ValueError(f"{flag}: {path} is not a readable file")
        # The gateway's TLS package loads cryptography: only for simulations that use TLS.
        from gateway.tls.context import client_context  # noqa: PLC0415

        try:
            context = client_context(
                ca=self.ca,
                cert=None if files is None else files[0],
                key=None if files is None else files[1],
            )
        except (ssl.SSLError, OSError) as error:
            what = "--tls-ca" if files is None else "--tls-cert/--tls-key"
            reason = getattr(error, "reason", None) or error
            raise ValueError(f"{what}: the TLS files cannot be used ({reason})") from None
        self._contexts[cache_key] = context
        return context


__all__ = ["PLACEHOLDER", "TlsClientSettings"]
