"""State writes: a charger change writes exactly the entities that show it.

The design (``changes.py``, ``coordinator.py``, ``entity.py``): the
coordinator hands an update only to the entities whose ``reads`` it changed
(status fields one by one), those write only when what they would show differs
from what they wrote last, and an availability change reaches every entity.

Every entity of the charger is enabled. For each field the simulator can
change alone, the test collects the state writes (``state_changed`` and
``state_reported``) of all of the integration's entities from the change
until the charger snapshot has the new value, then sends a few more identical
pushes and checks that they write nothing. Changes nobody can see (below the
display precision, a push that repeats the last one, re-reading unchanged
settings) write nothing at all. Going away and coming back writes every
entity that is available only with a session.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import math

from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import (
    Event,
    EventStateChangedData,
    EventStateEventData,
    EventStateReportedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.hub import async_get_hub
from custom_components.evse_master.protocol.charger import Charger, ChargerState
from custom_components.evse_master.protocol.enums import (
    Command,
    Fault,
    Language,
    StartMode,
    TemperatureUnit,
)
from custom_components.evse_master.protocol.frame import Datagram
from custom_components.evse_master.protocol.listener import Address
from tests.helpers import WAIT, wait_for_charger
from tests.simulator import SimulatedCharger

from .conftest import SERIAL, everything_read

pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

FLUSH_PUSHES = 3
"""Identical status pushes after a change that must write nothing."""

ALL_ENTITIES = frozenset(
    {
        "binary_sensor.charging",
        "binary_sensor.emergency_stop",
        "binary_sensor.plugged_in",
        "binary_sensor.problem",
        "button.connect_now",
        "event.session",
        "number.lcd_brightness",
        "number.max_current",
        "select.language",
        "select.start_mode",
        "select.temperature_unit",
        "sensor.charger_state",
        "sensor.connection",
        "sensor.current_change",
        "sensor.current_l1",
        "sensor.fault",
        "sensor.inner_temperature",
        "sensor.lifetime_energy",
        "sensor.outer_temperature",
        "sensor.power",
        "sensor.scheduled_start",
        "sensor.session_current_limit",
        "sensor.session_duration",
        "sensor.session_energy",
        "sensor.session_energy_limit",
        "sensor.session_start",
        "sensor.session_time_limit",
        "sensor.voltage_l1",
        "switch.charging",
        "text.nickname",
    }
)
"""``<domain>.<unique-id key>`` of every entity of a single-phase BS20.

Keys, not entity ids: those follow the translated names, which change (the
``switch.charging`` key is ``switch.<device>_charge`` now, ``number.max_current``
is ``number.<device>_current_limit``).
"""

ALWAYS_AVAILABLE = frozenset(
    {
        "button.connect_now",
        "event.session",
        "sensor.connection",
        "sensor.current_change",
    }
)
"""Entities that stay available while the charger is away (their ``available``)."""
SESSION_BOUND = ALL_ENTITIES - ALWAYS_AVAILABLE

type Step = Callable[[SimulatedCharger, Charger], None]
type Shows = Callable[[ChargerState], bool]


def _close(value: float | None, expected: float) -> bool:
    return value is not None and math.isclose(value, expected, abs_tol=1e-6)


def _measure(**values: float) -> Step:
    def step(simulator: SimulatedCharger, _charger: Charger) -> None:
        simulator.set_measurements(**values)

    return step


def _faults(*faults: Fault) -> Step:
    def step(simulator: SimulatedCharger, _charger: Charger) -> None:
        simulator.set_faults(faults)

    return step


def _emergency(pressed: bool) -> Step:
    def step(simulator: SimulatedCharger, _charger: Charger) -> None:
        simulator.set_emergency_stop(pressed)

    return step


def _plug(plugged: bool) -> Step:
    def step(simulator: SimulatedCharger, _charger: Charger) -> None:
        if plugged:
            simulator.plug_in()
        else:
            simulator.unplug()

    return step


def _setting(attribute: str, value: object) -> Step:
    """Change a setting at the charger (as the phone app does), then re-read."""

    def step(simulator: SimulatedCharger, charger: Charger) -> None:
        setattr(simulator, attribute, value)
        charger.refresh()

    return step


def _nothing(_simulator: SimulatedCharger, _charger: Charger) -> None:
    pass


@dataclass(frozen=True)
class Change:
    """One change at the charger and the entities that must show it."""

    name: str
    change: Step
    shows: Shows
    """When the charger snapshot has the new value."""
    writes: frozenset[str]
    """``<domain>.<key>`` of the entities written, each exactly once."""
    before: Step = _nothing
    """Brings the charger to where the change starts (not counted)."""
    before_shows: Shows = lambda _state: True
    attributes_only: bool = False
    """The written entities keep their state; only attributes differ."""


def _status(read: Callable[[ChargerState], object], expected: object) -> Shows:
    def shows(state: ChargerState) -> bool:
        if state.status is None:
            return False
        value = read(state)
        if isinstance(expected, float) and isinstance(value, float):
            return _close(value, expected)
        return value == expected

    return shows


def _voltage(state: ChargerState) -> float | None:
    assert state.status is not None
    return state.status.l1.voltage


def _inner(state: ChargerState) -> float | None:
    assert state.status is not None
    return state.status.inner_temperature


def _outer(state: ChargerState) -> float | None:
    assert state.status is not None
    return state.status.outer_temperature


def _energy(state: ChargerState) -> float | None:
    assert state.status is not None
    return state.status.total_energy


def _emergency_pressed(state: ChargerState) -> bool:
    assert state.status is not None
    return state.status.emergency_stop


def _fault_set(*faults: Fault) -> Shows:
    return lambda state: state.status is not None and set(state.faults) == set(faults)


PLUG = frozenset({"binary_sensor.plugged_in", "sensor.charger_state"})
FAULT = frozenset({"binary_sensor.problem", "sensor.fault", "sensor.charger_state"})
EMERGENCY = FAULT | {"binary_sensor.emergency_stop"}

CHANGES = [
    Change(
        "voltage",
        _measure(voltage=231.0),
        _status(_voltage, 231.0),
        frozenset({"sensor.voltage_l1"}),
    ),
    Change(
        "inner_temperature",
        _measure(temperature_inner=26.0),
        _status(_inner, 26.0),
        frozenset({"sensor.inner_temperature"}),
    ),
    Change(
        "outer_temperature",
        _measure(temperature_outer=24.0),
        _status(_outer, 24.0),
        frozenset({"sensor.outer_temperature"}),
    ),
    Change(
        "lifetime_energy",
        _measure(total_energy=1234.61),
        _status(_energy, 1234.61),
        frozenset({"sensor.lifetime_energy"}),
    ),
    Change("plug_in", _plug(True), lambda state: state.plugged_in is True, PLUG),
    Change(
        "unplug",
        _plug(False),
        lambda state: state.plugged_in is False,
        PLUG,
        before=_plug(True),
        before_shows=lambda state: state.plugged_in is True,
    ),
    Change(
        "fault",
        _faults(Fault.OVER_CURRENT),
        _fault_set(Fault.OVER_CURRENT),
        FAULT,
    ),
    Change(
        "fault_cleared",
        _faults(),
        _fault_set(),
        FAULT,
        before=_faults(Fault.OVER_CURRENT),
        before_shows=_fault_set(Fault.OVER_CURRENT),
    ),
    Change(
        # Still a problem, and the first fault (the state) stays: faults are
        # listed by code, 12 after 10. Only the fault list (attributes) moves.
        "second_fault",
        _faults(Fault.LEAKAGE_PROTECTION, Fault.OVER_CURRENT),
        _fault_set(Fault.LEAKAGE_PROTECTION, Fault.OVER_CURRENT),
        frozenset({"sensor.fault"}),
        before=_faults(Fault.LEAKAGE_PROTECTION),
        before_shows=_fault_set(Fault.LEAKAGE_PROTECTION),
        attributes_only=True,
    ),
    Change(
        "emergency_stop",
        _emergency(True),
        _status(_emergency_pressed, True),
        EMERGENCY,
    ),
    Change(
        "emergency_stop_released",
        _emergency(False),
        _status(_emergency_pressed, False),
        EMERGENCY,
        before=_emergency(True),
        before_shows=_status(_emergency_pressed, True),
    ),
    Change(
        # The idle charging status carries the configured current as well.
        "max_current",
        _setting("max_current_setting", 10),
        lambda state: state.settings.max_current == 10,
        frozenset({"number.max_current", "sensor.session_current_limit"}),
    ),
    Change(
        "nickname",
        _setting("nickname", "Garage"),
        lambda state: state.settings.nickname == "Garage",
        frozenset({"text.nickname"}),
    ),
    Change(
        "language",
        _setting("language", int(Language.GERMAN)),
        lambda state: state.settings.language == Language.GERMAN,
        frozenset({"select.language"}),
    ),
    Change(
        "temperature_unit",
        _setting("temperature_unit", int(TemperatureUnit.FAHRENHEIT)),
        lambda state: state.settings.temperature_unit == TemperatureUnit.FAHRENHEIT,
        frozenset({"select.temperature_unit"}),
    ),
    Change(
        "start_mode",
        _setting("start_mode", int(StartMode.APP_REQUIRED)),
        lambda state: state.settings.start_mode == StartMode.APP_REQUIRED,
        frozenset({"select.start_mode"}),
    ),
    Change(
        "lcd_brightness",
        _setting("lcd_brightness", 50),
        lambda state: state.settings.lcd_brightness == 50,
        frozenset({"number.lcd_brightness"}),
    ),
    # Changes below the published precision: the snapshot moves, no state does.
    Change(
        "inner_temperature_hundredth",
        _measure(temperature_inner=25.01),
        _status(_inner, 25.01),
        frozenset(),
    ),
    Change(
        "outer_temperature_hundredth",
        _measure(temperature_outer=24.99),
        _status(_outer, 24.99),
        frozenset(),
    ),
    Change(
        "voltage_tenths",
        _measure(voltage=230.3),
        _status(_voltage, 230.3),
        frozenset(),
    ),
]


class Writes:
    """State writes of every entity of the config entry.

    A write that changes the state or its attributes fires ``state_changed``;
    one that repeats them fires ``state_reported`` (Home Assistant only moves
    ``last_reported``, which the recorder still stores). Both count: the
    integration must not write what it shows already.
    """

    def __init__(self, hass: HomeAssistant, entry: MockConfigEntry) -> None:
        registry = er.async_get(hass)
        prefix = f"{SERIAL}_"
        self.names: dict[str, str] = {}
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
            assert entity.disabled_by is None, entity.entity_id
            assert entity.unique_id.startswith(prefix), entity.unique_id
            key = entity.unique_id.removeprefix(prefix)
            self.names[entity.entity_id] = f"{entity.domain}.{key}"
        self.seen: list[str] = []
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_write, self._ours)
        hass.bus.async_listen(EVENT_STATE_REPORTED, self._on_write, self._ours)

    @callback
    def _ours(self, event_data: EventStateEventData) -> bool:
        return event_data["entity_id"] in self.names

    @callback
    def _on_write(
        self, event: Event[EventStateChangedData] | Event[EventStateReportedData]
    ) -> None:
        self.seen.append(self.names[event.data["entity_id"]])

    def take(self) -> Counter[str]:
        """The writes since the last call, by ``<domain>.<key>``."""
        taken = Counter(self.seen)
        self.seen.clear()
        return taken


def entity_id(hass: HomeAssistant, name: str) -> str:
    """Entity id of ``<domain>.<key>``, found by the unique id ``<serial>_<key>``."""
    domain, key = name.split(".")
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{SERIAL}_{key}")
    assert found is not None, f"no entity {name}"
    return found


class StatusCounter:
    """Status pushes of the charger as the listener routed them (after its client)."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.count = 0
        self._arrived = asyncio.Event()
        self.remove = async_get_hub(hass).shared.listener.register(
            SERIAL, self._on_datagram
        )

    def _on_datagram(self, datagram: Datagram, _source: Address) -> None:
        if datagram.command == Command.STATUS:
            self.count += 1
            self._arrived.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while self.count < count:
                self._arrived.clear()
                await self._arrived.wait()


async def flush(
    hass: HomeAssistant, simulator: SimulatedCharger, statuses: StatusCounter
) -> None:
    """Identical pushes, each one handled by the integration before this returns.

    The pushes are in the listener's socket behind anything sent before them;
    a periodic push still waiting there is read first, one datagram per loop
    iteration, so a few more iterations after the count is reached leave
    none of ours unread.
    """
    target = statuses.count + FLUSH_PUSHES
    for _ in range(FLUSH_PUSHES):
        simulator.push_status()
    simulator.push_charging_status()
    await statuses.wait_for(target)
    for _ in range(FLUSH_PUSHES + 2):
        await asyncio.sleep(0)
    await hass.async_block_till_done()


@pytest.fixture
def writes(hass: HomeAssistant, loaded: MockConfigEntry) -> Writes:
    """Writes of the loaded entry's entities from now on."""
    return Writes(hass, loaded)


@pytest.fixture
def statuses(hass: HomeAssistant, loaded: MockConfigEntry) -> StatusCounter:
    """Counts the status pushes the listener routes."""
    counter = StatusCounter(hass)
    loaded.async_on_unload(counter.remove)
    return counter


async def test_every_entity_is_there(
    hass: HomeAssistant, writes: Writes, platforms: list[Platform]
) -> None:
    """The entities this test watches: all of them, each with a state."""
    assert set(writes.names.values()) == ALL_ENTITIES
    assert {name.split(".")[0] for name in ALL_ENTITIES} == set(platforms)
    for entity in writes.names:
        assert hass.states.get(entity) is not None, entity


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: change.name)
async def test_change_writes_exactly_its_entities(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    writes: Writes,
    statuses: StatusCounter,
    *,
    change: Change,
) -> None:
    """One field changes: the entities showing it are written once, no others."""
    charger = loaded.runtime_data.charger
    change.before(simulator, charger)
    await wait_for_charger(charger, change.before_shows)
    await flush(hass, simulator, statuses)
    writes.take()
    before = {name: hass.states.get(entity_id(hass, name)) for name in change.writes}

    change.change(simulator, charger)
    await wait_for_charger(charger, change.shows)
    await hass.async_block_till_done()
    assert writes.take() == Counter(change.writes)
    for name, old in before.items():
        new = hass.states.get(entity_id(hass, name))
        assert new is not None
        assert old is not None
        if change.attributes_only:
            assert new.state == old.state, name
            assert new.attributes != old.attributes, name
        else:
            assert (new.state, new.attributes) != (old.state, old.attributes), name

    await flush(hass, simulator, statuses)
    assert writes.take() == Counter()


async def test_identical_pushes_write_nothing(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    writes: Writes,
    statuses: StatusCounter,
) -> None:
    """Pushes, polled replies and a full re-read that repeat what is shown."""
    charger = loaded.runtime_data.charger
    for _ in range(3):
        await flush(hass, simulator, statuses)
    assert writes.take() == Counter()

    # A full re-read (status, session, every setting, version) changes nothing.
    version = simulator.wait_for(Command.GET_VERSION)
    charger.refresh()
    async with asyncio.timeout(WAIT):
        await version
    await flush(hass, simulator, statuses)
    assert writes.take() == Counter()


async def test_availability_change_writes_every_entity(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    writes: Writes,
    statuses: StatusCounter,
) -> None:
    """Going away and coming back writes every entity bound to the session once.

    Also those whose fields did not change (the settings, say): availability
    counts as a change of everything. The connection sensor shows why, and may
    step through more than one value on the way.
    """
    charger = loaded.runtime_data.charger
    await flush(hass, simulator, statuses)
    writes.take()

    simulator.go_silent()
    await wait_for_charger(charger, lambda state: not state.logged_in)
    await hass.async_block_till_done()
    gone = writes.take()
    assert gone.pop("sensor.connection") >= 1
    assert gone == Counter(SESSION_BOUND)
    for name in SESSION_BOUND:
        state = hass.states.get(entity_id(hass, name))
        assert state is not None
        assert state.state == STATE_UNAVAILABLE, name

    simulator.resume()
    await wait_for_charger(charger, everything_read)
    await hass.async_block_till_done()
    back = writes.take()
    assert back.pop("sensor.connection") >= 1
    assert back == Counter(SESSION_BOUND)
    for name in SESSION_BOUND:
        state = hass.states.get(entity_id(hass, name))
        assert state is not None
        assert state.state != STATE_UNAVAILABLE, name
