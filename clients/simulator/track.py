"""A deterministic vehicle track: where a simulated terminal is at any moment, and what it reads.

``Track`` integrates a simple driving model forward in time (seconds since the track started,
passed in by the caller, never read from a clock): a cruising speed that varies slowly, a stop
of ``stop_for_s`` every ``stop_every_s`` (a traffic light), and a heading that weaves left and
right (``turn_rate_deg_s`` at most, a sinusoid of period ``turn_period_s``). The same spec and
the same sample times always give the same points, so tests can assert on positions.

The point also carries what a real terminal reports next to the position: the odometer, the
fuel level (falling with distance), the mobile signal strength (0-31) and the satellites in
view, all smooth functions of time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

#: Metres per degree of latitude (and of longitude at the equator), spherical earth.
METRES_PER_DEGREE: Final = 111_320.0
#: Longest integration step (seconds): a long gap between samples is walked in steps this long.
MAX_STEP_S: Final = 1.0
#: Farthest north or south a track goes (degrees); it turns back at the edge.
MAX_LATITUDE: Final = 85.0
#: Where tracks start by default (Shenzhen).
DEFAULT_START: Final = (22.543096, 114.057865)


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """Start point and driving style of one vehicle (degrees, km/h, metres, litres)."""

    latitude: float = DEFAULT_START[0]
    longitude: float = DEFAULT_START[1]
    altitude_m: int = 20
    heading_deg: float = 90.0
    speed_kmh: float = 60.0
    speed_variation_kmh: float = 15.0
    speed_period_s: float = 90.0
    turn_rate_deg_s: float = 3.0
    turn_period_s: float = 120.0
    stop_every_s: float = 300.0  # 0: never stops
    stop_for_s: float = 30.0
    odometer_km: float = 12_000.0
    fuel_l: float = 250.0
    fuel_l_per_km: float = 0.3
    #: Shifts every periodic pattern, so that a fleet does not move in lockstep.
    phase_s: float = 0.0

    def __post_init__(self) -> None:
        if not -MAX_LATITUDE <= self.latitude <= MAX_LATITUDE:
            raise ValueError(f"start latitude {self.latitude} is outside ±{MAX_LATITUDE}")
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"start longitude {self.longitude} is outside ±180")
        if self.speed_kmh < 0 or self.speed_variation_kmh < 0 or self.fuel_l < 0:
            raise ValueError("speed, speed variation and fuel cannot be negative")
        if self.speed_period_s <= 0 or self.turn_period_s <= 0:
            raise ValueError("speed_period_s and turn_period_s must be positive")
        if self.stop_every_s < 0 or self.stop_for_s < 0:
            raise ValueError("stop_every_s and stop_for_s cannot be negative")

    @classmethod
    def for_vehicle(cls, index: int) -> TrackSpec:
        """A spec of its own for vehicle ``index`` of a fleet: start points on a grid about
        1 km apart around the default start, headings and phases spread out."""
        row, column = divmod(index, 100)
        return cls(
            latitude=DEFAULT_START[0] + (row % 100) * 0.01,
            longitude=DEFAULT_START[1] + column * 0.01,
            heading_deg=float((index * 37) % 360),
            speed_kmh=45.0 + (index * 7) % 40,
            phase_s=float((index * 53) % 600),
        )


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """Where the vehicle is at ``elapsed_s`` and what its sensors read."""

    elapsed_s: float
    latitude: float
    longitude: float
    altitude_m: int
    speed_kmh: float
    heading_deg: float
    odometer_km: float
    fuel_l: float
    signal_strength: int
    satellites: int

    @property
    def moving(self) -> bool:
        return self.speed_kmh > 0.0


class Track:
    """Integrates a ``TrackSpec`` forward; ``sample(t)`` gives the point at time ``t``."""

    def __init__(self, spec: TrackSpec | None = None) -> None:
        self.spec = spec = spec or TrackSpec()
        self._elapsed = 0.0
        self._latitude = spec.latitude
        self._longitude = spec.longitude
        self._heading = spec.heading_deg % 360.0
        self._odometer_km = spec.odometer_km
        self._fuel_l = spec.fuel_l
        self._point = self._make_point()

    @property
    def elapsed_s(self) -> float:
        return self._elapsed

    def speed_at(self, t: float) -> float:
        """Speed (km/h) at time ``t``: 0 during a stop, else the cruise speed ± its variation."""
        spec = self.spec
        at = t + spec.phase_s
        if spec.stop_every_s > 0 and at % spec.stop_every_s >= spec.stop_every_s - spec.stop_for_s:
            return 0.0
        wave = math.sin(2 * math.pi * at / spec.speed_period_s)
        return max(0.0, spec.speed_kmh + spec.speed_variation_kmh * wave)

    def turn_rate_at(self, t: float) -> float:
        """Heading change (degrees a second) at time ``t``."""
        spec = self.spec
        at = t + spec.phase_s
        return spec.turn_rate_deg_s * math.sin(2 * math.pi * at / spec.turn_period_s)

    def sample(self, t: float) -> TrackPoint:
        """The point at ``t`` seconds since the start; a time before the last sample gives the
        last point again (the track never runs backwards)."""
        while self._elapsed < t:
            step = min(MAX_STEP_S, t - self._elapsed)
            self._step(step)
        return self._point if self._point.elapsed_s == self._elapsed else self._refresh()

    def _refresh(self) -> TrackPoint:
        self._point = self._make_point()
        return self._point

    def _step(self, dt: float) -> None:
        start = self._elapsed
        middle = start + dt / 2  # midpoint rule: smooth enough for 1-second steps
        speed = self.speed_at(middle)
        if speed > 0.0:
            self._heading = (self._heading + self.turn_rate_at(middle) * dt) % 360.0
            metres = speed / 3.6 * dt
            heading = math.radians(self._heading)
            self._latitude += metres * math.cos(heading) / METRES_PER_DEGREE
            cos_lat = max(0.01, math.cos(math.radians(self._latitude)))
            self._longitude += metres * math.sin(heading) / (METRES_PER_DEGREE * cos_lat)
            if abs(self._latitude) > MAX_LATITUDE:  # turn back at the edge of the map
                self._latitude = math.copysign(MAX_LATITUDE, self._latitude)
                self._heading = (180.0 - self._heading) % 360.0
            if self._longitude > 180.0:
                self._longitude -= 360.0
            elif self._longitude < -180.0:
                self._longitude += 360.0
            self._odometer_km += metres / 1000.0
            self._fuel_l = max(0.0, self._fuel_l - metres / 1000.0 * self.spec.fuel_l_per_km)
        self._elapsed = start + dt

    def _make_point(self) -> TrackPoint:
        t = self._elapsed
        at = t + self.spec.phase_s
        signal = 22 + round(6 * math.sin(at / 37.0) + 3 * math.sin(at / 11.0))
        satellites = 12 + round(3 * math.sin(at / 53.0) + 2 * math.sin(at / 17.0))
        return TrackPoint(
            elapsed_s=t,
            latitude=round(self._latitude, 6),
            longitude=round(self._longitude, 6),
            altitude_m=self.spec.altitude_m + round(8 * math.sin(at / 200.0)),
            speed_kmh=round(self.speed_at(t), 1),
            heading_deg=self._heading,
            odometer_km=self._odometer_km,
            fuel_l=self._fuel_l,
            signal_strength=min(31, max(0, signal)),
            satellites=max(4, satellites),
        )


__all__ = ["DEFAULT_START", "MAX_STEP_S", "METRES_PER_DEGREE", "Track", "TrackPoint", "TrackSpec"]
