"""Physical bounds of every reported value (design.md, "Trust").

The byte-sum checksum misses swapped or flipped payload bytes, and some
firmware fills fields oddly, so a believed frame can still carry a value no
charger could measure. A value outside its bounds keeps the previous one in
the snapshot (``None`` when there is none); the charger counts it and keeps
the raw value for the diagnostics download.

The bounds are generous on purpose: they reject the impossible (6,452 V,
4 GW, 455 °C), not the unusual. Steps that are possible but unlikely, like an
energy counter jumping by more than the charger could deliver, are
:mod:`energy`'s concern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any, Final

from . import const
from .messages import ChargeRecord, ChargingStatus, PhaseReading, Status

type Bounds = tuple[float, float]

VOLTAGE: Final[Bounds] = (0.0, 300.0)
"""V per phase; 0 is an absent phase. Mains is 100-277 V everywhere."""
CURRENT_MARGIN: Final = 1.25
"""Measured current may exceed the limit a little; not by a quarter."""
ABSOLUTE_CURRENT: Final[Bounds] = (0.0, 80.0)
"""A per phase whatever the charger announces."""
POWER_MARGIN: Final = 1.25
ABSOLUTE_POWER: Final[Bounds] = (0.0, 30_000.0)
"""W: a 3 x 32 A charger draws 22 kW."""
ENERGY_COUNTER: Final[Bounds] = (0.0, 1_000_000.0)
"""KWh: 22 kW around the clock for five years is 964 MWh."""
SESSION_ENERGY: Final[Bounds] = (0.0, 1_000.0)
"""KWh in one session."""
SESSION_DURATION: Final[Bounds] = (0.0, 31 * 24 * 3600.0)
"""Seconds; the firmware ends sessions after 48 h (§6.8)."""
TEMPERATURE: Final[Bounds] = (-40.0, 150.0)
"""°C inside a charger or its plug."""
BRIGHTNESS: Final[Bounds] = (0.0, 100.0)
NICKNAME_FIELD: Final = 32
"""Longest name the nickname field can hold."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What this charger's announcement says it can do."""

    max_current: int = const.ABSOLUTE_MAX_CURRENT
    """A per phase (hardware)."""
    max_power: int = int(ABSOLUTE_POWER[1])
    """W."""

    @property
    def current(self) -> Bounds:
        """Bounds of a measured phase current."""
        top = min(self.max_current * CURRENT_MARGIN, ABSOLUTE_CURRENT[1])
        return (0.0, max(top, const.MIN_CURRENT * CURRENT_MARGIN))

    @property
    def power(self) -> Bounds:
        """Bounds of the reported power."""
        top = self.max_power * POWER_MARGIN if self.max_power > 0 else 0.0
        return (0.0, min(max(top, 1000.0), ABSOLUTE_POWER[1]))

    @property
    def setting_current(self) -> Bounds:
        """Bounds of the configured maximum current (the charger's own range)."""
        return (float(const.MIN_CURRENT), float(max(self.max_current, 6)))


def within(value: float | None, bounds: Bounds) -> bool:
    """Whether ``value`` is missing or inside ``bounds`` (inclusive)."""
    return value is None or bounds[0] <= value <= bounds[1]


def printable(text: str) -> bool:
    """Printable ASCII, as the display and the Bluetooth name can show."""
    return text.isascii() and text.isprintable()


def plausible_nickname(name: str) -> bool:
    """A name the charger could really report."""
    return len(name) <= NICKNAME_FIELD and printable(name)


# --- status -------------------------------------------------------------------

type _Read = Callable[[Status], float | None]


def _status_checks(limits: Limits) -> tuple[tuple[str, _Read, Bounds], ...]:
    checks: list[tuple[str, _Read, Bounds]] = [
        (name, attrgetter(name), bounds)
        for name, bounds in (
            ("power", limits.power),
            ("total_energy", ENERGY_COUNTER),
            ("inner_temperature", TEMPERATURE),
            ("outer_temperature", TEMPERATURE),
        )
    ]
    for phase in ("l1", "l2", "l3"):
        for part, bounds in (("voltage", VOLTAGE), ("current", limits.current)):
            checks.append((f"{phase}.{part}", _reader(phase, part), bounds))
    return tuple(checks)


def _reader(phase: str, part: str) -> _Read:
    def read(status: Status) -> float | None:
        reading: PhaseReading | None = getattr(status, phase)
        return None if reading is None else getattr(reading, part)

    return read


class StatusScreen:
    """Screens status payloads against one charger's limits."""

    def __init__(self, limits: Limits) -> None:
        """Prepare the checks for ``limits``."""
        self.limits = limits
        self._checks = _status_checks(limits)

    def screen(
        self, status: Status, previous: Status | None
    ) -> tuple[Status, tuple[str, ...]]:
        """``status`` with implausible values replaced; the names of those."""
        rejected = tuple(
            name
            for name, read, bounds in self._checks
            if not within(read(status), bounds)
        )
        if not rejected:
            return status, ()
        return _replace_status(status, previous, rejected), rejected


def _replace_status(
    status: Status, previous: Status | None, rejected: tuple[str, ...]
) -> Status:
    top: dict[str, Any] = {}
    phases: dict[str, dict[str, float | None]] = {}
    for name in rejected:
        if "." in name:
            phase, part = name.split(".")
            old: PhaseReading | None = getattr(previous, phase) if previous else None
            phases.setdefault(phase, {})[part] = getattr(old, part) if old else None
        else:
            top[name] = getattr(previous, name) if previous else None
    for phase, parts in phases.items():
        reading: PhaseReading | None = getattr(status, phase)
        if reading is not None:
            top[phase] = replace(reading, **parts)
    return replace(status, **top)


# --- charging status ------------------------------------------------------------


def screen_session(
    session: ChargingStatus, previous: ChargingStatus | None, limits: Limits
) -> tuple[ChargingStatus, tuple[str, ...]]:
    """``session`` with implausible values replaced; the names of those."""
    checks: tuple[tuple[str, float | None, Bounds], ...] = (
        ("duration", session.duration, SESSION_DURATION),
        ("session_energy", session.session_energy, SESSION_ENERGY),
        ("start_energy", session.start_energy, ENERGY_COUNTER),
        ("current_energy", session.current_energy, ENERGY_COUNTER),
        ("max_current", session.max_current, (0.0, float(limits.max_current))),
    )
    rejected = tuple(
        name for name, value, bounds in checks if not within(value, bounds)
    )
    texts = tuple(
        name
        for name in ("charge_id", "user_id")
        if not printable(getattr(session, name))
    )
    rejected += texts
    if not rejected:
        return session, ()
    fallback: dict[str, Any] = {
        name: getattr(previous, name) if previous else _EMPTY_SESSION[name]
        for name in rejected
    }
    return replace(session, **fallback), rejected


def implausible_record(record: ChargeRecord) -> tuple[str, ...]:
    """Names of the fields of ``record`` no charger could have written.

    A record is history: it is taken whole or not at all, never patched up.
    """
    checks: tuple[tuple[str, float, Bounds], ...] = (
        ("charged_time", record.charged_time, SESSION_DURATION),
        ("session_energy", record.session_energy, SESSION_ENERGY),
        ("start_energy", record.start_energy, ENERGY_COUNTER),
        ("stop_energy", record.stop_energy, ENERGY_COUNTER),
    )
    rejected = tuple(
        name for name, value, bounds in checks if not within(value, bounds)
    )
    return rejected + tuple(
        name
        for name in ("charge_id", "started_by", "stopped_by")
        if not printable(getattr(record, name))
    )


_EMPTY_SESSION: Final[dict[str, object]] = {
    "duration": 0,
    "session_energy": 0.0,
    "start_energy": 0.0,
    "current_energy": 0.0,
    "max_current": 0,
    "charge_id": "",
    "user_id": "",
}
"""What a field of a session without a believable previous value falls back to."""
