"""Actions start_charging and stop_charging, through Home Assistant's service API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.const import ATTR_DEVICE_ID, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.enums import (
    ChargeStartError,
    Command,
    CurrentState,
    StopReason,
)
from custom_components.evse_master.protocol.messages import (
    ChargeStart,
    datetime_to_em,
)
from custom_components.evse_master.services import (
    SERVICE_START_CHARGING,
    SERVICE_STOP_CHARGING,
    start_moment,
)
from tests.helpers import charger_device_id, wait_for_charger, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import FAST_CHARGER, FAST_SIMULATOR, PASSWORD, entry_data

SWITCH = "switch.besen_bs20_charge"
SCHEDULED_START = "sensor.besen_bs20_scheduled_start"
TIME_LIMIT = "sensor.besen_bs20_session_time_limit"
ENERGY_LIMIT = "sensor.besen_bs20_session_energy_limit"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
OTHER_SERIAL = "a1b2c3d4e5f60718"


@pytest.fixture
def platforms() -> list[Platform]:
    """The switch and sensors show what the actions did."""
    return [Platform.SENSOR, Platform.SWITCH]


async def start(hass: HomeAssistant, serial: str | list[str], **data: Any) -> None:
    """Call evse_master.start_charging for the chargers with these serials."""
    serials = [serial] if isinstance(serial, str) else serial
    await hass.services.async_call(
        DOMAIN,
        SERVICE_START_CHARGING,
        {ATTR_DEVICE_ID: [charger_device_id(hass, s) for s in serials], **data},
        blocking=True,
    )


async def stop(hass: HomeAssistant, serial: str) -> None:
    """Call evse_master.stop_charging for one charger."""
    await hass.services.async_call(
        DOMAIN,
        SERVICE_STOP_CHARGING,
        {ATTR_DEVICE_ID: charger_device_id(hass, serial)},
        blocking=True,
    )


def starts(sim: SimulatedCharger) -> list[ChargeStart]:
    """The ChargeStart requests the simulated charger received."""
    return [
        ChargeStart.parse(datagram.payload)
        for datagram in sim.received
        if datagram.command == Command.CHARGE_START
    ]


def wall_clock(em: int) -> datetime:
    """What the charger's display shows for an EM timestamp."""
    return datetime(1970, 1, 1) + timedelta(seconds=em) + timedelta(hours=8)


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """An entity's state string."""
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def plug_in(entry: MockConfigEntry, sim: SimulatedCharger) -> None:
    """Plug a car in and wait until the integration knows."""
    sim.plug_in()
    await wait_for_charger(entry.runtime_data.charger, lambda s: bool(s.plugged_in))


# --- starting now -------------------------------------------------------------------


async def test_start_with_current_and_limits(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Current, duration and energy reach the charger; sensors show the limits."""
    await plug_in(init_integration, simulator)
    await start(
        hass,
        simulator.serial,
        current=10,
        max_duration={"hours": 2, "minutes": 30},
        max_energy=12.5,
    )
    [request] = starts(simulator)
    assert (request.max_current, request.max_duration, request.max_energy) == (
        10,
        150,
        12.5,
    )
    assert not request.is_reservation
    await wait_for_value(hass, SWITCH, "on")
    assert simulator.session_current == 10
    await wait_for_value(hass, TIME_LIMIT, "150")
    await wait_for_value(hass, ENERGY_LIMIT, "12.5")
    assert state_of(hass, SCHEDULED_START) == STATE_UNKNOWN

    await stop(hass, simulator.serial)
    await wait_for_value(hass, SWITCH, "off")
    assert not simulator.charging
    # Limits belong to the session: none without one.
    await wait_for_value(hass, TIME_LIMIT, STATE_UNKNOWN)
    assert state_of(hass, ENERGY_LIMIT) == STATE_UNKNOWN


async def test_start_without_options_uses_configured_current(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Like the switch: the configured current, no limits, no schedule."""
    await plug_in(init_integration, simulator)
    configured = init_integration.runtime_data.charger.state.settings.max_current
    await start(hass, simulator.serial)
    [request] = starts(simulator)
    assert request.max_current == configured
    assert (request.max_duration, request.max_energy) == (None, None)
    await wait_for_value(hass, SWITCH, "on")


async def test_energy_limit_ends_the_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The charger ends a session at its energy limit; the switch follows."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial, max_energy=1.0)
    await wait_for_value(hass, SWITCH, "on")
    simulator.add_energy(1.0)
    await wait_for_value(hass, SWITCH, "off")
    state = await wait_for_charger(
        init_integration.runtime_data.charger,
        lambda s: s.last_record is not None,
    )
    assert state.last_record is not None
    assert state.last_record.stop_reason == StopReason.ENERGY_LIMIT


# --- planned starts -------------------------------------------------------------------


@pytest.fixture
def charger_time_zone() -> tzinfo:
    """The charger shows Amsterdam time, like Home Assistant in these tests."""
    return AMSTERDAM


@pytest.fixture(autouse=True)
async def amsterdam(hass: HomeAssistant) -> None:
    """Home Assistant in Europe/Amsterdam, like the charger (before setup)."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")


@pytest.mark.freeze_time("2026-12-02 20:00:00+00:00", tick=True)
async def test_time_of_day_is_the_next_one_in_local_time(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """01:30 at 21:00 local is tomorrow's 01:30, shown as such on the charger."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial, start_time="01:30:00")
    [request] = starts(simulator)
    assert request.is_reservation
    assert wall_clock(request.start_time) == datetime(2026, 12, 3, 1, 30)
    expected = datetime(2026, 12, 3, 0, 30, tzinfo=UTC)
    assert request.start_time == datetime_to_em(expected, AMSTERDAM)
    state = await wait_for_value(hass, SCHEDULED_START, expected.isoformat())
    assert state.attributes["device_class"] == "timestamp"
    charger = init_integration.runtime_data.charger
    assert charger.state.current_state == CurrentState.CHARGING_RESERVATION
    assert state_of(hass, SWITCH) == "off"

    simulator.start_reservation()
    await wait_for_value(hass, SWITCH, "on")
    await wait_for_value(hass, SCHEDULED_START, STATE_UNKNOWN)


@pytest.mark.freeze_time("2026-12-02 20:00:00+00:00", tick=True)
async def test_date_and_time_without_zone_is_local(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The datetime selector sends local time without a zone."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial, start_time="2026-12-03 06:15:00", max_energy=20)
    [request] = starts(simulator)
    assert wall_clock(request.start_time) == datetime(2026, 12, 3, 6, 15)
    assert request.max_energy == 20
    await wait_for_value(
        hass, SCHEDULED_START, datetime(2026, 12, 3, 5, 15, tzinfo=UTC).isoformat()
    )
    await wait_for_value(hass, ENERGY_LIMIT, "20.0")


@pytest.mark.freeze_time("2026-12-02 20:00:00+00:00", tick=True)
async def test_stop_cancels_a_planned_start(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """stop_charging cancels what waits; a plan can be made again right after."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial, start_time="23:00:00")
    await wait_for_value(
        hass, SCHEDULED_START, datetime(2026, 12, 2, 22, 0, tzinfo=UTC).isoformat()
    )
    await stop(hass, simulator.serial)
    assert not simulator.reserved
    await wait_for_value(hass, SCHEDULED_START, STATE_UNKNOWN)
    record = await wait_for_charger(
        init_integration.runtime_data.charger, lambda s: s.last_record is not None
    )
    assert record.last_record is not None
    assert record.last_record.stop_reason == StopReason.RESERVATION_CANCELLED
    # Cancelling a plan opened no relay: the relay protection does not apply.
    await start(hass, simulator.serial, start_time="23:00:00")
    assert simulator.reserved


@pytest.mark.parametrize(
    ("start_time", "key"),
    [
        ("2026-12-03 21:00:01", "start_time_too_far"),
        ("2026-12-02 20:00:00", "start_time_past"),
    ],
)
@pytest.mark.freeze_time("2026-12-02 20:00:00+00:00", tick=True)
async def test_start_time_out_of_range_is_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    start_time: str,
    key: str,
) -> None:
    """More than 24 h ahead, or in the past (local 21:00 now): nothing is sent."""
    await plug_in(init_integration, simulator)
    with pytest.raises(ServiceValidationError) as err:
        await start(hass, simulator.serial, start_time=start_time)
    assert err.value.translation_key == key
    assert starts(simulator) == []


# --- refusals -------------------------------------------------------------------------


async def test_no_car(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The charger refuses without a car; the message says so."""
    with pytest.raises(HomeAssistantError) as err:
        await start(hass, simulator.serial)
    assert err.value.translation_key == "not_plugged_in"
    assert not simulator.charging


async def test_already_charging(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A second start while charging is refused with the reason."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial)
    await wait_for_value(hass, SWITCH, "on")
    with pytest.raises(HomeAssistantError) as err:
        await start(hass, simulator.serial, current=8)
    assert err.value.translation_key == "already_charging"
    assert simulator.session_current != 8


@pytest.mark.freeze_time("2026-12-02 20:00:00+00:00", tick=True)
async def test_schedule_pending(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A start while a plan waits is refused: stop (cancel) it first."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial, start_time="2026-12-03 01:00:00+00:00")
    await wait_for_charger(init_integration.runtime_data.charger, lambda s: s.scheduled)
    with pytest.raises(HomeAssistantError) as err:
        await start(hass, simulator.serial)
    assert err.value.translation_key == "schedule_pending"
    assert simulator.reserved


@pytest.mark.parametrize(
    "charger_timings", [replace(FAST_CHARGER, min_restart_interval=600.0)]
)
@pytest.mark.freeze_time("2026-12-02 20:00:00+00:00", tick=True)
async def test_relay_protection_says_when(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Too soon after a stop: refused with the seconds and the local time."""
    await plug_in(init_integration, simulator)
    await start(hass, simulator.serial)
    await stop(hass, simulator.serial)
    with pytest.raises(ServiceValidationError) as err:
        await start(hass, simulator.serial)
    assert err.value.translation_key == "rate_limited"
    placeholders = err.value.translation_placeholders
    assert placeholders is not None
    seconds = int(placeholders["seconds"])
    assert 590 <= seconds <= 600
    allowed = dt_util.now() + timedelta(seconds=seconds)
    assert placeholders["time"] == allowed.strftime("%H:%M:%S")
    assert allowed.strftime("%H") == "21"  # local Amsterdam time, not UTC
    assert len(starts(simulator)) == 1


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"current": 5}, "current_out_of_range"),
        ({"current": 33}, "current_out_of_range"),
        ({"current": 10.5}, "current_not_whole"),
        ({"max_energy": 0}, "energy_out_of_range"),
        ({"max_energy": 700}, "energy_out_of_range"),
        ({"max_duration": "00:00:10"}, "duration_out_of_range"),
        ({"max_duration": {"days": 46}}, "duration_out_of_range"),
    ],
)
async def test_values_out_of_range(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    data: dict[str, Any],
    key: str,
) -> None:
    """Each refused value names its rule; nothing reaches the charger."""
    await plug_in(init_integration, simulator)
    with pytest.raises(ServiceValidationError) as err:
        await start(hass, simulator.serial, **data)
    assert err.value.translation_key == key
    assert starts(simulator) == []


async def test_unknown_device(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device that is not a charger of this integration is refused."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    foreign = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    for target in ("no-such-device", foreign.id):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                SERVICE_STOP_CHARGING,
                {ATTR_DEVICE_ID: target},
                blocking=True,
            )
        assert err.value.translation_key == "device_not_found"
        assert err.value.translation_placeholders == {"device_id": target}


async def test_entry_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """An unloaded charger's device is refused by name; loaded again, it works."""
    target = charger_device_id(hass, simulator.serial)
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_STOP_CHARGING, {ATTR_DEVICE_ID: target}, blocking=True
        )
    assert err.value.translation_key == "not_loaded"
    assert err.value.translation_placeholders == {"name": init_integration.title}

    await hass.config_entries.async_setup(init_integration.entry_id)
    await wait_for_charger(init_integration.runtime_data.charger, lambda s: s.logged_in)
    await stop(hass, simulator.serial)  # nothing runs: a stop is a no-op


async def test_charger_away(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """While the charger is not connected the action fails at once, saying so."""
    await plug_in(init_integration, simulator)
    simulator.go_silent()
    await wait_for_charger(
        init_integration.runtime_data.charger, lambda s: not s.logged_in
    )
    with pytest.raises(HomeAssistantError) as err:
        await start(hass, simulator.serial)
    assert err.value.translation_key == "no_response"
    simulator.resume()
    await wait_for_charger(init_integration.runtime_data.charger, lambda s: s.logged_in)
    await start(hass, simulator.serial)
    await wait_for_value(hass, SWITCH, "on")


async def test_charger_refuses_for_its_own_reason(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A refusal the charger explains with a code we have no message for."""
    await plug_in(init_integration, simulator)
    simulator.refuse_next[Command.CHARGE_START] = ChargeStartError.SYSTEM_ERROR
    with pytest.raises(HomeAssistantError) as err:
        await start(hass, simulator.serial)
    assert err.value.translation_key == "start_refused"
    assert err.value.translation_placeholders == {"reason": "system_error"}
    await start(hass, simulator.serial)  # the next one goes through
    await wait_for_value(hass, SWITCH, "on")


# --- several chargers ---------------------------------------------------------------


@pytest.fixture
async def second_charger(
    hass: HomeAssistant, listen_port: int, init_integration: MockConfigEntry
) -> AsyncGenerator[tuple[MockConfigEntry, SimulatedCharger]]:
    """A 16 A Telestar next to the 32 A Besen, on the same listener."""
    sim = SimulatedCharger(
        OTHER_SERIAL,
        PASSWORD,
        "ec311s",
        client_port=listen_port,
        timings=FAST_SIMULATOR,
    )
    await sim.start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Telestar EC311S",
        unique_id=OTHER_SERIAL,
        data=entry_data(sim),
        minor_version=2,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await wait_for_charger(
        entry.runtime_data.charger,
        lambda s: s.logged_in and s.status is not None and s.info is not None,
    )
    yield entry, sim
    await hass.config_entries.async_unload(entry.entry_id)
    await sim.stop()


async def test_several_chargers_all_or_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    second_charger: tuple[MockConfigEntry, SimulatedCharger],
) -> None:
    """20 A is too much for the 16 A charger: neither starts. 16 A: both do."""
    entry, other = second_charger
    await plug_in(init_integration, simulator)
    await plug_in(entry, other)
    serials = [simulator.serial, other.serial]
    with pytest.raises(ServiceValidationError) as err:
        await start(hass, serials, current=20)
    assert err.value.translation_key == "current_out_of_range"
    assert err.value.translation_placeholders == {"min": "6", "max": "16"}
    assert (starts(simulator), starts(other)) == ([], [])

    await start(hass, serials, current=16)
    assert simulator.session_current == other.session_current == 16
    await hass.services.async_call(
        DOMAIN,
        SERVICE_STOP_CHARGING,
        {ATTR_DEVICE_ID: [charger_device_id(hass, s) for s in serials]},
        blocking=True,
    )
    assert not simulator.charging
    assert not other.charging


# --- what a start time means ---------------------------------------------------------


NOW = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)  # 21:00 in Amsterdam


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (time(1, 30), datetime(2026, 12, 3, 1, 30, tzinfo=AMSTERDAM)),
        (time(22, 0), datetime(2026, 12, 2, 22, 0, tzinfo=AMSTERDAM)),
        # Within the minute the charger still treats as now: today.
        (time(20, 59, 30), datetime(2026, 12, 2, 20, 59, 30, tzinfo=AMSTERDAM)),
        (time(20, 58), datetime(2026, 12, 3, 20, 58, tzinfo=AMSTERDAM)),
        (datetime(2026, 12, 3, 6, 0), datetime(2026, 12, 3, 6, 0, tzinfo=AMSTERDAM)),
        (
            datetime(2026, 12, 3, 6, 0, tzinfo=UTC),
            datetime(2026, 12, 3, 6, 0, tzinfo=UTC),
        ),
    ],
)
async def test_start_moment(
    hass: HomeAssistant, value: datetime | time, expected: datetime
) -> None:
    """Times of day are the next occurrence; naive datetimes are local."""
    assert start_moment(value, NOW) == expected
