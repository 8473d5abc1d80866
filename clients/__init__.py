"""Clients of the gateway: the ``jt808`` command line, the SDK and the terminal simulator."""
