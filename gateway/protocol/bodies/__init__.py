"""Every message body of JT/T 808, grouped by what the messages are for.

Importing this package registers every body with its message id.
"""

from __future__ import annotations

from . import general, location, parameters, registration, terminal

__all__ = ["general", "location", "parameters", "registration", "terminal"]
