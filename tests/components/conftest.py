"""Fixtures for Home Assistant tests: a simulated charger on loopback UDP."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from dataclasses import astuple, replace
from datetime import tzinfo
from unittest.mock import PropertyMock, patch

from homeassistant.const import CONF_HOST, CONF_PASSWORD, Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master import PLATFORMS, const
from custom_components.evse_master.const import CONF_PORT, CONF_SERIAL, DOMAIN
from custom_components.evse_master.protocol import const as protocol_const
from custom_components.evse_master.protocol.charger import ChargerState, ChargerTimings
from custom_components.evse_master.protocol.listener import Address
from tests.helpers import free_udp_port, wait_for_charger
from tests.simulator import NO_QUIRKS, Quirks, SimulatedCharger, SimulatorTimings

SERIAL = "9181102751219513"
PASSWORD = "123456"

FAST_SIMULATOR = SimulatorTimings(
    announce_interval=0.05,
    heading_interval=0.1,
    missed_headings_limit=3,
    status_interval=0.5,
    charging_status_interval=0.5,
    record_resend_interval=0.1,
)
FAST_CHARGER = ChargerTimings(
    login_timeout=0.3,
    login_attempts=2,
    password_confirm_delay=0.02,
    request_timeout=1.0,
    heading_timeout=0.5,
    relogin_cooldown=0.2,
    announcement_grace=0.05,
    min_restart_interval=0.0,
    status_poll_after=5.0,
    probe_interval=0.5,
)


PATIENT_CHARGER = replace(
    FAST_CHARGER,
    heading_timeout=3600.0,
    probe_interval=3600.0,
    pushes_stopped_after=3600.0,
)
"""For tests that move the clock by minutes: the session survives the jump."""


@pytest.fixture(autouse=True)
def listen_port() -> Generator[int]:
    """Our listener binds a free loopback port instead of 0.0.0.0:28376."""
    port = free_udp_port()
    with (
        patch.object(protocol_const, "LISTEN_HOST", "127.0.0.1"),
        patch.object(protocol_const, "LISTEN_PORT", port),
        patch.object(const, "CHARGER_TIMINGS", FAST_CHARGER),
        patch.object(const, "DISCOVERY_WAIT", 0.5),
        patch.object(const, "CONNECT_WAIT", 0.5),
        patch.object(const, "SETUP_TIMEOUT", 1.0),
    ):
        yield port


@pytest.fixture
def probe_targets() -> Generator[list[Address]]:
    """Where the discovery probe goes: simulators append their address."""
    targets: list[Address] = []

    async def get_targets(_hass: HomeAssistant) -> list[Address]:
        return list(targets)

    with patch(
        "custom_components.evse_master.hub.async_get_probe_targets", get_targets
    ):
        yield targets


@pytest.fixture
def charger_model() -> str:
    """Simulated model; override with parametrize."""
    return "bs20"


@pytest.fixture
def quirks() -> Quirks:
    """How the simulated charger deviates from real units; override to test it."""
    return NO_QUIRKS


@pytest.fixture
def charger_time_zone(hass: HomeAssistant) -> tzinfo:
    """The zone the simulated charger's clock shows: its owner's, Home Assistant's."""
    return dt_util.get_default_time_zone()


@pytest.fixture
async def simulator(
    listen_port: int,
    charger_model: str,
    probe_targets: list[Address],
    quirks: Quirks,
    charger_time_zone: tzinfo,
) -> AsyncGenerator[SimulatedCharger]:
    """A charger on 127.0.0.1 that talks to our listener's port."""
    sim = SimulatedCharger(
        SERIAL,
        PASSWORD,
        charger_model,
        client_port=listen_port,
        timings=FAST_SIMULATOR,
        quirks=quirks,
        time_zone=charger_time_zone,
    )
    await sim.start()
    probe_targets.append(sim.address)
    yield sim
    await sim.stop()


def entry_data(sim: SimulatedCharger, **overrides: object) -> dict[str, object]:
    """Config entry data as the config flow stores it for ``sim``."""
    data: dict[str, object] = {
        CONF_SERIAL: sim.serial,
        CONF_PASSWORD: PASSWORD,
        CONF_HOST: sim.address[0],
        CONF_PORT: sim.address[1],
    }
    data.update(overrides)
    return data


@pytest.fixture
def entry_options() -> dict[str, object]:
    """Options of the entry (the options flow's choices); override to test them."""
    return {}


@pytest.fixture
def mock_config_entry(
    simulator: SimulatedCharger, entry_options: dict[str, object]
) -> MockConfigEntry:
    """An entry for the simulated charger, with its address known."""
    model = simulator.model
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{model.brand} {model.model}",
        unique_id=simulator.serial,
        data=entry_data(simulator),
        options=entry_options,
        minor_version=2,
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the entry and wait until the charger session delivers data."""
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for_charger(
        mock_config_entry.runtime_data.charger,
        lambda state: (
            state.logged_in
            and state.status is not None
            and state.settings.max_current is not None
        ),
    )
    await hass.async_block_till_done()
    yield mock_config_entry
    await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to load; platform tests override it with their own."""
    return list(PLATFORMS)


@pytest.fixture
def charger_timings() -> ChargerTimings:
    """Timings of the entry's charger; some tests parametrize it."""
    return FAST_CHARGER


@pytest.fixture(autouse=True)
def only_platforms(
    listen_port: int, platforms: list[Platform], charger_timings: ChargerTimings
) -> Generator[None]:
    """Load ``platforms`` with ``charger_timings`` (setup and unload read both)."""
    with (
        patch("custom_components.evse_master.PLATFORMS", platforms),
        patch.object(const, "CHARGER_TIMINGS", charger_timings),
    ):
        yield


def everything_read(state: ChargerState) -> bool:
    """Whether login, status, session, version and every setting arrived."""
    return (
        state.logged_in
        and None not in (state.status, state.session, state.version)
        and None not in astuple(state.settings)
    )


@pytest.fixture
async def loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> MockConfigEntry:
    """The set-up entry once everything the charger reports has arrived."""
    await wait_for_charger(init_integration.runtime_data.charger, everything_read)
    await hass.async_block_till_done()
    return init_integration


@pytest.fixture
async def pinned_entry(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> AsyncGenerator[MockConfigEntry]:
    """An entry whose charger IP is pinned (Reconfigure), set up; unloaded after."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=simulator.serial,
        title="BESEN BS20",
        data=entry_data(simulator, static_host="127.0.0.1"),
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for_charger(entry.runtime_data.charger, lambda s: s.logged_in)
    yield entry
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, including the ones disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield
