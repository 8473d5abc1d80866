"""Terminals over TLS: the listener's TLS material and reloads (``context``, ``files``,
``reload``), the accept loop with its handshake deadline (``listener``), device identity from
client certificates (``identity``), OCSP for device certificates (``ocsp``), and
``TlsServer`` (``server``), the one object the I/O edge asks about TLS.

This package sits beside the I/O edge and imports nothing from it: the edge calls
``TlsListener`` (or the ``TlsServer`` methods directly) and hands each accepted connection to
its own protocol. Nothing is imported here, so that ``gateway.server.config`` can use the small
modules without loading the whole stack.
"""
