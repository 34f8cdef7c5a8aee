"""The energy counter guard: what the Energy dashboard's statistics add up."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, strategies as st
import pytest

from custom_components.evse_master.protocol.energy import (
    CONFIRMATIONS,
    CounterGuard,
)

POWER = 7040.0
"""W: a BS20's maximum."""


def ha_sum(published: Iterable[float | None]) -> float:
    """How Home Assistant's statistics sum a ``total_increasing`` sensor.

    A drop below 90 % of the previous state is a meter reset (the new state
    counts from 0); any other change is added, also a small negative one.
    """
    total = 0.0
    previous: float | None = None
    for value in published:
        if value is None:
            continue
        if previous is not None:
            total += value if value < 0.9 * previous else value - previous
        previous = value
    return round(total, 2)


class Meter:
    """Feeds a guard like the sensor does: readings, a clock, a link epoch."""

    def __init__(self, guard: CounterGuard | None = None) -> None:
        self.guard = guard or CounterGuard()
        self.now = 0.0
        self.epoch = 1
        self.published: list[float | None] = []

    def read(self, raw: float | None, after: float = 10.0) -> float | None:
        self.now += after
        value = self.guard.feed(raw, self.now, self.epoch, POWER)
        self.published.append(value)
        return value

    def reboot(self) -> None:
        """The charger went away and came back (power cut): a new epoch."""
        self.epoch += 1


def charge(meter: Meter, start: float, kwh: float, steps: int = 10) -> float:
    """Readings of ``kwh`` delivered evenly from ``start``, a reading per 5 min."""
    for step in range(1, steps + 1):
        meter.read(round(start + kwh * step / steps, 2), after=300)
    return round(start + kwh, 2)


def test_faster_than_announced_still_counts() -> None:
    """A charger delivering more than its maximum power: late, but all counted."""
    meter = Meter()
    meter.read(1000.0)
    for step in range(1, 11):
        meter.read(round(1000 + 0.3 * step, 2), after=60)  # 18 kW
    for _ in range(CONFIRMATIONS):  # the car is full: the counter stands
        meter.read(1003.0, after=60)
    assert meter.published[-1] == 1003.0
    assert ha_sum(meter.published) == pytest.approx(3.0)


@pytest.mark.parametrize(
    "restored_as",
    [
        pytest.param(lambda counter: 0.0, id="back-at-zero"),
        pytest.param(lambda counter: round(counter - 0.1, 2), id="0.1-kWh-lower"),
        pytest.param(lambda counter: round(counter * 0.95, 2), id="5%-lower"),
        pytest.param(lambda counter: round(counter * 0.5, 2), id="50%-lower"),
        pytest.param(lambda counter: counter, id="unchanged"),
    ],
)
def test_power_cycle_counts_every_kwh(restored_as: object) -> None:
    """Whatever the counter comes back at, the sum is the energy delivered."""
    assert callable(restored_as)
    meter = Meter()
    counter = charge(meter, 1000.0, 2.0) if meter.read(1000.0) else 0.0
    meter.reboot()
    restored: float = restored_as(counter)
    meter.read(restored)  # back online, before the car draws again
    after = charge(meter, restored, 3.0)
    assert after == pytest.approx(restored + 3.0)
    assert ha_sum(meter.published) == pytest.approx(5.0, abs=0.011)
    # Never a published drop, except the one reset back at zero.
    drops = [
        (a, b)
        for a, b in zip(meter.published, meter.published[1:], strict=False)
        if a is not None and b is not None and b < a
    ]
    assert drops == ([] if restored else [(drops[0][0], drops[0][1])])


def test_reset_needs_confirmation() -> None:
    """One reading near zero after a reboot waits for the next ones."""
    meter = Meter()
    meter.read(1000.0)
    meter.reboot()
    assert meter.read(0.02) == 1000.0
    assert meter.read(0.03) == 1000.0  # one confirmation so far
    assert meter.read(0.05) == 0.05
    assert CONFIRMATIONS == 2


def test_a_stray_low_reading_after_reboot_is_not_a_reset() -> None:
    """Near zero once, then the old level again: the old level it is."""
    meter = Meter()
    meter.read(1000.0)
    meter.reboot()
    assert meter.read(0.0) == 1000.0
    assert meter.read(1000.02) == 1000.02
    assert ha_sum(meter.published) == pytest.approx(0.02)


def test_reordered_and_duplicated_pushes_hold() -> None:
    """An older push arriving late never lowers the published value."""
    meter = Meter()
    for raw in (100.00, 100.02, 100.01, 100.02, 100.02, 100.03, 100.01):
        meter.read(raw, after=5)
    assert meter.published == [100.0, 100.02, 100.02, 100.02, 100.02, 100.03, 100.03]
    assert ha_sum(meter.published) == pytest.approx(0.03)


def test_impossible_jump_waits_for_confirmation() -> None:
    """A corrupted reading far above what 7 kW can deliver is not published."""
    meter = Meter()
    meter.read(1475.85)
    assert meter.read(9_236_393.0, after=5) == 1475.85
    assert meter.read(1475.86, after=5) == 1475.86
    assert ha_sum(meter.published) == pytest.approx(0.01)


def test_real_jump_is_published_once_confirmed() -> None:
    """A counter that really is higher (a meter swap, say) gets through."""
    meter = Meter()
    meter.read(1000.0)
    for value in (1500.0, 1500.01, 1500.02):
        meter.read(value, after=5)
    assert meter.published[-1] == 1500.02
    assert meter.published[1:3] == [1000.0, 1000.0]


def test_long_absence_allows_a_big_rise() -> None:
    """A day away at 7 kW may add up to 168 kWh at once."""
    meter = Meter()
    meter.read(1000.0)
    meter.reboot()
    assert meter.read(1100.0, after=24 * 3600) == 1100.0


def test_first_zero_is_a_missing_reading() -> None:
    """A lifetime counter that starts at 0 is published once it repeats."""
    meter = Meter()
    assert meter.read(0.0) is None
    assert meter.read(0.0) is None
    assert meter.read(0.01) == 0.01
    assert Meter().read(None) is None


def test_session_counter_restarts_with_each_session() -> None:
    """Session energy: a new session id starts from its own value, even 0."""
    guard = CounterGuard(absorb_decreases=False)
    assert guard.feed(0.0, 0, "2026120112000001", POWER) == 0.0
    assert guard.feed(2.5, 3600, "2026120112000001", POWER) == 2.5
    assert guard.feed(2.4, 3610, "2026120112000001", POWER) == 2.5  # held
    assert guard.feed(0.0, 7200, "2026120113000002", POWER) == 0.0
    assert guard.feed(0.01, 7210, "2026120113000002", POWER) == 0.01


def test_restart_keeps_the_guard() -> None:
    """Stored and restored, the guard goes on as if nothing happened."""
    meter = Meter()
    meter.read(1000.0)
    meter.reboot()
    meter.read(999.9)  # restored lower: an offset
    stored = meter.guard.as_dict()
    restored = Meter(CounterGuard.from_dict(stored, absorb_decreases=True))
    restored.now = meter.now
    assert restored.read(999.95) == 1000.05
    assert (
        CounterGuard.from_dict({"published": "x"}, absorb_decreases=True).published
        is None
    )
    assert (
        CounterGuard.from_dict({"published": [1]}, absorb_decreases=True).published
        is None
    )
    assert CounterGuard.from_dict({}, absorb_decreases=False).absorb_decreases is False


@given(
    # Up to 0.1 kWh a minute: what a 7 kW charger can really deliver.
    st.lists(st.integers(0, 10), min_size=1, max_size=60),
    st.lists(st.integers(0, 59), max_size=20),
    st.data(),
)
def test_never_decreases_within_an_epoch(
    steps: list[int], swaps: list[int], data: st.DataObject
) -> None:
    """Real increments, reordered and duplicated: monotonic, ends at the maximum."""
    readings = []
    counter = 1000.0
    for step in steps:
        counter = round(counter + step / 100, 2)
        readings.append(counter)
    for index in swaps:
        if index + 1 < len(readings):
            readings[index], readings[index + 1] = readings[index + 1], readings[index]
    duplicates = data.draw(st.lists(st.sampled_from(readings), max_size=5))
    meter = Meter()
    for raw in readings + duplicates:
        meter.read(raw, after=60)
    values = [value for value in meter.published if value is not None]
    assert values == sorted(values)
    assert values[-1] == max(readings)
