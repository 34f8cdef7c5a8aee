"""Which snapshot parts an update changed, and who is told about it.

The coordinator hands a pushed update only to the listeners whose ``reads``
it changed (``changes.py``). Two things must hold for that to lose nothing:
every value an entity shows depends only on the parts it declares (checked
here over random snapshots: everything it does not read is replaced by
another snapshot's and the value must not move), and the dispatch itself
reaches exactly the listeners of the changed parts, including ones added
after a combination of parts was seen before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.binary_sensor import BINARY_SENSORS
from custom_components.evse_master.changes import (
    KNOWN_PARTS,
    PHASES,
    changed_parts,
    reads,
)
from custom_components.evse_master.number import NUMBERS
from custom_components.evse_master.protocol.charger import (
    ChargerSettings,
    ChargerState,
)
from custom_components.evse_master.protocol.frame import decode_datagram
from custom_components.evse_master.protocol.messages import Status, parse_message
from custom_components.evse_master.select import SELECTS
from custom_components.evse_master.sensor import CONNECTION, SENSORS
from custom_components.evse_master.switch import CHARGING_SWITCH
from custom_components.evse_master.text import NICKNAME
from tests.helpers import wait_for_charger
from tests.protocol.test_frame import V1
from tests.protocol.test_state import snapshots
from tests.simulator import SimulatedCharger

type Shown = Callable[[ChargerState], Any]


def _both(value: Shown, extra: Shown | None) -> Shown:
    """A value and what is published beside it (attributes, the maximum)."""
    return lambda state: (value(state), extra(state) if extra else None)


def _shown_values() -> list[tuple[str, frozenset[str], Shown]]:
    """Every value an entity (or the phase listener) computes from a snapshot."""
    shown: list[tuple[str, frozenset[str], Shown]] = []
    for sensor in (*SENSORS, CONNECTION):
        assert sensor.reads is not None
        shows = _both(sensor.value_fn, sensor.attributes_fn)
        shown.append((f"sensor.{sensor.key}", sensor.reads, shows))
    for binary in BINARY_SENSORS:
        assert binary.reads is not None
        shown.append((f"binary_sensor.{binary.key}", binary.reads, binary.is_on_fn))
    for number in NUMBERS:
        assert number.reads is not None
        shows = _both(number.value_fn, number.max_fn)
        shown.append((f"number.{number.key}", number.reads, shows))
    for select in SELECTS:
        assert select.reads is not None

        def select_shows(state: ChargerState, value: Any = select.value_fn) -> Any:
            return value(state.settings)

        shown.append((f"select.{select.key}", select.reads, select_shows))
    assert CHARGING_SWITCH.reads is not None
    shown.append(("switch.charging", CHARGING_SWITCH.reads, lambda s: s.session_active))
    assert NICKNAME.reads is not None
    shown.append(("text.nickname", NICKNAME.reads, lambda s: s.settings.nickname))
    shown.append(("phase sensors added", PHASES, lambda s: s.phases))
    return shown


SHOWN = _shown_values()


def _mixed(kept: ChargerState, other: ChargerState, read: frozenset[str]) -> Any:
    """``kept`` where ``read`` looks, ``other`` everywhere else."""
    mixed: dict[str, Any] = {}
    for field in fields(ChargerState):
        top = field.name
        mine, theirs = getattr(kept, top), getattr(other, top)
        detailed = {part for part in read if part.startswith(f"{top}.")}
        if top in read:
            mixed[top] = mine
        elif not detailed:
            mixed[top] = theirs
        elif mine is None or theirs is None:
            mixed[top] = mine  # a part read that appears or goes: a change of it
        else:
            names = {part.split(".", 1)[1] for part in detailed}
            mixed[top] = replace(
                theirs, **{name: getattr(mine, name) for name in names}
            )
    return replace(kept, **mixed)


@pytest.mark.parametrize(
    ("read", "shows"),
    [(read, shows) for _, read, shows in SHOWN],
    ids=[name for name, _, _ in SHOWN],
)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(kept=snapshots(), other=snapshots())
def test_shown_value_depends_only_on_what_is_read(
    read: frozenset[str], shows: Shown, kept: ChargerState, other: ChargerState
) -> None:
    """Whatever an entity does not read can change: what it shows stays."""
    assert shows(_mixed(kept, other, read)) == shows(kept)


def test_declared_reads_are_parts_of_the_snapshot() -> None:
    """A part nobody changes would leave its entity stale for ever."""
    for name, read, _ in SHOWN:
        assert read, name
        assert read <= KNOWN_PARTS, name
    with pytest.raises(ValueError, match=r"status\.nope"):
        reads("status.power", "status.nope")


def _captured_status() -> Status:
    """The spec's captured status (V1), parsed anew on every call."""
    status = parse_message(decode_datagram(V1))
    assert isinstance(status, Status)
    return status


def test_changed_parts() -> None:
    """Top-level fields by identity, the detailed ones by value."""
    status = _captured_status()
    state = ChargerState(serial="9181102751219513", status=status)
    assert changed_parts(state, state) == frozenset()
    # A new parse of the same bytes: the record is new, no part of it is.
    copy = replace(state, status=_captured_status())
    assert changed_parts(state, copy) == {"status"}
    warmer = replace(
        state,
        status=replace(status, inner_temperature=25.5),
    )
    assert changed_parts(state, warmer) == {"status", "status.inner_temperature"}
    appeared = changed_parts(replace(state, status=None), state)
    assert appeared == changed_parts(state, replace(state, status=None))
    assert appeared == {"status"} | {f"status.{field.name}" for field in fields(status)}
    renamed = replace(state, settings=ChargerSettings(nickname="Garage"))
    assert changed_parts(state, renamed) == {"settings", "settings.nickname"}
    assert changed_parts(state, replace(state, link_epoch=1)) == {"link_epoch"}


async def test_listeners_get_the_updates_of_what_they_read(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Parts as context: only their updates; a later listener is not forgotten."""
    coordinator = loaded.runtime_data.coordinator
    charger = loaded.runtime_data.charger
    calls = {"temperature": 0, "energy": 0, "late": 0}
    everything: list[frozenset[str]] = []

    def counter(name: str) -> Callable[[], None]:
        def count() -> None:
            calls[name] += 1

        return count

    remove_temperature = coordinator.async_add_listener(
        counter("temperature"), reads("status.inner_temperature")
    )
    remove_energy = coordinator.async_add_listener(
        counter("energy"), reads("status.total_energy")
    )
    remove_all = coordinator.async_add_listener(
        lambda: everything.append(coordinator.changed)
    )

    async def push(**measurements: float) -> None:
        simulator.set_measurements(**measurements)
        simulator.push_status()
        await wait_for_charger(
            charger,
            lambda s: (
                s.status is not None
                and all(
                    getattr(s.status, _STATUS_FIELD[name]) == value
                    for name, value in measurements.items()
                )
            ),
        )
        await hass.async_block_till_done()

    await push(temperature_inner=26.0)
    assert calls == {"temperature": 1, "energy": 0, "late": 0}
    # The same combination of parts again, now with one more listener of it.
    remove_late = coordinator.async_add_listener(
        counter("late"), reads("status.inner_temperature")
    )
    await push(temperature_inner=27.0)
    assert calls == {"temperature": 2, "energy": 0, "late": 1}
    remove_temperature()
    await push(temperature_inner=28.0)
    assert calls == {"temperature": 2, "energy": 0, "late": 2}
    await push(total_energy=2000.5)
    assert calls == {"temperature": 2, "energy": 1, "late": 2}
    # A listener without parts hears every update, with what it changed.
    assert {"status", "status.inner_temperature"} in everything
    assert {"status", "status.total_energy"} in everything
    for remove in (remove_energy, remove_late, remove_all):
        remove()


_STATUS_FIELD = {
    "temperature_inner": "inner_temperature",
    "total_energy": "total_energy",
}
