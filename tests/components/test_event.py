"""Charging session events: each session fires started and finished once.

The events come from the charger's pushes and records, so these tests drive
the simulated charger over loopback UDP and read the event entity's state
writes: every event is one write with a new timestamp (or a new type).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
import socket
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.event import ATTR_EVENT_TYPE, ATTR_EVENT_TYPES
from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_ID,
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache_with_extra_data,
)

from custom_components.evse_master import const, event as event_platform
from custom_components.evse_master.const import CONF_ACK_RECORDS, DOMAIN
from custom_components.evse_master.coordinator import EvseMasterConfigEntry
from custom_components.evse_master.event import REMEMBERED_SESSIONS
from custom_components.evse_master.protocol.charger import Charger, ChargerState
from custom_components.evse_master.protocol.enums import (
    Command,
    CurrentState,
    StartType,
)
from custom_components.evse_master.protocol.frame import Datagram, password_field
from custom_components.evse_master.protocol.listener import Address
from custom_components.evse_master.protocol.messages import (
    ChargeRecordAck,
    ChargeStart,
    Message,
)
from tests.helpers import WAIT, capture_writes, wait_for_charger, wait_for_state
from tests.simulator import SimulatedCharger

from .conftest import FAST_SIMULATOR, PASSWORD, PATIENT_CHARGER, SERIAL

PATIENT = replace(PATIENT_CHARGER, pushes_stopped_after=3600.0)
"""Survives the clock jumps of the time tests (no push for minutes is fine)."""

EVENT = "event.besen_bs20_charging_session"
SWITCH = "switch.besen_bs20_charge"
STARTED = "session_started"
FINISHED = "session_finished"
CURRENT = 16
"""Amperes the simulated charger is configured for, so its sessions use."""
CLOCK_SLACK = timedelta(seconds=2)
"""The charger clock has whole seconds (and is set by the integration)."""


@pytest.fixture
def platforms() -> list[Platform]:
    """The event entity, and the switch that starts and stops sessions."""
    return [Platform.EVENT, Platform.SWITCH]


@pytest.fixture
async def entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """The charger's entry, added but not set up (Home Assistant is "down")."""
    mock_config_entry.add_to_hass(hass)
    yield mock_config_entry
    if mock_config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
        await hass.async_block_till_done()


# --- reading the events ----------------------------------------------------------


def _fingerprint(state: State) -> tuple[str, object, object]:
    attributes = state.attributes
    return state.state, attributes.get(ATTR_EVENT_TYPE), attributes.get("charge_id")


class SessionEvents:
    """The events the entity fires from now on, read from its state writes.

    The state is the time of the last event (in milliseconds). A write that
    shows no event (unknown, unavailable), an older one (the restored last
    event after a restart) or the same one again is not an event.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self._writes = capture_writes(hass, EVENT)
        now = dt_util.utcnow()
        self._since = now.replace(microsecond=now.microsecond // 1000 * 1000)

    def fired(self) -> list[State]:
        """Every event, in order."""
        known: set[tuple[str, object, object]] = set()
        events = []
        for state in self._writes:
            if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
                continue
            if moment(state.state) < self._since:
                continue
            if (fingerprint := _fingerprint(state)) in known:
                continue
            known.add(fingerprint)
            events.append(state)
        return events

    def of(self, event_type: str) -> list[Mapping[str, Any]]:
        """The attributes of every event of ``event_type``."""
        return [
            state.attributes
            for state in self.fired()
            if state.attributes[ATTR_EVENT_TYPE] == event_type
        ]

    def ids(self, event_type: str) -> list[str]:
        """Charge ids of the events of ``event_type``, in order."""
        return [str(attributes["charge_id"]) for attributes in self.of(event_type)]

    def types(self) -> list[tuple[str, str]]:
        """(event type, charge id) of every event, in order."""
        return [
            (str(state.attributes[ATTR_EVENT_TYPE]), str(state.attributes["charge_id"]))
            for state in self.fired()
        ]

    async def wait(
        self, event_type: str, charge_id: str, timeout: float = WAIT
    ) -> Mapping[str, Any]:
        """The attributes of the ``event_type`` event of ``charge_id``, once fired."""
        await wait_for_state(
            self.hass, EVENT, lambda _state: charge_id in self.ids(event_type), timeout
        )
        return next(a for a in self.of(event_type) if a["charge_id"] == charge_id)

    async def wait_any(self, event_type: str) -> Mapping[str, Any]:
        """The attributes of the first ``event_type`` event, once fired."""
        await wait_for_state(self.hass, EVENT, lambda _state: bool(self.of(event_type)))
        return self.of(event_type)[0]


def moment(value: object) -> datetime:
    """An event's ISO timestamp attribute as a datetime."""
    assert isinstance(value, str), value
    return datetime.fromisoformat(value)


# --- driving the charger ---------------------------------------------------------


def charger_of(entry: MockConfigEntry) -> Charger:
    """The entry's charger client (a new one after every reload)."""
    charger: Charger = entry.runtime_data.charger
    return charger


async def switch(hass: HomeAssistant, service: str) -> None:
    """Turn the charging switch on or off."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )


async def plug_in(entry: MockConfigEntry, simulator: SimulatedCharger) -> None:
    """Plug a car in; return once Home Assistant knows."""
    simulator.plug_in()
    await wait_for_charger(charger_of(entry), lambda s: bool(s.plugged_in))


def running(state: ChargerState) -> bool:
    """Whether the charger reports a session that is charging."""
    return (
        bool(state.charging)
        and state.session is not None
        and bool(state.session_active)
    )


async def start(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SimulatedCharger
) -> str:
    """Plug in, switch on; return the charge id of the running session."""
    if not simulator.plugged:
        await plug_in(entry, simulator)
    previous = charger_of(entry).state.session
    await switch(hass, SERVICE_TURN_ON)
    state = await wait_for_charger(
        charger_of(entry),
        lambda s: (
            running(s)
            and s.session is not None
            and s.session.current_state is CurrentState.CHARGING
            and s.session.charge_id not in ("", previous and previous.charge_id)
        ),
    )
    assert simulator.charging
    assert state.session is not None
    return state.session.charge_id


async def stop(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Switch off; return once status and charging status show the session over."""
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_charger(
        charger_of(entry),
        lambda s: (
            not s.charging
            and s.session is not None
            and s.session.current_state is not CurrentState.CHARGING
        ),
    )
    await hass.async_block_till_done()


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the entry up (Home Assistant starts) and wait for the session data."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await wait_for_charger(
        charger_of(entry), lambda s: s.logged_in and s.session is not None
    )
    await hass.async_block_till_done()


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry (Home Assistant stops)."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def replayed(entry: MockConfigEntry, charge_id: str) -> None:
    """Return once the charger client holds the record of ``charge_id``."""
    await wait_for_charger(
        charger_of(entry),
        lambda s: s.last_record is not None and s.last_record.charge_id == charge_id,
    )


def acks(simulator: SimulatedCharger) -> list[str]:
    """Charge ids of the stored-record acknowledgements the charger received."""
    return [
        ChargeRecordAck.parse(datagram.payload).charge_id
        for datagram in simulator.received
        if datagram.command == Command.LOCAL_CHARGE_RECORD_ACK
    ]


async def heading_answers(simulator: SimulatedCharger, count: int = 5) -> None:
    """Let ``count`` heading periods pass (several record replay periods)."""
    async with asyncio.timeout(WAIT):
        await simulator.wait_for(Command.HEADING_RESPONSE, count=count)


@contextmanager
def records_lost(simulator: SimulatedCharger) -> Iterator[None]:
    """The charger's 0x0009 records never reach Home Assistant (lost on the way)."""
    send = simulator._send  # a lossy network between the test double and us

    def lossy(command: int, message: Message, address: Address) -> None:
        if command != Command.CURRENT_CHARGE_RECORD:
            send(command, message, address)

    with patch.object(simulator, "_send", lossy):
        yield


def start_at_the_charger(simulator: SimulatedCharger) -> None:
    """Start a session the way a card or the plug does: without a charge id."""
    request = ChargeStart(
        line_id=1,
        user_id="card",
        charge_id="",
        is_reservation=False,
        start_time=simulator.clock_em,
        max_current=CURRENT,
        start_type=StartType.PLUG_AND_CHARGE,
    )
    datagram = Datagram(
        simulator.serial,
        Command.CHARGE_START,
        request.build(),
        password_field(PASSWORD),
    )
    # From another host: its reply goes there, the pushes to Home Assistant.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.sendto(datagram.encode(), simulator.address)


@contextmanager
def slow_event_platform(
    until: Callable[[EvseMasterConfigEntry], Awaitable[object]],
) -> Iterator[None]:
    """A busy Home Assistant start: the event platform waits for ``until``.

    The charger client is logged in by then, so what the charger sends at
    the login (replayed records) arrives before the event entity exists.
    """
    setup_platform = event_platform.async_setup_entry

    async def busy_start(
        hass: HomeAssistant,
        entry: EvseMasterConfigEntry,
        add: AddConfigEntryEntitiesCallback,
    ) -> None:
        await until(entry)
        await setup_platform(hass, entry, add)

    with patch.object(event_platform, "async_setup_entry", busy_start):
        yield


async def fire_time(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Move Home Assistant's clock (and the loop's) on and run what is due."""
    # Not tick(): a ticking clock's tick() loses the time since the last move.
    freezer.move_to(dt_util.utcnow() + timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


# --- the entity ------------------------------------------------------------------


async def test_entity(
    hass: HomeAssistant, loaded: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """One event entity per charger, named by translation; no event yet."""
    entity = entity_registry.async_get(EVENT)
    assert entity is not None
    assert entity.unique_id == f"{SERIAL}_session"
    assert entity.translation_key == "session"
    assert entity.config_entry_id == loaded.entry_id
    state = hass.states.get(EVENT)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_EVENT_TYPES] == [STARTED, FINISHED]
    assert state.attributes["friendly_name"] == "BESEN BS20 Charging session"


# --- sessions while Home Assistant runs ------------------------------------------


async def test_session_started_and_finished_once(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Start fires once, pushes of the session don't, the record finishes it once."""
    events = SessionEvents(hass)
    before = dt_util.utcnow()
    charge_id = await start(hass, loaded, simulator)
    started = await events.wait(STARTED, charge_id)
    assert moment(started["start"]) >= before - CLOCK_SLACK
    assert moment(started["start"]) <= dt_util.utcnow()
    assert started["current"] == CURRENT == simulator.session_current
    assert started["energy"] == 0
    assert started["max_duration"] is None
    assert started["max_energy"] is None

    # The session goes on: new energy, repeated pushes; none is a new start.
    simulator.add_energy(0.5)
    simulator.push_charging_status()
    simulator.add_energy(0.75)
    await wait_for_charger(
        charger_of(loaded),
        lambda s: s.session is not None and s.session.session_energy >= 1.25,
    )
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, charge_id)]

    await stop(hass, loaded)
    finished = await events.wait(FINISHED, charge_id)
    assert finished["energy"] == pytest.approx(simulator.session_energy, abs=0.005)
    assert finished["energy"] == pytest.approx(1.25, abs=0.01)
    assert finished["duration"] == 0  # minutes
    assert finished["stop_reason"] == "stopped_by_app"
    assert finished["start"] == started["start"]
    # The charger's clock counts whole seconds, and the login's clock sync
    # may set it back by a fraction of one between the start and the stop.
    assert moment(started["start"]) <= moment(finished["end"]) + timedelta(seconds=1)
    assert moment(finished["end"]) <= dt_util.utcnow()
    assert finished["max_duration"] is None
    assert finished["max_energy"] is None
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]

    # The charger keeps the record and replays it (0x000A) until acknowledged;
    # between the replays the record of the next session arrives.
    simulator.emit_record(stored=True)
    second = await start(hass, loaded, simulator)
    assert second != charge_id
    await stop(hass, loaded)
    await events.wait(FINISHED, second)
    await replayed(loaded, charge_id)  # a replay after the new record
    await hass.async_block_till_done()
    assert events.types() == [
        (STARTED, charge_id),
        (FINISHED, charge_id),
        (STARTED, second),
        (FINISHED, second),
    ]
    assert acks(simulator) == []  # off by default: the app keeps its history


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_finished_session_reports_the_record(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Ten minutes at 16 A: energy, duration and times of the charger's record."""
    events = SessionEvents(hass)
    before = dt_util.utcnow()
    charge_id = await start(hass, loaded, simulator)
    started = await events.wait(STARTED, charge_id)

    freezer.move_to(dt_util.utcnow() + timedelta(minutes=10))
    await stop(hass, loaded)
    finished = await events.wait(FINISHED, charge_id)
    record = charger_of(loaded).state.last_record
    assert record is not None
    assert record.charge_id == charge_id

    expected_energy = 10 / 60 * 230 * CURRENT / 1000
    assert simulator.session_energy == pytest.approx(expected_energy, abs=0.01)
    assert finished["energy"] == pytest.approx(simulator.session_energy, abs=0.005)
    assert finished["energy"] == record.session_energy
    assert finished["duration"] == 10 == record.charged_time // 60
    assert finished["stop_reason"] == "stopped_by_app"
    begin, end = moment(finished["start"]), moment(finished["end"])
    assert finished["start"] == started["start"]
    assert before - CLOCK_SLACK <= begin <= before + CLOCK_SLACK
    assert abs(end - begin - timedelta(minutes=10)) <= CLOCK_SLACK
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]


@pytest.mark.parametrize(
    ("limit", "end_it", "stop_reason", "max_duration", "max_energy"),
    [
        (
            {"max_energy": 1.5},
            lambda sim: sim.add_energy(1.5),
            "energy_limit",
            None,
            1.5,
        ),
        (
            {"max_duration": {"minutes": 2}},
            lambda sim: None,  # two simulated minutes pass on their own
            "time_limit",
            2,
            None,
        ),
    ],
    ids=["energy", "duration"],
)
async def test_session_ended_by_a_limit(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    *,
    limit: dict[str, object],
    end_it: Callable[[SimulatedCharger], None],
    stop_reason: str,
    max_duration: int | None,
    max_energy: float | None,
) -> None:
    """The charger ends a session at its limit: the events carry limit and reason."""
    simulator.timings = replace(FAST_SIMULATOR, limit_minute=0.1)
    events = SessionEvents(hass)
    await plug_in(loaded, simulator)
    await hass.services.async_call(
        DOMAIN,
        "start_charging",
        {ATTR_DEVICE_ID: loaded.runtime_data.coordinator.device_id, **limit},
        blocking=True,
    )
    started = await events.wait_any(STARTED)
    charge_id = str(started["charge_id"])
    assert (started["max_duration"], started["max_energy"]) == (
        max_duration,
        max_energy,
    )

    end_it(simulator)
    finished = await events.wait(FINISHED, charge_id)
    assert not simulator.charging
    assert finished["stop_reason"] == stop_reason
    assert (finished["max_duration"], finished["max_energy"]) == (
        max_duration,
        max_energy,
    )
    assert finished["energy"] == pytest.approx(simulator.session_energy, abs=0.005)
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]


async def test_session_without_charge_id(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A session started at the charger has no charge id: its start time tells it."""
    events = SessionEvents(hass)
    await plug_in(loaded, simulator)
    start_at_the_charger(simulator)
    started = await events.wait(STARTED, "")
    assert started["start"] is not None
    assert started["current"] == CURRENT
    simulator.add_energy(0.3)
    simulator.push_charging_status()
    await wait_for_charger(
        charger_of(loaded),
        lambda s: s.session is not None and s.session.session_energy >= 0.3,
    )
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, "")]

    await stop(hass, loaded)
    finished = await events.wait(FINISHED, "")
    assert finished["start"] == started["start"]
    assert finished["energy"] == pytest.approx(0.3, abs=0.01)
    assert finished["stop_reason"] == "stopped_by_app"
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, ""), (FINISHED, "")]

    # The next one, a minute later by the charger's clock, is another session.
    simulator.clock_em += 60
    start_at_the_charger(simulator)
    await wait_for_state(hass, EVENT, lambda _state: len(events.of(STARTED)) == 2)
    await stop(hass, loaded)
    await wait_for_state(hass, EVENT, lambda _state: len(events.of(FINISHED)) == 2)
    first, second = events.of(FINISHED)
    assert moment(second["start"]) - moment(first["start"]) >= timedelta(seconds=60)
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, ""), (FINISHED, "")] * 2


async def test_events_stay_while_the_charger_is_away(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The last event is history: it stays on show while the charger is silent."""
    events = SessionEvents(hass)
    charge_id = await start(hass, loaded, simulator)
    await stop(hass, loaded)
    await events.wait(FINISHED, charge_id)
    shown = hass.states.get(EVENT)
    assert shown is not None

    simulator.go_silent()
    await wait_for_state(hass, SWITCH, lambda s: s.state == STATE_UNAVAILABLE)
    state = hass.states.get(EVENT)
    assert state is not None
    assert (state.state, state.attributes) == (shown.state, shown.attributes)


# --- no record ---------------------------------------------------------------------


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_no_record_reports_the_last_status(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without a record the event comes RECORD_WAIT after the stop, once."""
    events = SessionEvents(hass)
    charge_id = await start(hass, loaded, simulator)
    started = await events.wait(STARTED, charge_id)
    simulator.add_energy(0.8)
    with records_lost(simulator):
        await stop(hass, loaded)
    await hass.async_block_till_done()
    assert charger_of(loaded).state.last_record is None

    await fire_time(hass, freezer, const.RECORD_WAIT - 5)
    assert events.ids(FINISHED) == []
    await fire_time(hass, freezer, 6)
    finished = await events.wait(FINISHED, charge_id)
    assert finished["stop_reason"] is None
    assert finished["start"] == started["start"]
    assert finished["energy"] == pytest.approx(simulator.session_energy, abs=0.005)
    assert finished["energy"] == pytest.approx(0.8, abs=0.01)
    assert finished["duration"] == 0
    assert abs(moment(finished["end"]) - dt_util.utcnow()) <= CLOCK_SLACK

    # More stopped pushes, more time: nothing more.
    simulator.push_charging_status()
    await fire_time(hass, freezer, const.RECORD_WAIT + 1)
    # The record arrives late after all: the session was reported already.
    simulator.emit_record(stored=False)
    await replayed(loaded, charge_id)
    await fire_time(hass, freezer, 1)
    simulator.emit_record(stored=True)
    await fire_time(hass, freezer, const.RECORD_WAIT + 1)
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_record_within_the_wait(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A record that comes after the stopped status, in time, is what is reported."""
    events = SessionEvents(hass)
    charge_id = await start(hass, loaded, simulator)
    with records_lost(simulator):
        await stop(hass, loaded)
    await fire_time(hass, freezer, const.RECORD_WAIT / 2)
    assert events.ids(FINISHED) == []
    simulator.emit_record(stored=False)
    finished = await events.wait(FINISHED, charge_id)
    assert finished["stop_reason"] == "stopped_by_app"

    await fire_time(hass, freezer, const.RECORD_WAIT)
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_no_record_for_two_sessions_in_a_row(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Each session without a record gets its own wait and its own event.

    The next session starting while the first waits for its record must not
    be reported as finished in its place.
    """
    events = SessionEvents(hass)
    with records_lost(simulator):
        first = await start(hass, loaded, simulator)
        await stop(hass, loaded)
        await fire_time(hass, freezer, 10)
        second = await start(hass, loaded, simulator)
        assert second != first
        await events.wait(STARTED, second)
        await fire_time(hass, freezer, 10)
        await stop(hass, loaded)
        await fire_time(hass, freezer, const.RECORD_WAIT - 19)
        # The first session's wait is over; the second's is not.
        finished = await events.wait(FINISHED, first)
        assert finished["stop_reason"] is None
        assert events.ids(FINISHED) == [first]
        await fire_time(hass, freezer, 20)
        await events.wait(FINISHED, second)
    assert events.types() == [
        (STARTED, first),
        (STARTED, second),
        (FINISHED, first),
        (FINISHED, second),
    ]


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_no_record_while_the_next_session_runs(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The wait for a lost record ends in the next session: it stays running."""
    events = SessionEvents(hass)
    with records_lost(simulator):
        first = await start(hass, loaded, simulator)
        await stop(hass, loaded)
    second = await start(hass, loaded, simulator)
    await fire_time(hass, freezer, const.RECORD_WAIT + 1)
    await events.wait(FINISHED, first)
    assert events.ids(FINISHED) == [first]
    assert simulator.charging

    await stop(hass, loaded)
    finished = await events.wait(FINISHED, second)
    assert finished["stop_reason"] == "stopped_by_app"
    await fire_time(hass, freezer, const.RECORD_WAIT + 1)
    assert events.types() == [
        (STARTED, first),
        (STARTED, second),
        (FINISHED, first),
        (FINISHED, second),
    ]


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_session_running_again_is_not_finished(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A session shown stopped, then charging again, is not over: no event.

    A car that pauses, or a charging status that arrives late (UDP reorders):
    the wait for its record ends when it shows charging again.
    """
    events = SessionEvents(hass)
    charge_id = await start(hass, loaded, simulator)
    await events.wait(STARTED, charge_id)
    stopped = replace(
        simulator._charging_status(), reported_state=CurrentState.READY_TO_CHARGE
    )
    assert simulator.client is not None
    simulator._send(Command.CHARGING_STATUS, stopped, simulator.client)
    await wait_for_charger(
        charger_of(loaded),
        lambda s: (
            s.session is not None
            and s.session.current_state is CurrentState.READY_TO_CHARGE
        ),
    )
    await fire_time(hass, freezer, const.RECORD_WAIT / 2)
    simulator.push_charging_status()
    await wait_for_charger(
        charger_of(loaded),
        lambda s: (
            s.session is not None and s.session.current_state is CurrentState.CHARGING
        ),
    )
    await fire_time(hass, freezer, const.RECORD_WAIT)
    assert events.types() == [(STARTED, charge_id)]
    assert simulator.charging

    await stop(hass, loaded)
    finished = await events.wait(FINISHED, charge_id)
    assert finished["stop_reason"] == "stopped_by_app"


# --- sessions while Home Assistant was down ----------------------------------------


@pytest.mark.parametrize("ack_records", [False, True], ids=["no_ack", "ack"])
async def test_session_while_away(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    ack_records: bool,
) -> None:
    """A session that ran while Home Assistant was down fires both events once.

    It was planned before; it starts, charges and ends while nobody is logged
    in, so the charger stores its record and replays it after the next login.
    """
    await plug_in(loaded, simulator)
    await charger_of(loaded).start_charging(
        start_at=dt_util.utcnow() + timedelta(hours=1)
    )
    planned = await wait_for_charger(
        charger_of(loaded),
        lambda s: (
            s.session is not None
            and s.session.current_state is CurrentState.CHARGING_RESERVATION
        ),
    )
    assert planned.session is not None
    charge_id = planned.session.charge_id
    await unload(hass, loaded)
    simulator.drop_client()  # the charger notices that nobody answers

    began = dt_util.utcnow()
    simulator.start_reservation()
    simulator.add_energy(2.5)
    simulator.unplug()
    assert not simulator.charging
    hass.config_entries.async_update_entry(
        loaded, options={CONF_ACK_RECORDS: ack_records}
    )

    events = SessionEvents(hass)
    await set_up(hass, loaded)
    started = await events.wait(STARTED, charge_id)
    finished = await events.wait(FINISHED, charge_id)
    assert moment(started["start"]) >= began - CLOCK_SLACK
    assert started["start"] == finished["start"]
    assert started["current"] is None  # a record does not tell
    assert finished["energy"] == pytest.approx(2.5, abs=0.01)
    assert finished["stop_reason"] == "unplugged"
    assert moment(finished["start"]) <= moment(finished["end"])
    assert moment(finished["end"]) <= dt_util.utcnow()

    # A session of today: its record arrives live, between the replays.
    live = await start(hass, loaded, simulator)
    await stop(hass, loaded)
    await events.wait(FINISHED, live)
    if ack_records:
        # Acknowledged once reported: the charger stopped replaying it.
        assert acks(simulator)[0] == charge_id
        await heading_answers(simulator)  # replays in flight get theirs too
        replays = len(acks(simulator))
        await heading_answers(simulator)
        assert len(acks(simulator)) == replays
        assert set(acks(simulator)) == {charge_id}
        # The live record is acknowledged once reported, with its own command.
        live_acks = [
            ChargeRecordAck.parse(datagram.payload).charge_id
            for datagram in simulator.received
            if datagram.command == Command.CURRENT_CHARGE_RECORD_ACK
        ]
        assert live_acks == [live]
        record = charger_of(loaded).state.last_record
        assert record is not None
        assert record.charge_id == live
    else:
        # Never acknowledged: the charger replays it, nothing fires again.
        await replayed(loaded, charge_id)
        await heading_answers(simulator)
        assert acks(simulator) == []
    await hass.async_block_till_done()
    assert events.types() == [
        (STARTED, charge_id),
        (FINISHED, charge_id),
        (STARTED, live),
        (FINISHED, live),
    ]


async def test_record_waiting_at_setup(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A record the charger replayed before the event entity existed: both events.

    The entity reads it when added; the events must not be lost because the
    entity is not yet writing its state then.
    """
    simulator.emit_record(stored=True)
    events = SessionEvents(hass)

    async def record_in(entry: EvseMasterConfigEntry) -> None:
        await wait_for_charger(
            entry.runtime_data.charger, lambda s: s.last_record is not None
        )

    with slow_event_platform(record_in):
        await set_up(hass, entry)
    record = charger_of(entry).state.last_record
    assert record is not None
    charge_id = record.charge_id
    await events.wait(FINISHED, charge_id)
    await heading_answers(simulator)
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]
    state = hass.states.get(EVENT)
    assert state is not None
    assert state.attributes[ATTR_EVENT_TYPE] == FINISHED


async def test_stored_records_acknowledged_one_after_another(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """With acknowledgements on, each stored record is reported, then dropped.

    Acknowledging one makes the charger send the next at once.
    """
    hass.config_entries.async_update_entry(entry, options={CONF_ACK_RECORDS: True})
    await set_up(hass, entry)
    events = SessionEvents(hass)
    acknowledged = simulator.wait_for(Command.LOCAL_CHARGE_RECORD_ACK, count=3)
    for _ in range(3):
        simulator.emit_record(stored=True)
    async with asyncio.timeout(WAIT):
        await acknowledged
    charge_ids = list(dict.fromkeys(acks(simulator)))
    assert len(charge_ids) == 3
    for charge_id in charge_ids:
        await events.wait(FINISHED, charge_id)
    assert events.types() == [
        (event_type, charge_id)
        for charge_id in charge_ids
        for event_type in (STARTED, FINISHED)
    ]
    await heading_answers(simulator)
    assert len(acks(simulator)) == 3


async def test_records_while_away_acknowledged_after_a_slow_start(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Two sessions while away, the event platform set up late: both reported.

    The charger sends its next stored record only once the one it replays is
    acknowledged; nothing is acknowledged before the event entity reported it,
    however long the platform takes after the login.
    """
    simulator.emit_record(stored=True)
    simulator.emit_record(stored=True)
    hass.config_entries.async_update_entry(entry, options={CONF_ACK_RECORDS: True})
    events = SessionEvents(hass)
    acknowledged_early: list[str] = []

    async def many_replays_later(_entry: EvseMasterConfigEntry) -> None:
        await heading_answers(simulator)
        acknowledged_early.extend(acks(simulator))

    with slow_event_platform(many_replays_later):
        await set_up(hass, entry)
    assert acknowledged_early == []
    async with asyncio.timeout(WAIT):
        while len(set(acks(simulator))) < 2:
            await simulator.wait_for(Command.LOCAL_CHARGE_RECORD_ACK)
    charge_ids = list(dict.fromkeys(acks(simulator)))
    assert len(charge_ids) == 2
    for charge_id in charge_ids:
        await events.wait(FINISHED, charge_id, timeout=1.0)
    assert sorted(events.types()) == sorted(
        (event_type, charge_id)
        for charge_id in charge_ids
        for event_type in (STARTED, FINISHED)
    )


@pytest.mark.parametrize(
    ("entry_options", "acknowledged"),
    [({CONF_ACK_RECORDS: True}, True), ({}, False)],
    ids=["ack", "no_ack"],
)
async def test_records_with_the_event_entity_disabled(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    entity_registry: er.EntityRegistry,
    acknowledged: bool,
) -> None:
    """Nothing reports records then: the option alone decides the acknowledgement."""
    entity_registry.async_update_entity(
        EVENT, disabled_by=er.RegistryEntryDisabler.USER
    )
    await hass.async_block_till_done()
    assert hass.states.get(EVENT) is None
    simulator.emit_record(stored=True)
    charger = charger_of(loaded)
    record = await wait_for_charger(charger, lambda s: s.last_record is not None)
    assert record.last_record is not None
    await heading_answers(simulator)
    expected = [record.last_record.charge_id] if acknowledged else []
    assert sorted(set(acks(simulator))) == expected


# --- restarts ----------------------------------------------------------------------


async def test_reload_while_charging(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A session running across a reload is not started again; it finishes once."""
    events = SessionEvents(hass)
    charge_id = await start(hass, loaded, simulator)
    await events.wait(STARTED, charge_id)

    assert await hass.config_entries.async_reload(loaded.entry_id)
    await hass.async_block_till_done()
    state = await wait_for_charger(charger_of(loaded), running)
    assert state.session is not None
    assert state.session.charge_id == charge_id
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, charge_id)]

    await stop(hass, loaded)
    await events.wait(FINISHED, charge_id)
    await hass.async_block_till_done()
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]


async def test_restart_does_not_report_again(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The reported ids are stored: after a restart the replayed record is old news."""
    simulator.emit_record(stored=True)
    events = SessionEvents(hass)
    await set_up(hass, entry)
    finished = await events.wait_any(FINISHED)
    charge_id = str(finished["charge_id"])
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]
    last = hass.states.get(EVENT)
    assert last is not None

    await unload(hass, entry)
    # Home Assistant stops (the restore data is written) and starts again.
    await async_mock_restore_state_shutdown_restart(hass)
    events = SessionEvents(hass)
    await set_up(hass, entry)
    await replayed(entry, charge_id)
    await heading_answers(simulator)
    assert events.types() == []
    state = hass.states.get(EVENT)
    assert state is not None
    assert (state.state, state.attributes) == (last.state, last.attributes)


def _stored(charge_id: str) -> dict[str, Any]:
    return {
        "last_event_type": FINISHED,
        "last_event_attributes": {"charge_id": charge_id},
        "started": [charge_id],
        "finished": [charge_id],
    }


@pytest.mark.parametrize(
    ("restored", "reported_again"),
    [
        (_stored, False),
        (
            lambda cid: {
                **_stored(cid),
                "started": [7, None, cid, {"x": 1}],
                "finished": [cid, 3.5],
            },
            False,
        ),
        (lambda cid: {"started": "not a list", "finished": {"a": cid}}, True),
        (lambda cid: {"last_event_type": FINISHED}, True),
        (lambda cid: {}, True),
        (
            lambda cid: {
                **_stored(cid),
                "started": [cid, *map(str, range(REMEMBERED_SESSIONS))],
                "finished": [cid, *map(str, range(REMEMBERED_SESSIONS))],
            },
            True,
        ),
    ],
    ids=["ids", "some_garbage", "garbage", "no_ids", "empty", "forgotten"],
)
async def test_restored_ids(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: SimulatedCharger,
    restored: Callable[[str], dict[str, Any]],
    reported_again: bool,
) -> None:
    """Ids restored from Home Assistant's restore cache, whatever it holds.

    Usable ids keep a replayed record from firing; unusable data is ignored
    (the record is reported as new); at most REMEMBERED_SESSIONS are kept.
    """
    simulator.emit_record(stored=True)
    events = SessionEvents(hass)
    await set_up(hass, entry)
    charge_id = str((await events.wait_any(FINISHED))["charge_id"])
    await unload(hass, entry)

    shown = (dt_util.utcnow() - timedelta(minutes=1)).isoformat(timespec="milliseconds")
    mock_restore_cache_with_extra_data(
        hass, [(State(EVENT, shown), restored(charge_id))]
    )
    events = SessionEvents(hass)
    await set_up(hass, entry)
    await replayed(entry, charge_id)
    await heading_answers(simulator)
    expected = [(STARTED, charge_id), (FINISHED, charge_id)] if reported_again else []
    assert events.types() == expected
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.freeze_time(tick=True)  # frozen before setup; time runs
@pytest.mark.parametrize("charger_timings", [PATIENT])
async def test_restart_while_waiting_for_the_record(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A session that stopped without its record before a reload still finishes."""
    events = SessionEvents(hass)
    with records_lost(simulator):
        charge_id = await start(hass, loaded, simulator)
        await stop(hass, loaded)
    await events.wait(STARTED, charge_id)
    await fire_time(hass, freezer, 5)

    assert await hass.config_entries.async_reload(loaded.entry_id)
    await hass.async_block_till_done()
    await wait_for_charger(
        charger_of(loaded),
        lambda s: s.session is not None and s.session.charge_id == charge_id,
    )
    await fire_time(hass, freezer, const.RECORD_WAIT + 1)
    finished = await events.wait(FINISHED, charge_id)
    assert finished["stop_reason"] is None
    await fire_time(hass, freezer, const.RECORD_WAIT + 1)
    assert events.types() == [(STARTED, charge_id), (FINISHED, charge_id)]
