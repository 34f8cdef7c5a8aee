"""Our integration in Home Assistant against evsemaster's ``FakeEvse``.

``FakeEvse`` (PyPI ``evsemaster`` 3.0.0, ``evsemaster.testing``) is a charger
emulator written by someone else; ``support.PeerCharger`` only observes it.
Expected values are what it sent, decoded by evsemaster's own parsers.

Where FakeEvse contradicts every real capture (protocol.md §9, §11) the tests
say so and check that the integration stays sane instead:

* its status always has output state 1 (relay closed, §6.3), also while the
  state byte says 13 (ready, no session); real idle units report 2;
* its status always carries 230.1/230.2/230.3 V and 16/15/14 A with a power
  field of 0 W, and it announces device type 0 (single phase) with 7400 W;
* it never answers ChargeStart (0x8007) or ChargeStop (0x8008);
* it never pushes status (0x0004) or charging status (0x0005), it only
  answers 0x800D and 0x8006 (the tests push with its own status builder);
* it does not answer version, temperature unit or start mode requests, and
  crashes on command ids outside its enum (see ``PeerCharger``);
* its replies carry its password in the header (real units: FF x 6), and it
  answers a SET of the current with action GET;
* it never drops a client that stops answering headings, and heads whoever
  confirmed a login last.
"""

from __future__ import annotations

import asyncio
from typing import Any

from evsemaster import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    CommandEnum,
    CurrentStateEnum,
    LanguageEnum,
    PlugStateEnum,
)
from evsemaster.testing import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    charge_record_payload,
)
from homeassistant.components.number.const import (
    ATTR_MAX,
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_PASSWORD,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import (
    CONF_ACK_RECORDS,
    CONF_PORT,
    CONF_SERIAL,
    DOMAIN,
)
from custom_components.evse_master.protocol.charger import DEFAULT_USER_ID
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.messages import decode_text
from tests.helpers import wait_for_charger, wait_for_value

from .support import (
    PeerCharger,
    StartFake,
    entity_of,
    fake_entry_data,
    handled_by_us,
    peer_record,
    peer_record_ack,
    peer_session,
    peer_status,
    within,
)

WRONG_PASSWORD = "654321"
CHARGER_STATE_KEYS = {
    CurrentStateEnum.NOT_CONNECTED: "not_connected",
    CurrentStateEnum.READY_TO_CHARGE: "ready",
    CurrentStateEnum.CHARGING: "charging",
    CurrentStateEnum.COMPLETED: "completed",
}
"""Our charger state option for evsemaster's reading of the state byte."""
RELAY_CLOSED = 1
"""Output state "charging" (§6.3): what FakeEvse always reports."""


def state_of(hass: HomeAssistant, domain: str, fake: PeerCharger, key: str) -> State:
    """The state of one of our entities of ``fake``, which must be available."""
    state = hass.states.get(entity_of(hass, domain, fake.serial, key))
    assert state is not None, f"{domain} {key} has no state"
    assert state.state != STATE_UNAVAILABLE, f"{domain} {key} is unavailable"
    return state


def number(hass: HomeAssistant, domain: str, fake: PeerCharger, key: str) -> float:
    """A numeric entity state of ``fake`` as a float."""
    return float(state_of(hass, domain, fake, key).state)


def on_off(value: bool) -> str:
    """Home Assistant's state string for a boolean."""
    return STATE_ON if value else STATE_OFF


def session_switch_state(status: Any) -> str:
    """What the charging switch must show for evsemaster's reading of a status."""
    running = (
        status.output_state == RELAY_CLOSED
        or status.current_state == CurrentStateEnum.CHARGING
    )
    return on_off(running)


def configured_amps(fake: PeerCharger) -> int:
    """The configured current FakeEvse last reported (0x0107 ``[action, amps]``)."""
    return fake.sent[CommandEnum.OUTPUT_AMPERAGE_EVENT][1]


async def start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    """Open our user step (it probes FakeEvse and listens for announcements)."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )


def form_fields(result: ConfigFlowResult) -> dict[str, Any]:
    """The fields of a form, by name, with their selectors."""
    assert result["type"] is FlowResultType.FORM, result
    schema = result["data_schema"]
    assert schema is not None
    return {str(key): value for key, value in schema.schema.items()}


def offered(selector: Any) -> list[str]:
    """The option values of a select selector."""
    config = getattr(selector, "config", {})
    return [option["value"] for option in config.get("options", [])]


async def enter(
    hass: HomeAssistant, result: ConfigFlowResult, serial: str, password: str
) -> ConfigFlowResult:
    """Give our config flow a serial and a password, in the form(s) it shows.

    The user step either asks for both, or first offers the chargers it heard
    (FakeEvse must be among them) and then asks for the password.
    """
    fields = form_fields(result)
    if CONF_SERIAL not in fields and CONF_PASSWORD not in fields:
        (choice, selector), *_ = fields.items()
        assert serial in offered(selector)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {choice: serial}
        )
        fields = form_fields(result)
    user_input = {CONF_PASSWORD: password}
    if CONF_SERIAL in fields:
        user_input[CONF_SERIAL] = serial
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


# --- config flow ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake_options", "nickname"),
    [({}, ""), ({"nickname": "Garage"}, "Garage")],
    ids=["no-nickname", "nickname"],
)
async def test_user_flow_creates_entry(
    hass: HomeAssistant, fake_evse: PeerCharger, nickname: str
) -> None:
    """FakeEvse's serial and password create a loaded entry.

    The title is FakeEvse's nickname, else its brand and model.
    """
    result = await start_user_flow(hass)
    result = await enter(hass, result, fake_evse.serial, fake_evse.password)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["title"] == (nickname or f"{fake_evse.brand} {fake_evse.model}")
    assert result["data"] == fake_entry_data(fake_evse)
    entry = result["result"]
    assert entry.unique_id == fake_evse.serial
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert fake_evse.has_session
    assert fake_evse.password.encode() in fake_evse.login_passwords


async def test_user_flow_wrong_password(
    hass: HomeAssistant, fake_evse: PeerCharger
) -> None:
    """FakeEvse refuses a wrong password: invalid_auth, then the right one works."""
    result = await start_user_flow(hass)
    result = await enter(hass, result, fake_evse.serial, WRONG_PASSWORD)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    # A refusal counts once it repeats (design.md): at least two tries.
    assert fake_evse.login_passwords.count(WRONG_PASSWORD.encode()) >= 2
    assert not fake_evse.has_session

    result = await enter(hass, result, fake_evse.serial, fake_evse.password)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert fake_evse.has_session


# --- entities ---------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_show_what_fake_evse_sends(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """Every entity shows FakeEvse's values, as evsemaster itself reads them.

    FakeEvse reports output state 1 (relay closed) while its state byte says
    ready (13); real idle units report 2. The relay byte decides "charging"
    (§6.3, as every other implementation reads it), so charging and the switch
    are on while the charger state is "ready".
    """
    fake = fake_evse
    # The settings after max current come paced, one by one.
    await wait_for_charger(
        fake_integration.runtime_data.charger,
        lambda s: s.settings.language is not None,
    )
    await hass.async_block_till_done()
    status = peer_status(fake)
    session = peer_session(fake)

    assert (
        state_of(hass, "sensor", fake, "charger_state").state
        == (CHARGER_STATE_KEYS[status.current_state])
    )
    assert number(hass, "sensor", fake, "lifetime_energy") == pytest.approx(
        status.total_kwh
    )
    phases = (
        (status.l1_voltage, status.l1_amps),
        (status.l2_voltage, status.l2_amps),
        (status.l3_voltage, status.l3_amps),
    )
    for phase, (volts, amps) in enumerate(phases, start=1):
        # Published at their display precision: 0 decimals for V, 1 for A.
        assert number(hass, "sensor", fake, f"voltage_l{phase}") == round(volts)
        assert number(hass, "sensor", fake, f"current_l{phase}") == round(amps, 1)
    assert number(hass, "sensor", fake, "inner_temperature") == round(
        status.inner_temperature, 1
    )
    assert number(hass, "sensor", fake, "outer_temperature") == round(
        status.outer_temperature, 1
    )
    assert state_of(hass, "sensor", fake, "fault").state == "none"
    assert not status.faults

    plugged = status.plug_state != PlugStateEnum.DISCONNECTED
    assert state_of(hass, "binary_sensor", fake, "plugged_in").state == on_off(plugged)
    assert state_of(hass, "binary_sensor", fake, "charging").state == on_off(
        status.output_state == RELAY_CLOSED
    )
    assert state_of(hass, "binary_sensor", fake, "problem").state == STATE_OFF
    assert state_of(hass, "binary_sensor", fake, "emergency_stop").state == on_off(
        status.emergency_stop
    )
    assert state_of(hass, "switch", fake, "charging").state == session_switch_state(
        status
    )

    max_current = state_of(hass, "number", fake, "max_current")
    assert float(max_current.state) == configured_amps(fake)
    assert max_current.attributes[ATTR_MAX] == fake.max_amps
    assert state_of(hass, "select", fake, "language").state == (
        LanguageEnum(fake.language).name.lower()
    )

    assert number(hass, "sensor", fake, "session_energy") == pytest.approx(
        session.charge_kwh
    )
    assert number(hass, "sensor", fake, "session_duration") == (
        session.duration_seconds // 60
    )
    assert number(hass, "sensor", fake, "session_current_limit") == (
        session.max_electricity
    )
    # Our display-brightness GET is the one command FakeEvse cannot take.
    await fake.heard(Command.LCD_BRIGHTNESS)
    assert set(fake.unknown) == {Command.LCD_BRIGHTNESS}

    # FakeEvse's power field says 0 W. The sum of V x I over its phases is
    # 10,359 W: more than the 7400 W it announces, and more than the bound
    # (x 1.25) a reported power must stay within. A value outside physical
    # bounds never reaches an entity (design.md, "Trust"), so the field, which
    # is plausible, is what the power sensor must show.
    assert number(hass, "sensor", fake, "power") == status.current_power


# --- commands ---------------------------------------------------------------------


async def switch(hass: HomeAssistant, fake: PeerCharger, service: str) -> None:
    """Call a service of the charging switch; bounded, so a hang fails."""
    await within(
        hass.services.async_call(
            SWITCH_DOMAIN,
            service,
            {ATTR_ENTITY_ID: entity_of(hass, "switch", fake.serial, "charging")},
            blocking=True,
        )
    )


async def test_start_gets_no_answer(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """FakeEvse never answers ChargeStart; the start fails as no_response.

    Real chargers answer 0x0007 (§5.5, capture V8). The request is the right
    one, nothing changes optimistically, the session stays up, and the state
    then follows what FakeEvse reports.
    """
    fake = fake_evse
    before = state_of(hass, "switch", fake, "charging").state
    assert before == session_switch_state(peer_status(fake))
    request = fake.wait_for(CommandEnum.CHARGE_START_REQUEST)

    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, fake, SERVICE_TURN_ON)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "no_response"

    payload = await within(request)
    assert len(payload) == 47
    assert payload[46] == configured_amps(fake)  # the configured current
    assert payload[44:46] == b"\xff\xff"  # param 3: 0 would end the session
    await hass.async_block_till_done()
    assert state_of(hass, "switch", fake, "charging").state == before
    assert fake_integration.runtime_data.charger.state.logged_in
    assert fake.has_session

    # The state follows FakeEvse: it now reports a running session.
    acked = fake.wait_for(CommandEnum.CURRENT_STATUS_RESPONSE)
    fake.state = CurrentStateEnum.CHARGING
    fake.push_status()
    charger_state = entity_of(hass, "sensor", fake.serial, "charger_state")
    await wait_for_value(hass, charger_state, "charging")
    assert state_of(hass, "switch", fake, "charging").state == STATE_ON
    assert await within(acked) == b"\x01"  # the status ack of §5.7


async def test_stop_gets_no_answer(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """FakeEvse never answers ChargeStop; the stop fails as no_response.

    Real chargers answer 0x0008. The switch keeps showing what FakeEvse
    reports (on: its relay byte), not the "off" that was asked for.
    """
    fake = fake_evse
    before = state_of(hass, "switch", fake, "charging").state
    request = fake.wait_for(CommandEnum.CHARGE_STOP_REQUEST)

    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, fake, SERVICE_TURN_OFF)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "no_response"

    payload = await within(request)
    assert len(payload) == 47  # line id, who stops, 30 zero bytes (§5.6)
    assert decode_text(payload[1:17]) == DEFAULT_USER_ID
    assert payload[17:] == bytes(30)
    await hass.async_block_till_done()
    assert state_of(hass, "switch", fake, "charging").state == before
    assert before == session_switch_state(peer_status(fake))
    assert fake_integration.runtime_data.charger.state.logged_in


async def test_set_max_current(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """number.set_value reaches FakeEvse, which records the amps; too much does not."""
    fake = fake_evse
    entity_id = entity_of(hass, "number", fake.serial, "max_current")
    target = 10 if configured_amps(fake) != 10 else 11

    await within(
        hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: entity_id, ATTR_VALUE: target},
            blocking=True,
        )
    )
    assert fake.amps_set == [target]
    await wait_for_value(hass, entity_id, str(target))
    # Read back with a GET, which FakeEvse answers with what it recorded.
    assert fake.payloads[CommandEnum.OUTPUT_AMPERAGE_REQUEST] == bytes((2, 0))
    assert configured_amps(fake) == target

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: entity_id, ATTR_VALUE: fake.max_amps + 1},
            blocking=True,
        )
    assert fake.amps_set == [target]
    assert state_of(hass, "number", fake, "max_current").state == str(target)


async def test_select_language(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """The language select sets FakeEvse's language; its echo confirms it."""
    fake = fake_evse
    entity_id = entity_of(hass, "select", fake.serial, "language")
    wanted = LanguageEnum.GERMAN
    assert fake.language != wanted
    await within(
        hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: entity_id, ATTR_OPTION: wanted.name.lower()},
            blocking=True,
        )
    )
    assert fake.language == wanted
    await wait_for_value(hass, entity_id, wanted.name.lower())


# --- sessions ---------------------------------------------------------------------


async def test_session_end(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """A session FakeEvse reports, then its record (0x0009) and the idle status.

    Session sensors show FakeEvse's charging status; the record reaches the
    charger state as evsemaster decodes it. Records are not acknowledged by
    default (the phone app lists only records it acknowledged itself).
    """
    fake = fake_evse
    charger = fake_integration.runtime_data.charger
    session = peer_session(fake)
    assert number(hass, "sensor", fake, "session_energy") == pytest.approx(
        session.charge_kwh
    )
    assert number(hass, "sensor", fake, "session_duration") == (
        session.duration_seconds // 60
    )
    charger_state = entity_of(hass, "sensor", fake.serial, "charger_state")

    fake.state = CurrentStateEnum.CHARGING
    fake.push_status()
    await wait_for_value(hass, charger_state, "charging")

    payload = charge_record_payload(
        charge_id="2026101612001234", duration=5400, kwh=2345
    )
    fake.upload_record(payload, current=True)
    fake.state = CurrentStateEnum.READY_TO_CHARGE
    fake.push_status()
    await wait_for_value(hass, charger_state, "ready")
    state = await wait_for_charger(charger, lambda s: s.last_record is not None)

    expected = peer_record(fake, payload)
    record = state.last_record
    assert record is not None
    assert record.charge_id == expected.charge_id
    assert record.started_by == expected.started_by
    assert record.stopped_by == expected.stopped_by
    assert record.stop_reason == expected.stop_reason
    assert record.charged_time == expected.duration_seconds
    assert record.session_energy == pytest.approx(expected.charge_kwh)
    assert record.start_energy == pytest.approx(expected.start_kwh_counter)
    assert record.stop_energy == pytest.approx(expected.stop_kwh_counter)
    assert CommandEnum.CURRENT_CHARGE_RECORD_RESPONSE not in fake.received
    assert state.logged_in
    assert state_of(hass, "switch", fake, "charging").state == session_switch_state(
        peer_status(fake, CommandEnum.CURRENT_STATUS_EVENT)
    )


@pytest.mark.parametrize("fake_entry_options", [{CONF_ACK_RECORDS: True}])
@pytest.mark.parametrize(
    ("current", "ack"),
    [
        (True, CommandEnum.CURRENT_CHARGE_RECORD_RESPONSE),
        (False, CommandEnum.UPLOAD_LOCAL_CHARGE_RECORD_RESPONSE),
    ],
    ids=["0x0009", "0x000A"],
)
async def test_records_acknowledged_when_enabled(
    hass: HomeAssistant,
    fake_integration: MockConfigEntry,
    fake_evse: PeerCharger,
    current: bool,
    ack: int,
) -> None:
    """With the option on, a record is acknowledged exactly as evsemaster does it."""
    fake = fake_evse
    payload = charge_record_payload(charge_id="2026101612005678")
    acked = fake.wait_for(ack)
    fake.upload_record(payload, current=current)
    assert await within(acked) == peer_record_ack(fake, payload)
    record = fake_integration.runtime_data.charger.state.last_record
    assert record is not None
    assert record.charge_id == peer_record(fake, payload).charge_id


# --- session loss and re-login ----------------------------------------------------


async def test_relogin_after_session_dropped(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """FakeEvse forgets us (end_session) and announces: we log in again."""
    fake = fake_evse
    charger = fake_integration.runtime_data.charger
    logins = fake.received_count(CommandEnum.LOGIN_REQUEST)
    confirmed = fake.wait_for(CommandEnum.LOGIN_CONFIRM_RESPONSE)

    fake.end_session()
    assert not fake.has_session
    await within(confirmed)
    assert fake.has_session
    assert fake.received_count(CommandEnum.LOGIN_REQUEST) > logins
    assert fake.login_passwords[-1] == fake.password.encode()
    await wait_for_charger(charger, lambda s: s.logged_in)
    await hass.async_block_till_done()
    status = peer_status(fake)
    assert (
        state_of(hass, "sensor", fake, "charger_state").state
        == (CHARGER_STATE_KEYS[status.current_state])
    )
    assert state_of(hass, "switch", fake, "charging").state == session_switch_state(
        status
    )


@pytest.mark.parametrize("fake_options", [{"announce_interval": 3600.0}])
@pytest.mark.parametrize(
    "forgets_us", [True, False], ids=["rebooted", "stale-announcement"]
)
async def test_one_announcement_brings_the_session_back(
    hass: HomeAssistant,
    fake_integration: MockConfigEntry,
    fake_evse: PeerCharger,
    forgets_us: bool,
) -> None:
    """After one announcement we are soon logged in again, whatever came before.

    FakeEvse's own next announcement is an hour away: only the one sent here
    counts. "rebooted": FakeEvse forgot us first, as after a power cycle (real
    units then announce every 3-5 s). "stale-announcement": FakeEvse still
    heads us, as when an old announcement arrives late (a busy loop). Our
    integration takes an announcement past the grace for the end of the
    session (design.md, "Session"), so it has to log in again: nothing else
    will make it, as FakeEvse never pushes status and never drops a client
    that stops answering headings.
    """
    fake = fake_evse
    charger = fake_integration.runtime_data.charger
    await fake.past_grace()
    confirmed = fake.wait_for(CommandEnum.LOGIN_CONFIRM_RESPONSE)
    if forgets_us:
        fake.end_session()
    async with handled_by_us(hass, fake.serial, Command.LOGIN_ANNOUNCEMENT):
        fake.announce()
    await wait_for_charger(charger, lambda s: s.logged_in)
    if forgets_us:
        await within(confirmed)  # a new login: FakeEvse had forgotten us
    assert fake.has_session
    await hass.async_block_till_done()
    status = peer_status(fake)
    assert (
        state_of(hass, "sensor", fake, "charger_state").state
        == (CHARGER_STATE_KEYS[status.current_state])
    )


async def test_relogin_after_restart(
    hass: HomeAssistant,
    fake_integration: MockConfigEntry,
    fake_evse: PeerCharger,
    start_fake: StartFake,
) -> None:
    """FakeEvse goes away; a new one (new port, car unplugged) is logged in to."""
    charger = fake_integration.runtime_data.charger
    await fake_evse.close()

    restarted = await start_fake(
        state=CurrentStateEnum.NOT_CONNECTED, plug=PlugStateEnum.DISCONNECTED
    )
    confirmed = restarted.wait_for(CommandEnum.LOGIN_CONFIRM_RESPONSE)
    assert restarted.address != fake_evse.address
    await within(confirmed)
    assert restarted.has_session
    await wait_for_charger(
        charger, lambda s: s.logged_in and s.address == restarted.address
    )
    charger_state = entity_of(hass, "sensor", restarted.serial, "charger_state")
    plugged_in = entity_of(hass, "binary_sensor", restarted.serial, "plugged_in")
    await wait_for_value(hass, charger_state, "not_connected")
    await wait_for_value(hass, plugged_in, STATE_OFF)
    assert fake_integration.data[CONF_PORT] == restarted.address[1]


@pytest.mark.parametrize("fake_options", [{"announce_interval": 3600.0}])
async def test_broadcast_heading_is_not_our_session(
    hass: HomeAssistant, fake_integration: MockConfigEntry, fake_evse: PeerCharger
) -> None:
    """FakeEvse's ``broadcast_heading``: a heading with no session of ours behind it.

    FakeEvse forgets us and (its next announcement an hour away) only sends
    headings nobody registered: they neither revive the session nor are they
    answered (design.md, Trust: answers carry the password).
    """
    fake = fake_evse
    charger = fake_integration.runtime_data.charger
    switch_id = entity_of(hass, "switch", fake.serial, "charging")
    fake.end_session()
    await wait_for_charger(charger, lambda s: not s.logged_in)
    await wait_for_value(hass, switch_id, STATE_UNAVAILABLE)
    answered = fake.received_count(CommandEnum.HEADING_RESPONSE)
    confirmed = fake.received_count(CommandEnum.LOGIN_CONFIRM_RESPONSE)

    headings = 3
    async with handled_by_us(hass, fake.serial, Command.HEADING, headings):
        for _ in range(headings):
            fake.broadcast_heading()
    await hass.async_block_till_done()
    assert not charger.state.logged_in
    assert fake.received_count(CommandEnum.HEADING_RESPONSE) == answered
    assert fake.received_count(CommandEnum.LOGIN_CONFIRM_RESPONSE) == confirmed
    switch_state = hass.states.get(switch_id)
    assert switch_state is not None
    assert switch_state.state == STATE_UNAVAILABLE


async def test_impostor_on_another_address(
    hass: HomeAssistant,
    fake_integration: MockConfigEntry,
    fake_evse: PeerCharger,
    start_fake: StartFake,
) -> None:
    """A second FakeEvse with the same serial on 127.0.0.2 is never believed.

    Its announcements are dropped and never answered, the entities keep
    showing the real one, and the owner is told (a repair issue).
    """
    impostor = await start_fake(
        ip="127.0.0.2",
        state=CurrentStateEnum.NOT_CONNECTED,
        plug=PlugStateEnum.DISCONNECTED,
    )
    issues = ir.async_get(hass)
    issue_id = f"impostor_{fake_evse.serial}"
    created: asyncio.Future[None] = hass.loop.create_future()

    @callback
    def on_issue(event: Event[ir.EventIssueRegistryUpdatedData]) -> None:
        if event.data["issue_id"] == issue_id and not created.done():
            created.set_result(None)

    unsubscribe = hass.bus.async_listen(
        ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, on_issue
    )
    try:
        if issues.async_get_issue(DOMAIN, issue_id) is None:
            await within(created)
    finally:
        unsubscribe()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert impostor.received == []  # nothing ever went to it
    charger = fake_integration.runtime_data.charger
    assert charger.state.logged_in
    assert charger.state.address == fake_evse.address
    assert (
        state_of(hass, "sensor", fake_evse, "charger_state").state
        == (CHARGER_STATE_KEYS[peer_status(fake_evse).current_state])
    )
