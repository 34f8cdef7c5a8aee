"""Energy counters the Energy dashboard can trust (design.md, "Trust").

Home Assistant's long-term statistics keep every mistake of a
``total_increasing`` sensor: a drop of more than 10 % counts as a meter reset
(and the next readings are added again), a smaller drop is subtracted. So what
a charger reports is not published as it is:

* Within one link epoch (the charger stayed reachable) the counter never goes
  down: a lower reading is a reordered or stale push, and the last published
  value is held.
* After the charger was away (power cut, reboot, Home Assistant restart) a
  lower reading is the counter restored from the charger's flash. If it is
  near zero it is a genuine reset, published once the following readings
  confirm it; otherwise the difference becomes an offset, so the published
  value continues where it was and every kWh delivered afterwards counts.
* A rise larger than the charger could deliver since the last accepted
  reading (its maximum power, a margin and a small slack) is published only
  when the following readings confirm it.

The state is plain data so the sensor can store it across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

CONFIRMATIONS: Final = 2
"""Following readings that must agree before a reset or a jump is published."""
RESET_BELOW: Final = 1.0
"""KWh: a restored counter at most this high after an absence is a reset."""
RATE_MARGIN: Final = 1.5
SLACK: Final = 0.1
"""KWh allowed on top of what the maximum power explains (rounding, clocks)."""
CONFIRM_SPREAD: Final = 10.0
"""How far (in allowances) a confirming reading may lie above the candidate:
a charger faster than its announced maximum still gets through, a lone spike
followed by the old level does not."""
DEFAULT_MAX_POWER: Final = 22_000.0
"""W, when the charger has not said."""


class Pending(StrEnum):
    """A reading the guard does not publish until the next ones confirm it."""

    RESET = "reset"
    """The counter restarted near zero (or a first reading of 0)."""
    JUMP = "jump"
    """The counter rose faster than the charger could deliver."""


@dataclass(slots=True)
class CounterGuard:
    """Turns raw counter readings into a publishable, monotonic value."""

    published: float | None = None
    offset: float = 0.0
    """Added to raw readings after a restore-lower (kWh)."""
    last_raw: float | None = None
    """The highest raw reading taken into account in the current epoch."""
    last_time: float | None = None
    """When the published value last moved (seconds, any clock)."""
    epoch: int | str | None = None
    """Link epoch (lifetime counter) or session id of the last reading."""
    pending: Pending | None = None
    candidate: float = 0.0
    """The latest raw reading of the pending reset or jump."""
    confirmations: int = 0
    absorb_decreases: bool = True
    """Lifetime counters absorb restore-lowers; session counters restart."""

    def feed(
        self,
        raw: float | None,
        now: float,
        epoch: int | str | None,
        max_power: float | None = None,
    ) -> float | None:
        """Take one reading; return the value to publish."""
        if raw is None:
            return self.published
        new_epoch = epoch != self.epoch
        self.epoch = epoch
        if self.pending is Pending.RESET:
            if self._confirms(raw, RESET_BELOW):
                return self._restart(raw, now) if self._confirmed() else self.published
            self._clear()
        if self.published is None:
            if raw > 0 or not self.absorb_decreases:
                return self._accept(raw, now)
            # A lifetime counter is never 0 on a used charger: a first 0 is
            # a missing reading until more readings say otherwise.
            return self._expect(Pending.RESET, raw)
        if new_epoch and not self.absorb_decreases:
            return self._restart(raw, now)
        if new_epoch and self.last_raw is not None and raw < self.last_raw:
            if raw <= RESET_BELOW:
                return self._expect(Pending.RESET, raw)
            self.offset = self.published - raw
            self.last_raw = raw
            self.last_time = now
            return self.published
        value = raw + self.offset
        if value < self.published:
            self._clear()
            return self.published
        allowance = self._allowance(now, max_power)
        if value - self.published <= allowance:
            return self._accept(raw, now)
        if self.pending is Pending.JUMP and self._confirms(
            raw, allowance * CONFIRM_SPREAD
        ):
            return self._accept(raw, now) if self._confirmed() else self.published
        return self._expect(Pending.JUMP, raw)

    # --- helpers -----------------------------------------------------------------

    def _expect(self, pending: Pending, raw: float) -> float | None:
        self.pending, self.candidate, self.confirmations = pending, raw, 0
        return self.published

    def _confirms(self, raw: float, spread: float) -> bool:
        """Whether ``raw`` continues the candidate (not lower, not far above)."""
        if not self.candidate <= raw <= self.candidate + spread:
            return False
        self.candidate = raw
        self.confirmations += 1
        return True

    def _confirmed(self) -> bool:
        return self.confirmations >= CONFIRMATIONS

    def _clear(self) -> None:
        self.pending, self.candidate, self.confirmations = None, 0.0, 0

    def _restart(self, raw: float, now: float) -> float:
        """Publish ``raw`` as it is: a confirmed reset or a new session."""
        self.offset = 0.0
        return self._accept(raw, now)

    def _accept(self, raw: float, now: float) -> float:
        self._clear()
        self.published = round(raw + self.offset, 2)
        self.last_raw = raw
        self.last_time = now
        return self.published

    def _allowance(self, now: float, max_power: float | None) -> float:
        elapsed = max(0.0, now - self.last_time) if self.last_time is not None else 0.0
        power = max_power if max_power and max_power > 0 else DEFAULT_MAX_POWER
        return power * elapsed / 3_600_000 * RATE_MARGIN + SLACK

    # --- storage -------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """What to store across restarts (the epoch never survives one)."""
        return {
            "published": self.published,
            "offset": self.offset,
            "last_raw": self.last_raw,
            "last_time": self.last_time,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, absorb_decreases: bool) -> CounterGuard:
        """Restore; unknown or damaged data gives a fresh guard."""
        try:
            return cls(
                published=_optional_float(data.get("published")),
                offset=_optional_float(data.get("offset")) or 0.0,
                last_raw=_optional_float(data.get("last_raw")),
                last_time=_optional_float(data.get("last_time")),
                absorb_decreases=absorb_decreases,
            )
        except (TypeError, ValueError):
            return cls(absorb_decreases=absorb_decreases)


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("not a number")
    return float(value)
