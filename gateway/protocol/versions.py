"""The three revisions of JT/T 808 that share one wire format family."""

from __future__ import annotations

from enum import IntEnum


class ProtocolVersion(IntEnum):
    """A revision of the standard; the value is the year, as shown to people and in JSON."""

    V2011 = 2011
    V2013 = 2013
    V2019 = 2019

    @property
    def is_2019(self) -> bool:
        return self is ProtocolVersion.V2019


V2011 = ProtocolVersion.V2011
V2013 = ProtocolVersion.V2013
V2019 = ProtocolVersion.V2019
ALL_VERSIONS = (V2011, V2013, V2019)
