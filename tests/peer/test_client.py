"""evsemaster's client (PyPI ``evsemaster`` 3.0.0) against our simulated charger.

Used as its README shows: one ``EvseListener`` (here on a free 127.0.0.1
port), a device added by host and password, parsed models through
``on_event``. The device learns the charger's port from its announcement,
which is how the README says the library finds a charger, and logs in on it;
the tests then call ``login()`` and the commands themselves.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
import logging
from typing import Any

from evsemaster import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    CurrentStateEnum,
    NotLoggedInError,
    PlugStateEnum,
    StopReasonEnum,
    UnsupportedOperationError,
)
import pytest

from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.messages import (
    ChargeRecordAck,
    ChargeStart,
)
from tests.components.conftest import PASSWORD, SERIAL
from tests.simulator import SimulatedCharger

from .support import PEER_SIMULATOR, LogWaiter, PeerEvents, within

WRONG_PASSWORD = "654321"
EVENT_STATUS = "EvseStatus"
EVENT_INFO = "EvseDeviceInfo"
EVENT_SESSION = "ChargingStatus"
EVENT_RECORD = "ChargeRecord"


@pytest.fixture
def charger_model() -> str:
    """Simulated model; parametrized by some tests."""
    return "bs20"


@pytest.fixture
async def sim(
    peer_listener: Any, charger_model: str
) -> AsyncGenerator[SimulatedCharger]:
    """Our simulated charger, not started; it announces to evsemaster's listener."""
    # evsemaster converts times with the process's own zone.
    local_zone = datetime.now().astimezone().tzinfo
    assert local_zone is not None
    simulator = SimulatedCharger(
        SERIAL,
        PASSWORD,
        charger_model,
        client_port=peer_listener.listen_port,
        timings=PEER_SIMULATOR,
        time_zone=local_zone,
    )
    yield simulator
    await simulator.stop()


async def add_device(listener: Any, password: str = PASSWORD) -> tuple[Any, PeerEvents]:
    """Add our simulator's host to evsemaster's listener, as its README does."""
    events = PeerEvents()
    device = await listener.async_add_device(
        host="127.0.0.1", password=password, on_event=events
    )
    return device, events


@pytest.fixture
async def device(peer_listener: Any, sim: SimulatedCharger) -> tuple[Any, PeerEvents]:
    """An evsemaster device logged in to the simulator, status and session read.

    The simulator's announcement tells the device where the charger is, and
    the device logs in on it by itself.
    """
    device, events = await add_device(peer_listener)
    status = events.next(EVENT_STATUS)
    session = events.next(EVENT_SESSION)
    await sim.start()
    await within(status)
    await within(session)
    assert device.is_authorised
    assert device.is_receiving
    return device, events


async def test_login(
    peer_listener: Any, sim: SimulatedCharger, device: tuple[Any, PeerEvents]
) -> None:
    """The device learned serial and port; login() logs in again; headings keep it."""
    evse, _ = device
    assert evse.serial == sim.serial
    assert (evse.host_ip, evse.send_port) == sim.address
    info = evse.get_latest_device_info()
    model = sim.model
    assert (info.brand, info.model) == (model.brand, model.model)
    assert info.firmware_version == model.hardware_version
    assert (info.max_amps, info.max_power) == (model.max_current, model.max_power)
    assert info.serial_number == sim.serial

    confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
    assert await within(evse.login())
    await within(confirmed)
    assert sim.client == ("127.0.0.1", peer_listener.listen_port)
    # Its heading answers keep the session: the simulator drops a client
    # after three unanswered headings.
    await within(sim.wait_for(Command.HEADING_RESPONSE, count=4))
    assert sim.client == ("127.0.0.1", peer_listener.listen_port)
    assert evse.is_receiving


async def test_wrong_password(peer_listener: Any, sim: SimulatedCharger) -> None:
    """Our PasswordError: login() is False, nothing is authorised, commands raise."""
    evse, events = await add_device(peer_listener, WRONG_PASSWORD)
    refused = LogWaiter("Password error")
    logger = logging.getLogger("evsemaster.device")
    logger.addHandler(refused)
    try:
        await sim.start()
        # The announcement makes the device try by itself: refused.
        record = await within(refused.future)
        assert record.levelno == logging.ERROR
        # An announcement handled after the refusal: by then the refused
        # attempt has returned, so login() below makes a new one.
        await within(events.next(EVENT_INFO))
        asked = sim.wait_for(Command.REQUEST_LOGIN)
        assert await within(evse.login()) is False
        assert asked.done()
    finally:
        logger.removeHandler(refused)
    assert sim.received[-1].password == WRONG_PASSWORD.encode()
    assert not evse.is_authorised
    assert not evse.is_receiving
    assert sim.client is None
    with pytest.raises(NotLoggedInError):
        await evse.request_status()
    with pytest.raises(NotLoggedInError):
        await evse.start_charging()
    assert not any(d.command == Command.LOGIN_CONFIRM for d in sim.received)


@pytest.mark.parametrize("charger_model", ["bs20", "bs20-3p", "ec311s"])
async def test_status(sim: SimulatedCharger, device: tuple[Any, PeerEvents]) -> None:
    """Status and charging status read as the simulator sends them, and follow it."""
    evse, events = device
    status = evse.get_latest_status()
    assert status.l1_voltage == sim.voltage
    assert status.l1_amps == 0
    assert status.current_power == 0
    assert status.total_kwh == pytest.approx(sim.total_energy)
    assert status.inner_temperature == sim.temperature_inner
    assert status.outer_temperature == sim.temperature_outer
    assert status.emergency_stop is False
    assert status.faults == []
    assert status.plug_state == PlugStateEnum.DISCONNECTED == sim.gun_state
    assert status.output_state == sim.output_state
    assert status.current_state == CurrentStateEnum.NOT_CONNECTED == sim.current_state
    wired = (sim.voltage if sim.phases == 3 else 0.0,) * 2
    assert (status.l2_voltage, status.l3_voltage) == wired

    session = evse.get_latest_charging_status()
    assert session is not None
    assert session.max_electricity == sim.max_current_setting
    assert session.charge_kwh == 0

    plugged = events.next(
        EVENT_STATUS, lambda s: s.plug_state == PlugStateEnum.CONNECTED_UNLOCKED
    )
    sim.plug_in()
    status = await within(plugged)
    assert status.current_state == CurrentStateEnum.READY_TO_CHARGE
    assert evse.get_latest_status().plug_state == sim.gun_state


async def test_start_and_stop(
    sim: SimulatedCharger, device: tuple[Any, PeerEvents]
) -> None:
    """start_charging() starts a session at the configured current; stop ends it.

    The library acknowledges the session's record (0x8009) by its charge id.
    """
    evse, events = device
    ready = events.next(
        EVENT_STATUS, lambda s: s.current_state == CurrentStateEnum.READY_TO_CHARGE
    )
    sim.plug_in()
    await within(ready)

    charging = events.next(
        EVENT_STATUS, lambda s: s.current_state == CurrentStateEnum.CHARGING
    )
    request = sim.wait_for(Command.CHARGE_START)
    assert await evse.start_charging()
    start = ChargeStart.parse((await within(request)).payload)
    status = await within(charging)
    assert sim.charging
    assert evse.is_charging
    configured = evse.get_latest_device_info().configured_max_amps
    assert start.max_current == sim.session_current == configured
    assert status.output_state == sim.output_state
    assert status.l1_amps == sim.session_current

    record = events.next(EVENT_RECORD)
    idle = events.next(
        EVENT_STATUS, lambda s: s.current_state == CurrentStateEnum.READY_TO_CHARGE
    )
    ack = sim.wait_for(Command.CURRENT_CHARGE_RECORD_ACK)
    stopped = sim.wait_for(Command.CHARGE_STOP)
    assert await evse.stop_charging()
    await within(stopped)
    finished = await within(record)
    await within(idle)
    assert not sim.charging
    assert not evse.is_charging
    assert finished.charge_id == start.charge_id
    assert finished.stop_reason == StopReasonEnum.CLIENT
    assert finished.stopped_by == evse.user_id
    assert finished.started_by == evse.user_id
    assert ChargeRecordAck.parse((await within(ack)).payload).charge_id == (
        start.charge_id
    )


async def test_set_and_read_current(
    sim: SimulatedCharger, device: tuple[Any, PeerEvents]
) -> None:
    """set_output_amperage() stores it; a GET reads back a change made elsewhere."""
    evse, events = device
    before = evse.get_latest_device_info().configured_max_amps
    assert before == sim.max_current_setting
    wanted = 10 if before != 10 else 11

    echoed = events.next(EVENT_INFO, lambda i: i.configured_max_amps == wanted)
    assert await evse.set_output_amperage(wanted)
    await within(echoed)
    assert sim.max_current_setting == wanted

    # Changed by someone else (the phone app): the library's GET sees it.
    sim.max_current_setting = wanted + 1
    read = events.next(EVENT_INFO, lambda i: i.configured_max_amps == wanted + 1)
    await evse.request_essentials()
    await within(read)
    assert evse.get_latest_device_info().configured_max_amps == wanted + 1

    with pytest.raises(ValueError, match="between 6 and 32"):
        await evse.set_output_amperage(sim.model.max_current + 1)
    assert sim.max_current_setting == wanted + 1


@pytest.mark.parametrize("charger_model", ["ec311s"])
async def test_ec311s_current_refused_while_charging(
    sim: SimulatedCharger, device: tuple[Any, PeerEvents]
) -> None:
    """The library knows our simulated Telestar EC311S ignores a current mid-session."""
    evse, events = device
    charging = events.next(
        EVENT_STATUS, lambda s: s.current_state == CurrentStateEnum.CHARGING
    )
    sim.plug_in()
    assert await evse.start_charging()
    await within(charging)
    assert not evse.capabilities.amps_while_charging
    with pytest.raises(UnsupportedOperationError):
        await evse.set_output_amperage(8)
    assert sim.max_current_setting == sim.session_current
