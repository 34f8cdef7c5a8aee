"""Setup, unload, shared listener lifecycle and session recovery."""

from __future__ import annotations

import asyncio
import socket
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.evse_master.const import (
    CONF_PORT,
    CONF_STATIC_HOST,
    DOMAIN,
    SETTINGS_REFRESH_INTERVAL,
    WATCHDOG_INTERVAL,
)
from custom_components.evse_master.hub import (
    DATA_HUB,
    async_get_probe_targets,
    entry_address,
)
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import split_packet
from custom_components.evse_master.protocol.simulator import SimulatedCharger
from tests.helpers import WAIT, PhoneApp, wait_for_charger, wait_for_value

from .conftest import entry_data

STATE = "sensor.besen_bs20_charger_state"


def state_of(hass: HomeAssistant) -> str:
    """The charger state entity's state."""
    state = hass.states.get(STATE)
    assert state is not None
    return state.state


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
        title="BESEN BS20",
        data=entry_data(other, password="654321"),
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
    """A taken port makes setup retry and raises a repair issue until it frees."""
    mock_config_entry.add_to_hass(hass)
    issues = ir.async_get(hass)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
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


async def test_unavailable_when_silent_and_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Silence makes entities unavailable (logged once); recovery is automatic."""
    simulator.go_silent()
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    assert caplog.text.count("not connected") == 1
    simulator.resume()
    await wait_for_value(hass, STATE, "not_connected")
    assert "is connected" in caplog.text


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
        phone.close()  # stops answering headings: the charger drops it
        await wait_for_value(hass, STATE, "not_connected")
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
    flows = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == "reauth"
    ]
    assert len(flows) == 1
    state = init_integration.runtime_data.charger.state
    assert state.auth_failed
    assert not state.logged_in


async def test_restart_with_charger_offline(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Setup does not wait for an offline charger; it recovers by itself."""
    simulator.go_silent()
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert state_of(hass) == STATE_UNAVAILABLE
    simulator.resume()  # announces itself: we log in
    await wait_for_value(hass, STATE, "not_connected")
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_charger_moves_to_new_address(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A new IP/port (DHCP) is followed and stored for the next start."""
    await simulator.rebind("127.0.0.3")
    simulator.plug_in()
    await wait_for_value(hass, STATE, "ready")
    assert init_integration.data[CONF_HOST] == "127.0.0.3"
    assert init_integration.data[CONF_PORT] == simulator.address[1]


async def test_watchdog_retries_pinned_address(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """With a pinned IP, the watchdog retries the login while disconnected.

    The pinned address holds a silent socket that records what arrives.
    """
    loop = asyncio.get_running_loop()
    logins: asyncio.Queue[bytes] = asyncio.Queue()

    class SilentCharger(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            for datagram in split_packet(data):
                if datagram.command == Command.REQUEST_LOGIN:
                    logins.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(
        SilentCharger, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=simulator.serial,
        data=entry_data(simulator, port=port, static_host="127.0.0.1"),
    )
    simulator.go_silent()
    entry.add_to_hass(hass)
    try:
        await hass.config_entries.async_setup(entry.entry_id)
        charger = entry.runtime_data.charger
        async with asyncio.timeout(WAIT):
            await logins.get()  # the immediate login at setup
            # Let that attempt time out; a retry while it runs would be skipped.
            login = charger._login_task
            assert login is not None
            await login
        while not logins.empty():  # that login's own retries
            logins.get_nowait()
        assert state_of(hass) == STATE_UNAVAILABLE
        async_fire_time_changed(hass, dt_util.utcnow() + WATCHDOG_INTERVAL * 2)
        async with asyncio.timeout(WAIT):
            await logins.get()  # the watchdog's retry
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        transport.close()


async def test_watchdog_keeps_single_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A refused password stays one reauth flow across watchdog ticks."""
    simulator.password = "222222"
    simulator.drop_client()
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    async_fire_time_changed(hass, dt_util.utcnow() + WATCHDOG_INTERVAL * 2)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_watchdog_passes_while_connected(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A watchdog tick during a live session changes nothing."""
    async_fire_time_changed(hass, dt_util.utcnow() + WATCHDOG_INTERVAL * 2)
    await hass.async_block_till_done()
    assert state_of(hass) == "not_connected"


async def test_settings_reread_periodically(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Settings changed in the phone app show up after the periodic re-read."""
    simulator.max_current_setting = 13  # as if set in the app
    async_fire_time_changed(hass, dt_util.utcnow() + SETTINGS_REFRESH_INTERVAL * 2)
    await wait_for_value(hass, "number.besen_bs20_maximum_current", "13")


async def test_home_assistant_stop_closes_everything(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """On stop the socket closes and the charger stops its timers."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert not hass.data[DATA_HUB].shared.listener.is_open


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
