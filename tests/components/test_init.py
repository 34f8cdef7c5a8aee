"""Setup, unload, shared listener lifecycle and session recovery."""

from __future__ import annotations

import asyncio
from dataclasses import replace
import logging
import socket
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.evse_master import const
from custom_components.evse_master.const import (
    CONF_PORT,
    CONF_STATIC_HOST,
    DOMAIN,
    SETTINGS_REFRESH_INTERVAL,
)
from custom_components.evse_master.hub import (
    DATA_HUB,
    MAX_PENDING_DISCOVERIES,
    NEW_SERIALS_PER_MINUTE,
    REMEMBERED_SERIALS,
    REOFFER_AFTER,
    async_get_probe_targets,
    entry_address,
)
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import (
    NO_PASSWORD,
    Datagram,
)
from custom_components.evse_master.protocol.messages import DeviceInfo
from tests.helpers import WAIT, PhoneApp, wait_for_charger, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import FAST_CHARGER, SERIAL, entry_data

STATE = "sensor.besen_bs20_charger_state"


def state_of(hass: HomeAssistant) -> str:
    """The charger state entity's state."""
    state = hass.states.get(STATE)
    assert state is not None
    return state.state


def logins(sim: SimulatedCharger) -> int:
    """RequestLogins with a password that reached the simulated charger."""
    return sum(
        datagram.command == Command.REQUEST_LOGIN and datagram.password != NO_PASSWORD
        for datagram in sim.received
    )


def discovery_flows(hass: HomeAssistant) -> list[str]:
    """Unique ids of the discovery flows in progress."""
    return [
        str(flow["context"]["unique_id"])
        for flow in hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, match_context={"source": SOURCE_INTEGRATION_DISCOVERY}
        )
    ]


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Setup logs in with the stored address; unload closes the listener."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert simulator.client is not None
    assert state_of(hass) == "not_connected"
    hub = hass.data[DATA_HUB]
    assert hub.shared.listener.is_open
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not hub.shared.listener.is_open
    assert state_of(hass) == STATE_UNAVAILABLE


async def test_setup_creates_the_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The device exists after setup, named after the entry, with its model."""
    [device] = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    assert device.name == "BESEN BS20"
    assert (device.manufacturer, device.model) == ("BESEN", "BS20")
    assert device.serial_number == SERIAL


async def test_setup_waits_for_login(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """When setup returns, the charger is logged in and its entities have data."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.runtime_data.charger.state.logged_in
    await wait_for_value(hass, STATE, "not_connected")
    assert logins(simulator) == 1
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_setup_with_wrong_password_asks_for_it(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A refused password at setup: setup error and a reauth flow."""
    simulator.password = "222222"
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_setup_retries_and_announcement_retries_at_once(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: SimulatedCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An absent charger: setup retries later, but its announcement retries now.

    The listener stays open while the entry waits, so the announcement is
    heard; Home Assistant reloads an entry waiting to retry when discovery
    reports its unique id.
    """
    simulator.go_silent()
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "did not answer" in caplog.text  # the translated reason
    hub = hass.data[DATA_HUB]
    assert hub.shared.listener.is_open
    assert hub.shared.users == 1  # the retry hold
    simulator.resume()  # announces: long before Home Assistant's next retry
    await wait_for_value(hass, STATE, "not_connected")
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hub.shared.users == 1  # the entry's own; the hold is gone
    assert discovery_flows(hass) == []  # the flow only nudged the entry
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    assert not hub.shared.listener.is_open


async def test_retry_hold_ends_with_the_entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Unloading or removing an entry that waits to retry releases the listener."""
    simulator.go_silent()
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    hub = hass.data[DATA_HUB]
    assert hub.shared.users == 1
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert not hub.shared.listener.is_open
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert hub.shared.users == 1
    await hass.config_entries.async_remove(mock_config_entry.entry_id)
    assert not hub.shared.listener.is_open


async def test_setup_is_bounded(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """However long a login attempt would wait, setup gives up at its bound."""
    simulator.ignore_commands.add(Command.REQUEST_LOGIN)
    slow = replace(FAST_CHARGER, login_timeout=3600.0)
    mock_config_entry.add_to_hass(hass)
    with (
        patch.object(const, "CHARGER_TIMINGS", slow),
        patch.object(const, "SETUP_TIMEOUT", 0.2),
    ):
        assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert logins(simulator) == 1


async def test_migration_drops_what_the_charger_tells(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """Entries of 1.1 stored brand, model and limits; 1.2 reads them every time."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=SERIAL,
        title="BESEN BS20",
        data=entry_data(simulator, brand="X", model="Y", phases=3, max_current=6),
        minor_version=1,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.minor_version == 2
    assert entry.data == entry_data(simulator)
    state = entry.runtime_data.charger.state
    assert (state.max_current, state.phases) == (32, 1)  # from the charger
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_two_chargers_share_one_listener(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    listen_port: int,
) -> None:
    """A second charger joins the same socket; the socket outlives one unload."""
    other = SimulatedCharger(
        "8368555670377598", "654321", "bs20-3p", client_port=listen_port
    )
    await other.start()
    second = MockConfigEntry(
        domain=DOMAIN,
        unique_id=other.serial,
        title="BESEN BS20 7598",
        data=entry_data(other, password="654321"),
        minor_version=2,
    )
    second.add_to_hass(hass)
    try:
        await hass.config_entries.async_setup(second.entry_id)
        await wait_for_charger(
            second.runtime_data.charger,
            lambda state: state.logged_in and state.status is not None,
        )
        hub = hass.data[DATA_HUB]
        assert hub.shared.users == 2
        assert second.runtime_data.charger.state.phases == 3
        assert init_integration.runtime_data.charger.state.phases == 1
        assert await hass.config_entries.async_unload(init_integration.entry_id)
        assert hub.shared.listener.is_open
        simulator.plug_in()
        other.plug_in()
        state = await wait_for_charger(
            second.runtime_data.charger, lambda state: bool(state.plugged_in)
        )
        assert state.serial == other.serial
        assert await hass.config_entries.async_unload(second.entry_id)
        assert not hub.shared.listener.is_open
    finally:
        await other.stop()


async def test_port_in_use_retries_with_repair_issue(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, listen_port: int
) -> None:
    """A taken port makes setup retry and raises a repair issue until it frees.

    The holder asks for address reuse, as many programs do: our exclusive bind
    still refuses to share, so the issue shows instead of replies going astray.
    """
    mock_config_entry.add_to_hass(hass)
    issues = ir.async_get(hass)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", listen_port))
        await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
        issue = issues.async_get_issue(DOMAIN, "port_in_use")
        assert issue is not None
        assert issue.translation_placeholders == {"port": str(listen_port)}
    await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert issues.async_get_issue(DOMAIN, "port_in_use") is None
    await wait_for_value(hass, STATE, "not_connected")
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_reload_rebinds_the_port(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Unload closes the socket, and the reload binds the same port again."""
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, "port_in_use") is None


async def test_unavailable_when_silent_and_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Silence: unavailable, one warning; its return: one info line."""
    simulator.go_silent()
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    went = [record for record in caplog.records if "went away" in record.message]
    assert [record.levelno for record in went] == [logging.WARNING]
    simulator.resume()
    await wait_for_value(hass, STATE, "not_connected")
    back = [record for record in caplog.records if "is back" in record.message]
    assert [record.levelno for record in back] == [logging.INFO]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_takeover_by_phone_app_and_relogin(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    listen_port: int,
) -> None:
    """Another client takes the session; when it leaves, we log in again."""
    phone = await PhoneApp.open(listen_port)
    try:
        await phone.login(simulator)
        await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
        assert simulator.client == ("127.0.0.2", listen_port)
        # Our LoginConfirm leaves before the state says "logged in"; the
        # charger takes it a moment later. Waiting for the state alone raced.
        confirmed = simulator.wait_for(Command.LOGIN_CONFIRM)
        phone.close()  # stops answering headings: the charger drops it
        await wait_for_value(hass, STATE, "not_connected")
        async with asyncio.timeout(WAIT):
            await confirmed
        assert simulator.client == ("127.0.0.1", listen_port)
    finally:
        phone.close()


async def test_wrong_password_at_runtime_starts_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A password changed in the app ends the session and asks for the new one."""
    simulator.password = "222222"
    simulator.drop_client()  # the app's password change ends our session
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    await wait_for_charger(
        init_integration.runtime_data.charger, lambda s: s.auth_failed
    )
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    # One flow, however long it waits.
    async_fire_time_changed(hass, dt_util.utcnow() + SETTINGS_REFRESH_INTERVAL * 3)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_charger_moves_to_new_address(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A new IP (DHCP) is followed once the charger announces from it.

    During the session frames from another IP could come from anyone; they
    are dropped, so the charger drops us and announces, and that moves us.
    """
    await simulator.rebind("127.0.0.3")
    simulator.plug_in()
    await wait_for_value(hass, STATE, "ready")
    assert init_integration.data[CONF_HOST] == "127.0.0.3"
    assert init_integration.data[CONF_PORT] == simulator.address[1]


async def test_new_port_on_the_same_ip_is_followed(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A new source port of the session's IP moves nothing but the port."""
    await simulator.rebind("127.0.0.1")
    simulator.plug_in()
    await wait_for_value(hass, STATE, "ready")
    charger = init_integration.runtime_data.charger
    assert charger.address == simulator.address
    assert charger.diagnostics.dropped == {}
    assert init_integration.data[CONF_PORT] == simulator.address[1]


@pytest.mark.usefixtures("pinned_entry")
async def test_pinned_charger_is_retried_while_away(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """A pinned charger cannot announce itself to us: we keep trying to log in."""
    await wait_for_value(hass, STATE, "not_connected")
    simulator.go_silent()
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    # A silent charger still records what reaches it: login requests keep
    # coming (password-less probes while it is silent, then a login).
    for _ in range(2):
        await asyncio.wait_for(simulator.wait_for(Command.REQUEST_LOGIN), WAIT)
    simulator.resume()
    await wait_for_value(hass, STATE, "not_connected")


async def test_settings_reread_periodically(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Settings changed in the phone app show up after the periodic re-read."""
    simulator.max_current_setting = 13  # as if set in the app
    async_fire_time_changed(hass, dt_util.utcnow() + SETTINGS_REFRESH_INTERVAL * 2)
    await wait_for_value(hass, "number.besen_bs20_current_limit", "13")


async def test_home_assistant_stop_closes_everything(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """On stop the socket closes and the charger stops its timers."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert not hass.data[DATA_HUB].shared.listener.is_open


# --- discovery limits ---------------------------------------------------------------


def announce(hass: HomeAssistant, serial: str, source: str = "127.0.0.2") -> None:
    """An announcement of ``serial`` arriving at the shared listener."""
    info = DeviceInfo(1, "BESEN", "BS20", "HW", 7040, 32)
    frame = Datagram(serial, Command.LOGIN_ANNOUNCEMENT, info.build())
    hass.data[DATA_HUB].shared.listener.datagram_received(
        frame.encode(), (source, 7248)
    )


async def test_discovery_flows_are_limited(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A flood of serials: a few flows a minute, a few at once, bounded memory."""
    serials = [f"{n:016x}" for n in range(1, 201)]
    for serial in serials:
        announce(hass, serial)
    await hass.async_block_till_done()
    first = discovery_flows(hass)
    assert len(first) == min(NEW_SERIALS_PER_MINUTE, MAX_PENDING_DISCOVERIES)
    # A minute later: new serials again, but never more cards than the cap.
    freezer.tick(61)
    for serial in serials:
        announce(hass, serial)
    await hass.async_block_till_done()
    assert len(discovery_flows(hass)) == MAX_PENDING_DISCOVERIES
    assert hass.data[DATA_HUB].remembered_serials <= REMEMBERED_SERIALS


async def test_ignored_charger_is_offered_again_later(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A dismissed card comes back after a while, not within minutes."""
    serial = "8368555670377598"
    announce(hass, serial)
    await hass.async_block_till_done()
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    hass.config_entries.flow.async_abort(flow["flow_id"])
    announce(hass, serial)
    await hass.async_block_till_done()
    assert discovery_flows(hass) == []
    freezer.tick(REOFFER_AFTER + 1)
    announce(hass, serial)
    await hass.async_block_till_done()
    assert discovery_flows(hass) == [serial]


async def test_configured_charger_gets_no_card(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The serial of a configured charger never becomes a discovery card."""
    await hass.config_entries.async_unload(init_integration.entry_id)
    hub = hass.data[DATA_HUB]
    await hub.async_acquire()  # listening, but no client registered
    announce(hass, SERIAL, "127.0.0.1")
    await hass.async_block_till_done()
    assert discovery_flows(hass) == []
    hub.shared.release()


# --- helpers ------------------------------------------------------------------------


async def test_probe_targets_are_enabled_subnets(hass: HomeAssistant) -> None:
    """The probe goes to each enabled adapter's subnet, never 255.255.255.255."""
    adapters = [
        {
            "name": "eth0",
            "enabled": True,
            "ipv4": [{"address": "192.168.1.20", "network_prefix": 24}],
        },
        {
            "name": "wlan0",
            "enabled": False,
            "ipv4": [{"address": "10.1.2.3", "network_prefix": 16}],
        },
        {
            "name": "tun0",
            "enabled": True,
            "ipv4": [{"address": "10.8.0.2", "network_prefix": 32}],
        },
    ]
    with patch(
        "homeassistant.components.network.async_get_adapters", return_value=adapters
    ):
        targets = await async_get_probe_targets(hass)
    assert targets == [("192.168.1.255", 7248)]


def test_entry_address() -> None:
    """The pinned IP wins; its known port is kept only for the same IP."""
    known = {CONF_HOST: "10.0.0.5", CONF_PORT: 30139}
    assert entry_address(known) == ("10.0.0.5", 30139)
    assert entry_address({**known, CONF_STATIC_HOST: "10.0.0.5"}) == (
        "10.0.0.5",
        30139,
    )
    assert entry_address({**known, CONF_STATIC_HOST: "10.9.0.7"}) == (
        "10.9.0.7",
        7248,
    )
    assert entry_address({CONF_HOST: None, CONF_PORT: None}) is None
