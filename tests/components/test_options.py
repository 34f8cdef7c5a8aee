"""Options flow: record acknowledgement, relay protection, current policy.

Saving reloads the entry; the new charger client runs with the options.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import (
    CONF_ACK_RECORDS,
    CONF_CURRENT_POLICY,
    CONF_RELAY_PROTECTION,
    DOMAIN,
    POLICY_RESTART,
    POLICY_WAIT,
)
from custom_components.evse_master.protocol.charger import Charger, ChargerTimings
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.messages import ChargeRecordAck
from tests.helpers import WAIT, wait_for_charger, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import FAST_CHARGER

SWITCH = "switch.besen_bs20_charge"


@pytest.fixture
def platforms() -> list[Platform]:
    """The charging switch (relay protection) and the event entity (records)."""
    return [Platform.SWITCH, Platform.EVENT]


def suggested(result: ConfigFlowResult) -> dict[str, Any]:
    """The values the form is pre-filled with, by option."""
    schema = result["data_schema"]
    assert schema is not None
    return {
        str(key): (key.description or {}).get("suggested_value")
        for key in schema.schema
    }


async def open_options(hass: HomeAssistant, entry: MockConfigEntry) -> ConfigFlowResult:
    """Open the options of ``entry``: its one form."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert result["errors"] is None or result["errors"] == {}
    return result


def options(
    *, ack: bool = False, relay: float = 30, policy: str = POLICY_WAIT
) -> dict[str, Any]:
    """A complete answer to the form."""
    return {
        CONF_ACK_RECORDS: ack,
        CONF_RELAY_PROTECTION: relay,
        CONF_CURRENT_POLICY: policy,
    }


async def save(
    hass: HomeAssistant, entry: MockConfigEntry, user_input: dict[str, Any]
) -> Charger:
    """Submit the form; return the charger client of the reloaded entry."""
    before: Charger = entry.runtime_data.charger
    result = await open_options(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    charger: Charger = entry.runtime_data.charger
    assert charger is not before  # reloaded: a new client
    await wait_for_charger(charger, lambda s: s.logged_in and s.status is not None)
    await hass.async_block_till_done()
    return charger


def acks(simulator: SimulatedCharger) -> list[str]:
    """Charge ids of the stored-record acknowledgements the charger received."""
    return [
        ChargeRecordAck.parse(datagram.payload).charge_id
        for datagram in simulator.received
        if datagram.command == Command.LOCAL_CHARGE_RECORD_ACK
    ]


async def switch(hass: HomeAssistant, service: str) -> None:
    """Turn the charging switch on or off."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )


@pytest.mark.parametrize(
    ("charger_timings", "relay_protection"),
    [
        (replace(FAST_CHARGER, min_restart_interval=45.0), 45),
        (replace(FAST_CHARGER, min_restart_interval=0.0), 10),
        (replace(FAST_CHARGER, min_restart_interval=7200.0), 3600),
    ],
    ids=["default", "below_range", "above_range"],
)
async def test_form_shows_defaults(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    charger_timings: ChargerTimings,
    relay_protection: int,
) -> None:
    """A new entry: no acks, the charger default relay protection (in range), wait."""
    assert loaded.options == {}
    result = await open_options(hass, loaded)
    assert suggested(result) == {
        CONF_ACK_RECORDS: False,
        CONF_RELAY_PROTECTION: relay_protection,
        CONF_CURRENT_POLICY: POLICY_WAIT,
    }
    # Nothing saved, nothing reloaded by just looking.
    assert loaded.options == {}


@pytest.mark.parametrize(
    ("ack", "relay", "policy"),
    [(True, 120, POLICY_RESTART), (False, 3600, POLICY_WAIT)],
    ids=["ack_restart", "no_ack_wait"],
)
async def test_save_stores_and_reloads(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    ack: bool,
    relay: int,
    policy: str,
) -> None:
    """Saved options reach the reloaded charger client and current watch."""
    charger = await save(hass, loaded, options(ack=ack, relay=relay, policy=policy))
    assert loaded.options == options(ack=ack, relay=relay, policy=policy)
    # Whole seconds, as the form offers them (the selector answers a float).
    assert type(loaded.options[CONF_RELAY_PROTECTION]) is int
    assert charger.timings.min_restart_interval == relay
    # The other timings stay the integration's.
    assert replace(charger.timings, min_restart_interval=0.0) == FAST_CHARGER
    assert loaded.runtime_data.current_watch.policy == policy

    # The form shows what was saved.
    result = await open_options(hass, loaded)
    assert suggested(result) == options(ack=ack, relay=relay, policy=policy)
    hass.config_entries.options.async_abort(result["flow_id"])


async def test_ack_records_on(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """On: a stored record is acknowledged, and the charger stops replaying it."""
    await save(hass, loaded, options(ack=True))
    acknowledged = simulator.wait_for(Command.LOCAL_CHARGE_RECORD_ACK)
    simulator.emit_record(stored=True)
    async with asyncio.timeout(WAIT):
        ack = ChargeRecordAck.parse((await acknowledged).payload)
    record = loaded.runtime_data.charger.state.last_record
    assert record is not None
    assert ack.charge_id == record.charge_id

    async with asyncio.timeout(WAIT):  # replays in flight get theirs too
        await simulator.wait_for(Command.HEADING_RESPONSE, count=5)
    count = len(acks(simulator))
    async with asyncio.timeout(WAIT):  # several replay periods
        await simulator.wait_for(Command.HEADING_RESPONSE, count=5)
    assert len(acks(simulator)) == count
    assert set(acks(simulator)) == {record.charge_id}

    # A session that follows changes the snapshot, not the record: no new ack.
    await charge_and_stop(hass, loaded, simulator)
    assert len([a for a in acks(simulator) if a == record.charge_id]) == count


@pytest.mark.parametrize("saved", [True, False], ids=["saved_off", "never_set"])
async def test_ack_records_off(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    saved: bool,
) -> None:
    """Off (the default): records are read but never acknowledged; they replay."""
    if saved:
        await save(hass, loaded, options(ack=False, relay=10))
    simulator.emit_record(stored=True)
    charger = loaded.runtime_data.charger
    await wait_for_charger(charger, lambda s: s.last_record is not None)
    async with asyncio.timeout(WAIT):  # several replay periods
        await simulator.wait_for(Command.HEADING_RESPONSE, count=5)
    assert acks(simulator) == []


async def charge_and_stop(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A car, a session started and stopped with the switch."""
    simulator.plug_in()
    await wait_for_charger(entry.runtime_data.charger, lambda s: bool(s.plugged_in))
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, SWITCH, STATE_ON)
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, SWITCH, STATE_OFF)


async def refused_start_wait(hass: HomeAssistant, simulator: SimulatedCharger) -> int:
    """Seconds the relay protection names when the switch is turned on too soon.

    Nothing reaches the charger.
    """
    starts = sum(d.command == Command.CHARGE_START for d in simulator.received)
    with pytest.raises(ServiceValidationError) as err:
        await switch(hass, SERVICE_TURN_ON)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "rate_limited"
    placeholders = err.value.translation_placeholders
    assert placeholders is not None
    assert sum(d.command == Command.CHARGE_START for d in simulator.received) == starts
    return int(placeholders["seconds"])


async def test_relay_protection_applies(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """After the reload a start right after a stop waits the relay protection."""
    await save(hass, loaded, options(relay=120))
    await charge_and_stop(hass, loaded, simulator)
    assert 110 <= await refused_start_wait(hass, simulator) <= 120
    assert not simulator.charging


async def test_relay_protection_outlives_the_reload(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A stop, then options saved (a reload, a new client): the relays still rest."""
    await charge_and_stop(hass, loaded, simulator)
    await save(hass, loaded, options(relay=300))
    assert 290 <= await refused_start_wait(hass, simulator) <= 300

    # A shorter protection, saved again, counts from the same stop.
    await save(hass, loaded, options(relay=10))
    assert loaded.runtime_data.charger.last_stop is not None


async def test_saving_the_same_options_keeps_the_entry(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """Nothing changed: nothing to reload (the session stays up)."""
    await save(hass, loaded, options(relay=60))
    charger = loaded.runtime_data.charger
    result = await open_options(hass, loaded)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options(relay=60)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data.charger is charger


@pytest.mark.parametrize(
    "user_input",
    [
        options(relay=9),
        options(relay=3601),
        options(relay=0),
        options(relay=-30),
        options(policy="sometimes"),
        {CONF_ACK_RECORDS: True, CONF_CURRENT_POLICY: POLICY_WAIT},
        {CONF_ACK_RECORDS: True, CONF_RELAY_PROTECTION: 60},
    ],
    ids=[
        "relay_9",
        "relay_3601",
        "relay_0",
        "relay_negative",
        "unknown_policy",
        "no_relay",
        "no_policy",
    ],
)
async def test_invalid_input_is_refused(
    hass: HomeAssistant, loaded: MockConfigEntry, user_input: dict[str, Any]
) -> None:
    """The schema refuses it; nothing is stored; the form still takes a valid answer."""
    charger = loaded.runtime_data.charger
    result = await open_options(hass, loaded)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    assert loaded.options == {}
    assert loaded.runtime_data.charger is charger

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options(relay=45)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded.options == options(relay=45)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("relay", [10, 3600], ids=["lowest", "highest"])
async def test_relay_protection_bounds_accepted(
    hass: HomeAssistant, loaded: MockConfigEntry, relay: int
) -> None:
    """Both ends of 10 … 3600 s are allowed."""
    charger = await save(hass, loaded, options(relay=relay))
    assert loaded.options[CONF_RELAY_PROTECTION] == relay
    assert charger.timings.min_restart_interval == relay
