"""JT/T 808 gateway: the sans-I/O protocol core (``gateway.protocol``), its I/O edge
(``gateway.server``), terminal authentication (``gateway.auth``), the device registry and the
event hub."""

from . import native as _native

_native.install()  # before anything imports the protocol core: compiled or pure Python
