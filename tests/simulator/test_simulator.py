"""Tests of the simulated charger, driven over loopback UDP with raw datagrams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import logging
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
from typing import Any

import pytest

from custom_components.evse_master.protocol.enums import (
    Action,
    ChargeStartError,
    ChargeType,
    Command,
    CurrentState,
    Fault,
    GunState,
    Language,
    OutputState,
    ReservationResult,
    StartMode,
    StopReason,
    TemperatureUnit,
    decode_faults,
)
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    NO_PASSWORD,
    PROBE_SERIAL,
    Datagram,
    password_field,
    split_packet,
)
from custom_components.evse_master.protocol.messages import (
    ChargeRecord,
    ChargeRecordAck,
    ChargeStart,
    ChargeStartResponse,
    ChargeStop,
    ChargeStopResponse,
    ChargingStatus,
    DeviceInfo,
    LanguageSetting,
    LcdBrightness,
    Message,
    Nickname,
    OutputCurrent,
    PlanDay,
    StartModeSetting,
    Status,
    SystemTime,
    TemperatureUnitSetting,
    Version,
    WeeklyPlan,
)
from tests.simulator import (
    MODELS,
    NO_QUIRKS,
    ChargerModel,
    Quirks,
    SimulatedCharger,
    SimulatorTimings,
    charger as simulator_module,
    cli,
)
from tests.simulator.cli import build_parser, main
from tests.simulator.quirks import HeaderPassword

SERIAL = "9181102751219513"
PASSWORD = "123456"
PASSWORD_FIELD = password_field(PASSWORD)
WAIT = 2.0
"""Upper bound for anything that should happen within milliseconds."""
ROOT = Path(__file__).parents[2]

QUIET = SimulatorTimings(
    announce_interval=30,
    heading_interval=30,
    status_interval=30,
    charging_status_interval=30,
    record_resend_interval=30,
)
"""One announcement at start, then only what a test triggers."""
FAST = SimulatorTimings(
    announce_interval=0.02,
    heading_interval=0.02,
    missed_headings_limit=3,
    status_interval=30,
    charging_status_interval=30,
    record_resend_interval=0.02,
)

type Address = tuple[str, int]
type MakeSim = Callable[..., Awaitable[SimulatedCharger]]


class Client(asyncio.DatagramProtocol):
    """A loopback socket playing the client: sends requests, queues replies."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[Datagram, Address]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0) -> Client:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_datagram_endpoint(cls, local_addr=(host, port))
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        for datagram in split_packet(data):
            self.inbox.put_nowait((datagram, (str(addr[0]), int(str(addr[1])))))

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()

    def send_raw(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    def send(
        self,
        to: SimulatedCharger,
        command: int,
        payload: bytes | Message = b"",
        *,
        password: bytes = PASSWORD_FIELD,
        serial: str = SERIAL,
    ) -> None:
        if not isinstance(payload, bytes):
            payload = payload.build()
        self.send_raw(Datagram(serial, command, payload, password).encode(), to.address)

    async def receive(self, timeout: float = WAIT) -> tuple[Datagram, Address]:
        async with asyncio.timeout(timeout):
            return await self.inbox.get()

    async def expect_from(
        self, command: int, timeout: float = WAIT
    ) -> tuple[Datagram, Address]:
        """Next datagram with ``command``, skipping others, and its source."""
        async with asyncio.timeout(timeout):
            while True:
                datagram, address = await self.inbox.get()
                if datagram.command == command:
                    return datagram, address

    async def expect(self, command: int) -> Datagram:
        return (await self.expect_from(command))[0]

    async def ask(
        self, sim: SimulatedCharger, command: int, payload: bytes | Message = b""
    ) -> Datagram:
        """Send a request and return the reply (request id - 0x8000)."""
        self.send(sim, command, payload)
        return await self.expect(command - 0x8000)

    async def until(self, command: int) -> list[Datagram]:
        """Everything received up to and including the next ``command``."""
        seen: list[Datagram] = []
        async with asyncio.timeout(WAIT):
            while not seen or seen[-1].command != command:
                seen.append((await self.inbox.get())[0])
        return seen

    async def flush(self, sim: SimulatedCharger) -> list[Datagram]:
        """What the charger sent before answering a request sent now.

        The charger handles datagrams in order and loopback keeps that order,
        so everything it sent earlier arrives before the reply.
        """
        self.send(sim, Command.STATUS_REQUEST)
        return (await self.until(Command.STATUS_RESPONSE))[:-1]

    async def nothing_within(self, seconds: float) -> None:
        """Assert that no datagram arrives for ``seconds`` (a negative check)."""
        try:
            async with asyncio.timeout(seconds):
                datagram = await self.inbox.get()
        except TimeoutError:
            return
        pytest.fail(f"unexpected {datagram}")


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    client = await Client.open()
    yield client
    client.close()


@pytest.fixture
async def make_sim(client: Client) -> AsyncIterator[MakeSim]:
    sims: list[SimulatedCharger] = []

    async def make(
        model: str | ChargerModel = "bs20",
        timings: SimulatorTimings = QUIET,
        **kwargs: Any,
    ) -> SimulatedCharger:
        sim = SimulatedCharger(
            SERIAL,
            PASSWORD,
            model,
            client_port=client.port,
            timings=timings,
            **kwargs,
        )
        await sim.start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        await sim.stop()


async def login(client: Client, sim: SimulatedCharger) -> None:
    reply = await client.ask(sim, Command.REQUEST_LOGIN)
    assert reply.command == Command.LOGIN_RESPONSE
    confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
    client.send(sim, Command.LOGIN_CONFIRM, b"\x01")
    async with asyncio.timeout(WAIT):
        await confirmed
    assert sim.client == ("127.0.0.1", client.port)


def start_request(
    amps: int = 16, *, line_id: int = 1, charge_type: int = ChargeType.NORMAL
) -> ChargeStart:
    return ChargeStart(
        line_id=line_id,
        user_id="tester",
        charge_id="2026010112000001",
        is_reservation=False,
        start_time=0,
        max_current=amps,
        charge_type=charge_type,
    )


async def start_charging(
    client: Client, sim: SimulatedCharger, request: ChargeStart | None = None
) -> ChargeStartResponse:
    reply = await client.ask(sim, Command.CHARGE_START, request or start_request())
    return ChargeStartResponse.parse(reply.payload)


async def next_status(client: Client) -> Status:
    return Status.parse((await client.expect(Command.STATUS)).payload)


# --- discovery and login ---


async def test_announces_at_start_and_while_no_client(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim(timings=FAST)
    for _ in range(3):
        datagram, source = await client.expect_from(Command.LOGIN_ANNOUNCEMENT)
        assert source == sim.address
        assert datagram.serial == SERIAL
        assert datagram.password == CHARGER_PASSWORD_FIELD
    info = DeviceInfo.parse(datagram.payload)
    assert (info.device_type, info.brand, info.model) == (1, "BESEN", "BS20")
    assert (info.max_current, info.max_power) == (32, 7040)
    assert sim.announce_to == ("127.0.0.1", client.port)


async def test_wrong_password_and_probe_get_password_error(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim()
    client.send(sim, Command.REQUEST_LOGIN, password=b"654321")
    refusal = await client.expect(Command.PASSWORD_ERROR)
    assert (refusal.serial, refusal.payload) == (SERIAL, b"\x00")
    client.send(sim, Command.STATUS_REQUEST, password=b"654321")
    await client.expect(Command.PASSWORD_ERROR)

    client.send(sim, Command.REQUEST_LOGIN, serial=PROBE_SERIAL, password=NO_PASSWORD)
    probe_reply, source = await client.expect_from(Command.PASSWORD_ERROR)
    assert (probe_reply.serial, source) == (SERIAL, sim.address)
    assert sim.client is None
    # A zero serial with any other command is no probe.
    client.send(sim, Command.STATUS_REQUEST, serial=PROBE_SERIAL)
    assert await client.flush(sim) == []


async def test_other_serials_are_ignored(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await client.expect(Command.LOGIN_ANNOUNCEMENT)
    client.send(sim, Command.REQUEST_LOGIN, serial="8368555670377598")
    assert await client.flush(sim) == []
    assert [d.command for d in sim.received] == [Command.STATUS_REQUEST]


async def test_login_heads_the_client_and_drops_it_when_silent(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim(timings=FAST)
    await login(client, sim)
    # Answered headings keep the session alive well past the limit.
    for _ in range(FAST.missed_headings_limit + 2):
        heading = await client.expect(Command.HEADING)
        assert heading.payload == b""
        answered = sim.wait_for(Command.HEADING_RESPONSE)
        client.send(sim, Command.HEADING_RESPONSE, b"\x00")
        async with asyncio.timeout(WAIT):
            await answered
    assert sim.client is not None
    # Unanswered: three more headings, then the charger announces again.
    unanswered = await client.until(Command.LOGIN_ANNOUNCEMENT)
    headings = [d for d in unanswered if d.command == Command.HEADING]
    # One more if the last one left before our answer to the previous one arrived.
    limit = FAST.missed_headings_limit
    assert limit <= len(headings) <= limit + 1
    assert sim.client is None


async def test_login_from_another_host_takes_the_session_over(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim(timings=FAST)
    await login(client, sim)
    phone = await Client.open("127.0.0.2", client.port)
    try:
        phone.send(sim, Command.REQUEST_LOGIN)
        await phone.expect(Command.LOGIN_RESPONSE)
        confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
        phone.send(sim, Command.LOGIN_CONFIRM)
        async with asyncio.timeout(WAIT):
            await confirmed
        assert sim.client == ("127.0.0.2", client.port)
        await client.flush(sim)  # what was on its way before the takeover
        await phone.expect(Command.HEADING)
        await phone.expect(Command.HEADING)
        assert Command.HEADING not in [d.command for d in await client.flush(sim)]
        # A heading answer from the old client does not count for the new one.
        client.send(sim, Command.HEADING_RESPONSE)
        await phone.expect(Command.HEADING)
    finally:
        phone.close()


async def test_drop_client_and_refused_login(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    await client.flush(sim)
    sim.drop_client()
    assert sim.client is None
    await client.expect(Command.LOGIN_ANNOUNCEMENT)

    sim.refuse_next[Command.LOGIN_CONFIRM] = 7
    client.send(sim, Command.LOGIN_CONFIRM)
    refusal = await client.expect(Command.PASSWORD_ERROR)
    assert refusal.payload == b"\x07"
    assert sim.client is None
    assert sim.refuse_next == {}


async def test_password_can_change(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    sim.password = "999999"
    assert sim.password == "999999"
    client.send(sim, Command.REQUEST_LOGIN)
    await client.expect(Command.PASSWORD_ERROR)
    client.send(sim, Command.REQUEST_LOGIN, password=b"999999")
    await client.expect(Command.LOGIN_RESPONSE)


# --- sessions ---


async def test_start_refused_when_unplugged(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    response = await start_charging(client, sim)
    assert response.error == ChargeStartError.NOT_PLUGGED_IN
    assert not response.accepted
    assert not sim.charging


async def test_start_and_stop_a_session(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.plug_in()
    status = await next_status(client)
    assert (status.current_state, status.gun_state) == (
        CurrentState.READY_TO_CHARGE,
        GunState.CONNECTED_UNLOCKED,
    )
    assert len(status.build()) == 25
    before = status.total_energy
    assert before == pytest.approx(1234.56)

    response = await start_charging(client, sim, start_request(16))
    assert response.accepted
    assert (response.reservation_result, response.max_current) == (
        ReservationResult.IMMEDIATE,
        16,
    )
    status = await next_status(client)
    assert status.current_state == CurrentState.CHARGING
    assert status.gun_state == GunState.CONNECTED_LOCKED
    assert status.output_state == OutputState.CHARGING
    assert status.l1.current == 16
    assert status.power == 230 * 16
    session = ChargingStatus.parse(
        (await client.expect(Command.CHARGING_STATUS)).payload
    )
    assert session.current_state == CurrentState.CHARGING
    assert (session.charge_id, session.user_id, session.max_current) == (
        "2026010112000001",
        "tester",
        16,
    )
    assert sim.charging
    assert sim.session_current == 16

    again = await start_charging(client, sim)
    assert again.error == ChargeStartError.ALREADY_CHARGING
    assert again.reservation_result == ReservationResult.ALREADY_CHARGING

    sim.add_energy(1.5)
    status = await next_status(client)
    assert status.total_energy is not None
    assert before is not None
    assert status.total_energy >= before + 1.5
    polled = ChargingStatus.parse(
        (await client.ask(sim, Command.CHARGING_STATUS_REQUEST)).payload
    )
    assert polled.session_energy >= 1.5
    assert polled.start_energy == pytest.approx(before)

    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "stopper"))
    assert ChargeStopResponse.parse(stop.payload) == ChargeStopResponse(1, 1, 0)
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.STOPPED_BY_APP
    assert (record.started_by, record.stopped_by) == ("tester", "stopper")
    assert record.charge_id == "2026010112000001"
    assert record.session_energy >= 1.5
    status = await next_status(client)
    assert status.current_state == CurrentState.READY_TO_CHARGE
    assert status.output_state == OutputState.IDLE
    assert (sim.charging, sim.session_current) == (False, 0)
    assert sim.session_energy >= 1.5

    not_charging = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    assert ChargeStopResponse.parse(not_charging.payload).fail_reason == 1


async def test_start_rejects_currents_out_of_range(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim("ec311s")
    sim.plug_in()
    for amps in (5, 17):
        response = await start_charging(client, sim, start_request(amps))
        assert response.error == ChargeStartError.INCORRECT_POWER_OR_ENERGY
        assert response.reservation_result == ReservationResult.INCORRECT_POWER
    sim.set_faults([Fault.CP_ERROR])
    response = await start_charging(client, sim)
    assert response.error == ChargeStartError.SYSTEM_ERROR


async def test_unplug_ends_the_session(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.plug_in()
    await start_charging(client, sim)
    sim.unplug()
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.UNPLUGGED
    status = await next_status(client)
    assert (status.current_state, status.gun_state) == (
        CurrentState.NOT_CONNECTED,
        GunState.DISCONNECTED,
    )
    sim.unplug()  # already out: nothing happens
    sim.plug_in()
    sim.plug_in()
    sim.unplug()
    assert not sim.plugged


async def test_three_phase_and_forced_single_phase(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim("bs20-3p")
    await login(client, sim)
    sim.plug_in()
    await start_charging(client, sim, start_request(10, line_id=2))
    status = await next_status(client)
    assert len(status.build()) == 33
    assert [p.current for p in status.phases] == [10, 10, 10]
    assert [p.voltage for p in status.phases] == [230, 230, 230]
    assert status.power == 3 * 230 * 10
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(2, "x"))

    single = start_request(10, line_id=1, charge_type=ChargeType.SINGLE_PHASE)
    await start_charging(client, sim, single)
    status = await next_status(client)
    assert [p.current for p in status.phases] == [10, 0, 0]
    assert status.power == 230 * 10


async def test_single_phase_wiring_of_a_three_phase_model(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim("bs20-3p", phases=1)
    sim.plug_in()
    await start_charging(client, sim, start_request(16, line_id=2))
    status = Status.parse((await client.ask(sim, Command.STATUS_REQUEST)).payload)
    readings = (status.l1, status.l2, status.l3)
    assert [(p.voltage, p.current) for p in readings if p] == [
        (230, 16),
        (0, 0),
        (0, 0),
    ]
    assert status.phase_count == 1


async def test_energy_accumulates_from_elapsed_time(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim()
    sim.plug_in()
    await start_charging(client, sim)
    start = sim.total_energy
    # Let the session run across a couple of loop turns.
    await client.ask(sim, Command.STATUS_REQUEST)
    await client.ask(sim, Command.STATUS_REQUEST)
    assert sim.total_energy > start
    assert sim.session_energy > 0
    assert sim.session_energy == pytest.approx(sim.total_energy - 1234.56, abs=1e-9)


@pytest.mark.parametrize(("model", "applies"), [("bs20", True), ("ec311s", False)])
async def test_max_current_mid_session(
    client: Client, make_sim: MakeSim, model: str, applies: bool
) -> None:
    sim = await make_sim(model)
    await login(client, sim)
    sim.plug_in()
    await start_charging(client, sim, start_request(10))
    await client.flush(sim)
    reply = await client.ask(sim, Command.OUTPUT_CURRENT, OutputCurrent.set(12))
    assert OutputCurrent.parse(reply.payload) == OutputCurrent(Action.SET, 12)
    assert sim.max_current_setting == 12
    pushed = await client.flush(sim)
    assert (Command.STATUS in [d.command for d in pushed]) is applies
    status = Status.parse((await client.ask(sim, Command.STATUS_REQUEST)).payload)
    assert status.l1.current == (12 if applies else 10)
    assert sim.session_current == (12 if applies else 10)
    # The same value again changes nothing.
    await client.ask(sim, Command.OUTPUT_CURRENT, OutputCurrent.set(12))
    assert await client.flush(sim) == []


async def test_faults_and_emergency_stop(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.set_faults([Fault.OVER_VOLTAGE])
    status = await next_status(client)
    assert status.current_state == CurrentState.EVSE_FAULT
    assert decode_faults(status.errors) == (Fault.OVER_VOLTAGE,)
    sim.set_faults([])
    assert (await next_status(client)).errors == 0

    sim.plug_in()
    await start_charging(client, sim)
    sim.set_emergency_stop(True)
    assert sim.emergency_stop
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.FAULT_EMERGENCY_STOP
    status = await next_status(client)
    assert status.emergency_stop
    assert status.emergency_button == 2
    assert Fault.EMERGENCY_STOP in decode_faults(status.errors)
    assert sim.faults == (Fault.EMERGENCY_STOP,)
    sim.set_emergency_stop(False)
    assert (await next_status(client)).emergency_button == 1

    await start_charging(client, sim)
    sim.set_faults([Fault.LEAKAGE_PROTECTION])
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.POWER_FAILURE


async def test_reservation(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.plug_in()
    planned = ChargeStart(
        line_id=1,
        user_id="planner",
        charge_id="2026010112000002",
        is_reservation=True,
        start_time=sim.clock_em + 3600,
        max_current=8,
    )
    response = await start_charging(client, sim, planned)
    assert response.reservation_result == ReservationResult.RESERVATION_OK
    assert response.accepted
    assert (
        await next_status(client)
    ).current_state == CurrentState.CHARGING_RESERVATION
    assert sim.session_current == 8
    assert not sim.charging
    second = await start_charging(client, sim)
    assert second.error == ChargeStartError.ALREADY_RESERVED

    sim.start_reservation()
    assert (await next_status(client)).current_state == CurrentState.CHARGING
    assert (sim.charging, sim.reserved) == (True, False)
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    sim.start_reservation()  # nothing planned any more

    # Cancelling a plan records a cancelled reservation.
    await start_charging(client, sim, planned)
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.RESERVATION_CANCELLED
    assert record.has_reservation == 1

    # A plan whose car is gone, or whose charger has a fault, ends when due.
    await start_charging(client, sim, planned)
    sim.unplug()
    sim.start_reservation()
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.RESERVATION_NO_CAR
    sim.plug_in()
    await start_charging(client, sim, planned)
    sim.set_faults([Fault.OVER_CURRENT])
    sim.start_reservation()
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.stop_reason == StopReason.FAULT_OVER_CURRENT
    sim.set_faults([])

    too_far = ChargeStart(1, "p", "c", True, sim.clock_em + 2 * 86400, 8)
    response = await start_charging(client, sim, too_far)
    assert response.reservation_result == ReservationResult.TIME_TOO_FAR
    assert response.error == ChargeStartError.INCORRECT_TIME
    past = ChargeStart(1, "p", "c", True, sim.clock_em - 60, 8)
    response = await start_charging(client, sim, past)
    assert response.reservation_result == ReservationResult.TIME_IN_PAST_STARTED_NOW
    assert sim.output_state == OutputState.CHARGING

    # Stopping the charger cancels the timer of a plan.
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    await start_charging(client, sim, planned)
    await sim.stop()
    assert sim.reserved


async def test_session_end_without_client_is_stored(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim(timings=FAST)
    sim.plug_in()
    await start_charging(client, sim)
    sim.unplug()
    await login(client, sim)
    stored = ChargeRecord.parse(
        (await client.expect(Command.LOCAL_CHARGE_RECORD)).payload
    )
    assert stored.stop_reason == StopReason.UNPLUGGED


# --- settings ---


async def test_settings_round_trip(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim("ec311s")

    async def setting(command: int, request: Message) -> bytes:
        return (await client.ask(sim, command, request)).payload

    assert OutputCurrent.parse(
        await setting(Command.OUTPUT_CURRENT, OutputCurrent.get())
    ) == (OutputCurrent(Action.GET, 16))
    for amps, expected in ((6, 6), (17, 6), (5, 6), (16, 16)):
        reply = OutputCurrent.parse(
            await setting(Command.OUTPUT_CURRENT, OutputCurrent.set(amps))
        )
        assert reply.value == expected
    assert sim.max_current_setting == 16

    reply_name = Nickname.parse(
        await setting(Command.NICKNAME, Nickname(Action.SET, "Garage"))
    )
    assert reply_name == Nickname(Action.SET, "Garage")
    assert sim.nickname == "Garage"
    raw = (await client.ask(sim, Command.NICKNAME, Nickname.get())).payload
    assert raw[1:12] == b"ACP#Garage\x00"
    too_long = Nickname(Action.SET, "A" * 12)
    assert Nickname.parse(await setting(Command.NICKNAME, too_long)).name == "Garage"

    language = LanguageSetting.parse(
        await setting(Command.LANGUAGE, LanguageSetting.set(Language.GERMAN))
    )
    assert language.language == Language.GERMAN == sim.language
    assert (
        LanguageSetting.parse(
            await setting(Command.LANGUAGE, LanguageSetting.set(99))
        ).language
        == Language.GERMAN
    )
    unit = TemperatureUnitSetting.parse(
        await setting(
            Command.TEMPERATURE_UNIT,
            TemperatureUnitSetting.set(TemperatureUnit.FAHRENHEIT),
        )
    )
    assert unit.unit == TemperatureUnit.FAHRENHEIT == sim.temperature_unit
    mode = StartModeSetting.parse(
        await setting(Command.START_MODE, StartModeSetting.set(StartMode.APP_REQUIRED))
    )
    assert mode.mode == StartMode.APP_REQUIRED == sim.start_mode
    got = StartModeSetting.parse(
        await setting(Command.START_MODE, StartModeSetting.get())
    )
    assert got == StartModeSetting(Action.GET, StartMode.APP_REQUIRED)

    brightness = LcdBrightness.parse(
        await setting(Command.LCD_BRIGHTNESS, LcdBrightness.set(40))
    )
    assert brightness.level == 40 == sim.lcd_brightness
    assert (
        LcdBrightness.parse(
            await setting(Command.LCD_BRIGHTNESS, LcdBrightness.set(101))
        ).level
        == 40
    )
    assert (
        LcdBrightness.parse(
            await setting(Command.LCD_BRIGHTNESS, LcdBrightness.get())
        ).level
        == 40
    )

    clock = SystemTime.parse(await setting(Command.SYSTEM_TIME, SystemTime.get()))
    assert clock.action == Action.GET
    assert clock.time is not None
    assert abs(clock.time - sim.clock_em) <= 1
    target = sim.clock_em - 31 * 86400
    echoed = SystemTime.parse(
        await setting(Command.SYSTEM_TIME, SystemTime(Action.SET, target))
    )
    assert echoed.time is not None
    assert abs(echoed.time - target) <= 1
    assert abs(sim.clock_em - target) <= 1

    version = Version.parse((await client.ask(sim, Command.GET_VERSION)).payload)
    assert (version.hardware_version, version.software_version) == (
        "EC311S.HW.1.0",
        "EC311S.SW.1.0",
    )
    status = await client.ask(sim, Command.STATUS_REQUEST)
    assert len(status.payload) == 33
    parsed = Status.parse(status.payload)
    assert parsed.l2 is not None
    assert parsed.l2.voltage == 0
    assert parsed.inner_temperature == 25.0


async def test_measurements(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.set_measurements(
        voltage=240.0, temperature_inner=30.5, temperature_outer=-5.25, total_energy=10
    )
    status = await next_status(client)
    assert status.l1.voltage == 240
    assert (status.inner_temperature, status.outer_temperature) == (30.5, -5.25)
    assert status.total_energy == 10
    sim.set_measurements()
    assert (await next_status(client)).l1.voltage == 240
    sim.add_energy(0.25)
    assert (await next_status(client)).total_energy == 10.25


async def test_periodic_pushes(client: Client, make_sim: MakeSim) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=30,
        status_interval=0.02,
        charging_status_interval=0.02,
    )
    sim = await make_sim(timings=timings)
    await login(client, sim)
    await client.expect(Command.STATUS)
    await client.expect(Command.STATUS)
    no_session = ChargingStatus.parse(
        (await client.expect(Command.CHARGING_STATUS)).payload
    )
    assert no_session.charge_id == ""
    assert no_session.max_current == sim.max_current_setting


async def test_longer_status_payload(client: Client, make_sim: MakeSim) -> None:
    model = ChargerModel(
        key="morec",
        brand="EVSE",
        model="SQW49",
        device_type=1,
        max_current=32,
        max_power=7360,
        hardware_version="x",
        software_version="y",
        applies_current_mid_session=True,
        status_length=40,
    )
    sim = await make_sim(model)
    status = await client.ask(sim, Command.STATUS_REQUEST)
    assert len(status.payload) == 40


# --- rules the BLE library besen reports (protocol.md §5.5) ---


def limited_request(
    amps: int = 16,
    *,
    max_duration: int | None = None,
    max_energy: float | None = None,
) -> ChargeStart:
    return ChargeStart(
        line_id=1,
        user_id="limiter",
        charge_id="2026010112000003",
        is_reservation=False,
        start_time=0,
        max_current=amps,
        max_duration=max_duration,
        max_energy=max_energy,
    )


def planned_request(sim: SimulatedCharger, amps: int = 8) -> ChargeStart:
    return ChargeStart(
        line_id=1,
        user_id="planner",
        charge_id="2026010112000002",
        is_reservation=True,
        start_time=sim.clock_em + 3600,
        max_current=amps,
    )


async def next_record(client: Client) -> ChargeRecord:
    return ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )


async def next_charging_status(client: Client) -> ChargingStatus:
    return ChargingStatus.parse((await client.expect(Command.CHARGING_STATUS)).payload)


async def test_start_becomes_the_configured_current(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim()
    sim.plug_in()
    assert sim.max_current_setting == 16
    assert (await start_charging(client, sim, start_request(10))).accepted
    assert sim.max_current_setting == 10
    reply = await client.ask(sim, Command.OUTPUT_CURRENT, OutputCurrent.get())
    assert OutputCurrent.parse(reply.payload) == OutputCurrent(Action.GET, 10)
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))

    # A planned start too; a refused one changes nothing.
    assert (await start_charging(client, sim, planned_request(sim, 8))).accepted
    assert sim.max_current_setting == 8
    refused = await start_charging(client, sim, start_request(12))
    assert refused.error == ChargeStartError.ALREADY_RESERVED
    assert sim.max_current_setting == 8


async def test_one_plan_at_a_time_and_no_start_while_busy(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim()
    sim.plug_in()
    assert (await start_charging(client, sim, planned_request(sim))).accepted
    for request in (start_request(), planned_request(sim, 10)):
        refused = await start_charging(client, sim, request)
        assert refused.error == ChargeStartError.ALREADY_RESERVED
        assert refused.reservation_result == ReservationResult.ALREADY_RESERVED
    assert sim.session_current == 8
    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    assert ChargeStopResponse.parse(stop.payload).accepted
    assert not sim.reserved

    assert (await start_charging(client, sim)).accepted
    refused = await start_charging(client, sim, planned_request(sim))
    assert refused.error == ChargeStartError.ALREADY_CHARGING
    assert refused.reservation_result == ReservationResult.ALREADY_CHARGING
    assert (sim.charging, sim.reserved) == (True, False)


async def test_start_reply_names_the_requested_line(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim("bs20-3p")
    refused = await start_charging(client, sim, start_request(10, line_id=2))
    assert (refused.line_id, refused.error) == (2, ChargeStartError.NOT_PLUGGED_IN)
    sim.plug_in()
    accepted = await start_charging(client, sim, start_request(10, line_id=2))
    assert accepted.accepted
    assert accepted.line_id == 2
    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(2, "x"))
    assert ChargeStopResponse.parse(stop.payload).line_id == 2


async def test_time_limit_ends_the_session(client: Client, make_sim: MakeSim) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=30,
        status_interval=30,
        charging_status_interval=30,
        limit_minute=0.02,
    )
    sim = await make_sim(timings=timings)
    await login(client, sim)
    sim.plug_in()
    await client.flush(sim)
    request = limited_request(max_duration=3, max_energy=40.0)
    assert (await start_charging(client, sim, request)).accepted
    running = await next_charging_status(client)
    assert running.current_state == CurrentState.CHARGING
    # Reported as the request set them.
    assert (running.max_duration, running.max_energy) == (3, 40.0)

    record = await next_record(client)
    assert record.stop_reason == StopReason.TIME_LIMIT
    assert (record.max_duration, record.max_energy) == (3, 40.0)
    assert record.stopped_by == ""
    status = await next_status(client)
    assert status.current_state == CurrentState.COMPLETED
    assert (status.output_state, status.gun_state) == (
        OutputState.IDLE,
        GunState.CONNECTED_UNLOCKED,
    )
    assert not sim.charging


async def test_time_limit_counts_from_when_power_begins(
    client: Client, make_sim: MakeSim
) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=30,
        status_interval=30,
        charging_status_interval=30,
        limit_minute=0.02,
    )
    sim = await make_sim(timings=timings)
    await login(client, sim)
    sim.plug_in()
    plan = ChargeStart(
        line_id=1,
        user_id="planner",
        charge_id="2026010112000004",
        is_reservation=True,
        start_time=sim.clock_em + 3600,
        max_current=8,
        max_duration=1,
    )
    assert (await start_charging(client, sim, plan)).accepted
    await client.flush(sim)
    await client.nothing_within(5 * timings.limit_minute)
    assert sim.reserved  # a plan's limit does not run down while it waits
    sim.start_reservation()
    assert (await next_record(client)).stop_reason == StopReason.TIME_LIMIT


async def test_energy_limit_ends_the_session_when_energy_is_added(
    client: Client, make_sim: MakeSim
) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.plug_in()
    assert (await start_charging(client, sim, limited_request(max_energy=1.0))).accepted
    await client.flush(sim)
    sim.add_energy(0.5)
    still = await next_charging_status(client)
    assert (still.current_state, still.max_energy) == (CurrentState.CHARGING, 1.0)
    assert still.max_duration is None
    sim.add_energy(0.6)
    record = await next_record(client)
    assert record.stop_reason == StopReason.ENERGY_LIMIT
    assert record.session_energy >= 1.1
    assert (await next_status(client)).current_state == CurrentState.COMPLETED
    ended = await next_charging_status(client)
    assert ended.current_state == CurrentState.COMPLETED
    assert not sim.charging


async def test_energy_limit_ends_the_session_by_itself(
    client: Client, make_sim: MakeSim
) -> None:
    # Nobody polls and nothing is pushed: the charger watches the limit itself.
    sim = await make_sim(quirks=Quirks(pushes=False))
    await login(client, sim)
    sim.plug_in()
    request = limited_request(32, max_energy=1.0)
    assert (await start_charging(client, sim, request)).accepted
    # 0.1 Wh left at 7.36 kW: about 50 ms of charging.
    sim.add_energy(0.9999)
    record = await next_record(client)
    assert record.stop_reason == StopReason.ENERGY_LIMIT
    assert record.session_energy == pytest.approx(1.0)
    assert sim.session_energy >= 1.0 - 1e-9
    status = Status.parse((await client.ask(sim, Command.STATUS_REQUEST)).payload)
    assert status.current_state == CurrentState.COMPLETED


async def test_no_limits_without_them(client: Client, make_sim: MakeSim) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=30,
        status_interval=30,
        charging_status_interval=30,
        limit_minute=0.001,
    )
    sim = await make_sim(timings=timings)
    await login(client, sim)  # so that an end would show as a record
    sim.plug_in()
    # 0 means "none" like 0xFFFF (§5.4): it must not end the session at once.
    request = limited_request(max_duration=0, max_energy=0.0)
    assert (await start_charging(client, sim, request)).accepted
    sim.add_energy(5.0)
    await client.flush(sim)
    await client.nothing_within(0.05)
    assert sim.charging


async def test_weekly_plan(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()

    async def plan(request: bytes | Message) -> tuple[bytes, WeeklyPlan]:
        payload = (await client.ask(sim, Command.WEEKLY_PLAN, request)).payload
        return payload, WeeklyPlan.parse(payload)

    raw, got = await plan(WeeklyPlan.get())
    assert len(raw) == 64
    assert got == WeeklyPlan(Action.GET, tuple(PlanDay() for _ in range(7)))
    assert not any(day.enabled for day in got.days)
    assert (await plan(b"\x02"))[1] == got  # a bare GET, as an EC311S takes it

    days = (PlanDay(3, 22, 30, 480, 1000), *(PlanDay() for _ in range(6)))
    raw, echoed = await plan(WeeklyPlan(Action.SET, days))
    assert echoed == WeeklyPlan(Action.SET, days)
    assert raw[1:10] == bytes.fromhex("03161e01e0000003e8")
    assert sim.weekly_plan == days
    assert (await plan(WeeklyPlan.get()))[1].days == days

    too_long = (PlanDay(3, 0, 0, 1441), *days[1:])
    assert (await plan(WeeklyPlan(Action.SET, too_long)))[1].days == days
    assert (await plan(WeeklyPlan(Action.SET, days[:3])))[1].days == days
    sim.refuse_next[Command.WEEKLY_PLAN] = 1
    refused = WeeklyPlan(Action.SET, tuple(PlanDay() for _ in range(7)))
    assert (await plan(refused))[1].days == days

    sim.weekly_plan = tuple(PlanDay(3, 1, 2, 3) for _ in range(7))
    assert (await plan(WeeklyPlan.get()))[1].days[6] == PlanDay(3, 1, 2, 3)


# --- sessions the charger ends itself ---


@pytest.mark.parametrize(
    ("full", "state"),
    [(False, CurrentState.COMPLETED), (True, CurrentState.COMPLETED_FULL_CHARGE)],
)
async def test_complete_session(
    client: Client, make_sim: MakeSim, full: bool, state: CurrentState
) -> None:
    sim = await make_sim()
    await login(client, sim)
    with pytest.raises(RuntimeError, match="no session"):
        sim.complete_session()
    sim.plug_in()
    await start_charging(client, sim)
    sim.add_energy(2.0)
    await client.flush(sim)

    sim.complete_session(full)
    record = await next_record(client)
    assert record.stop_reason == StopReason.FULL
    assert record.session_energy >= 2.0
    assert record.charge_id == "2026010112000001"
    status = await next_status(client)
    assert status.current_state == state
    assert (status.output_state, status.gun_state) == (
        OutputState.IDLE,
        GunState.CONNECTED_UNLOCKED,
    )
    assert (status.power, status.l1.current) == (0, 0)
    session = await next_charging_status(client)
    assert session.current_state == state
    assert session.charge_id == "2026010112000001"
    assert (sim.plugged, sim.charging, sim.current_state) == (True, False, state)

    # Without the quirk a start works straight away.
    again = await start_charging(client, sim)
    assert again.accepted
    assert sim.current_state == CurrentState.CHARGING

    # A stop after Completed closes it: back to "plugged in, press start".
    sim.complete_session()
    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    assert ChargeStopResponse.parse(stop.payload) == ChargeStopResponse(1, 1, 0)
    assert (await next_status(client)).current_state == CurrentState.READY_TO_CHARGE
    # The session was recorded when it completed: the stop adds no record.
    after_stop = [d.command for d in await client.flush(sim)]
    assert after_stop == [Command.CHARGING_STATUS]
    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    assert ChargeStopResponse.parse(stop.payload).fail_reason == 1  # nothing left

    # Unplugging after Completed: no car, no completed state.
    await start_charging(client, sim)
    sim.complete_session()
    sim.unplug()
    assert sim.current_state == CurrentState.NOT_CONNECTED
    sim.plug_in()
    assert sim.current_state == CurrentState.READY_TO_CHARGE


# --- quirks ---


@pytest.mark.parametrize(
    ("header_password", "field"),
    [("ff", b"\xff" * 6), ("zeros", bytes(6)), ("own", PASSWORD_FIELD)],
)
async def test_quirk_header_password(
    client: Client,
    make_sim: MakeSim,
    header_password: HeaderPassword,
    field: bytes,
) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=0.02,
        status_interval=30,
        charging_status_interval=30,
    )
    quirks = Quirks(header_password=header_password)
    sim = await make_sim(timings=timings, quirks=quirks)
    sent = [await client.expect(Command.LOGIN_ANNOUNCEMENT)]
    sent.append(await client.ask(sim, Command.REQUEST_LOGIN))
    confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
    client.send(sim, Command.LOGIN_CONFIRM, b"\x01")
    async with asyncio.timeout(WAIT):
        await confirmed
    sent.append(await client.expect(Command.HEADING))
    sim.plug_in()
    sim.emit_record(stored=False)
    client.send(sim, Command.REQUEST_LOGIN, password=b"654321")
    sent += await client.until(Command.PASSWORD_ERROR)
    sent.append(await client.ask(sim, Command.STATUS_REQUEST))
    assert {
        Command.LOGIN_ANNOUNCEMENT,
        Command.LOGIN_RESPONSE,
        Command.HEADING,
        Command.STATUS,
        Command.CURRENT_CHARGE_RECORD,
        Command.PASSWORD_ERROR,
        Command.STATUS_RESPONSE,
    } <= {d.command for d in sent}
    assert {d.password for d in sent} == {field}
    if header_password == "own":
        # The password it has now, also after a change.
        sim.password = "999999"
        client.send(sim, Command.STATUS_REQUEST, password=b"999999")
        assert (await client.expect(Command.STATUS_RESPONSE)).password == b"999999"


async def test_quirk_get_echo(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim("ec311s", quirks=Quirks(setting_echo="get"))

    async def reply(command: int, request: Message) -> bytes:
        return (await client.ask(sim, command, request)).payload

    assert await reply(Command.OUTPUT_CURRENT, OutputCurrent.set(10)) == b"\x02\x0a"
    assert sim.max_current_setting == 10
    # A refused SET answers the same way, with the value kept.
    assert await reply(Command.OUTPUT_CURRENT, OutputCurrent.set(17)) == b"\x02\x0a"
    language = LanguageSetting.set(Language.GERMAN)
    assert await reply(Command.LANGUAGE, language) == b"\x02\x03"
    unit = TemperatureUnitSetting.set(TemperatureUnit.FAHRENHEIT)
    assert await reply(Command.TEMPERATURE_UNIT, unit) == b"\x02\x02"
    mode = StartModeSetting.set(StartMode.APP_REQUIRED)
    assert await reply(Command.START_MODE, mode) == b"\x02\x01"
    name = await reply(Command.NICKNAME, Nickname(Action.SET, "Garage"))
    assert Nickname.parse(name) == Nickname(Action.GET, "Garage")
    assert (sim.language, sim.temperature_unit, sim.start_mode, sim.nickname) == (
        Language.GERMAN,
        TemperatureUnit.FAHRENHEIT,
        StartMode.APP_REQUIRED,
        "Garage",
    )
    # GETs are GETs either way.
    assert await reply(Command.LANGUAGE, LanguageSetting.get()) == b"\x02\x03"


async def test_quirk_unlisted_three_phase(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim(quirks=Quirks(unlisted_three_phase=True))
    announcement = DeviceInfo.parse(
        (await client.expect(Command.LOGIN_ANNOUNCEMENT)).payload
    )
    assert announcement.device_type == 9
    assert not announcement.three_phase  # by the §5.1 list
    reply = await client.ask(sim, Command.REQUEST_LOGIN)
    assert DeviceInfo.parse(reply.payload).device_type == 9
    assert sim.phases == 3
    sim.plug_in()
    await start_charging(client, sim, start_request(16, line_id=2))
    raw = (await client.ask(sim, Command.STATUS_REQUEST)).payload
    assert len(raw) == 33
    status = Status.parse(raw)
    assert [(p.voltage, p.current) for p in status.phases] == [(230, 16)] * 3
    assert status.power == 3 * 230 * 16

    # Wired single-phase on request: still type 9, L2/L3 present but dead.
    single = await make_sim(phases=1, quirks=Quirks(unlisted_three_phase=True))
    assert single.phases == 1
    idle = Status.parse((await client.ask(single, Command.STATUS_REQUEST)).payload)
    assert idle.l2 is not None
    assert idle.phase_count == 1


async def test_quirk_no_pushes(client: Client, make_sim: MakeSim) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=0.05,
        status_interval=0.01,
        charging_status_interval=0.01,
    )
    sim = await make_sim(timings=timings, quirks=Quirks(pushes=False))
    await login(client, sim)
    sim.plug_in()
    await start_charging(client, sim)
    sim.add_energy(1.0)
    sim.push_status()
    sim.push_charging_status()
    seen: list[Datagram] = []
    for _ in range(3):  # 0.15 s: many status intervals
        seen += await client.until(Command.HEADING)
        client.send(sim, Command.HEADING_RESPONSE, b"\x00")
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    seen += await client.until(Command.CURRENT_CHARGE_RECORD)  # records still go out
    pushes = {Command.STATUS, Command.CHARGING_STATUS}
    assert not pushes & {d.command for d in seen}
    # Polls are still answered.
    status = Status.parse((await client.ask(sim, Command.STATUS_REQUEST)).payload)
    assert status.current_state == CurrentState.READY_TO_CHARGE
    polled = await client.ask(sim, Command.CHARGING_STATUS_REQUEST, b"\x00")
    assert ChargingStatus.parse(polled.payload).session_energy >= 1.0


async def test_quirk_headings_stop_after(client: Client, make_sim: MakeSim) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=0.02,
        missed_headings_limit=3,
        status_interval=0.02,
        charging_status_interval=30,
    )
    sim = await make_sim(timings=timings, quirks=Quirks(headings_stop_after=0.1))
    await login(client, sim)
    assert sim.heads_client
    headings = 0
    while sim.heads_client:
        datagram, _ = await client.receive()
        if datagram.command == Command.HEADING:
            headings += 1
            client.send(sim, Command.HEADING_RESPONSE, b"\x00")
    assert headings >= 1
    await client.flush(sim)  # a heading may have been on its way
    # Ten status pushes: far longer than three missed headings would take.
    window: list[Datagram] = []
    while sum(d.command == Command.STATUS for d in window) < 10:
        window.append((await client.receive())[0])
    assert {d.command for d in window} == {Command.STATUS}
    assert sim.client == ("127.0.0.1", client.port)

    await login(client, sim)  # a new session heads again
    assert sim.heads_client
    await client.expect(Command.HEADING)
    sim.drop_client()
    assert not sim.heads_client


async def test_quirk_completed_needs_stop(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim(quirks=Quirks(completed_needs_stop=True))
    await login(client, sim)
    sim.plug_in()
    await start_charging(client, sim)
    sim.complete_session()
    await next_record(client)

    refused = await start_charging(client, sim, start_request(10))
    assert refused == ChargeStartResponse(
        1, ReservationResult.IMMEDIATE, 0, ChargeStartError.UNKNOWN_REASON, 10
    )
    assert not refused.accepted
    assert (sim.charging, sim.current_state) == (False, CurrentState.COMPLETED)
    assert sim.max_current_setting == 16  # a refused start changes nothing

    # A stop lets the next start through.
    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    assert ChargeStopResponse.parse(stop.payload).accepted
    assert sim.current_state == CurrentState.READY_TO_CHARGE
    assert (await start_charging(client, sim)).accepted

    # A planned start needs no stop.
    sim.complete_session(full=True)
    plan = await start_charging(client, sim, planned_request(sim))
    assert plan.reservation_result == ReservationResult.RESERVATION_OK
    assert plan.accepted
    assert sim.reserved
    sim.start_reservation()
    assert sim.charging

    # Nor does a start after the car was unplugged and plugged in again.
    sim.complete_session()
    sim.unplug()
    sim.plug_in()
    assert (await start_charging(client, sim)).accepted


async def test_quirk_long_payloads(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim(quirks=Quirks(long_payloads=True))
    announcement = (await client.expect(Command.LOGIN_ANNOUNCEMENT)).payload
    assert len(announcement) == 145
    info = DeviceInfo.parse(announcement)
    assert (info.layout, info.byte70, info.extra) == (119, 0, bytes(26))
    assert (info.device_type, info.brand, info.model) == (1, "BESEN", "BS20")
    response = (await client.ask(sim, Command.REQUEST_LOGIN)).payload
    assert response == announcement

    raw = (await client.ask(sim, Command.STATUS_REQUEST)).payload
    assert len(raw) == 40
    assert raw[33:] == b"\x03\xff" + bytes(5)
    status = Status.parse(raw)
    assert status.l2 is not None
    assert status.l2.voltage == 0  # single-phase unit, as in the capture
    assert status.current_state == CurrentState.NOT_CONNECTED


async def test_quirk_broadcast_headings(client: Client, make_sim: MakeSim) -> None:
    timings = SimulatorTimings(
        announce_interval=30,
        heading_interval=0.02,
        missed_headings_limit=1000,  # nobody has to answer
        status_interval=30,
        charging_status_interval=30,
    )
    sim = await make_sim(timings=timings, quirks=Quirks(broadcast_headings=True))
    await login(client, sim)
    await client.expect(Command.HEADING)
    phone = await Client.open("127.0.0.2", client.port)
    try:
        confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
        phone.send(sim, Command.LOGIN_CONFIRM)
        async with asyncio.timeout(WAIT):
            await confirmed
        assert sim.client == ("127.0.0.2", client.port)
        await client.flush(sim)
        # The client that lost the session still hears the phone's headings.
        for _ in range(2):
            heading, source = await client.expect_from(Command.HEADING)
            assert (heading.serial, source) == (SERIAL, sim.address)
        await phone.expect(Command.HEADING)
    finally:
        phone.close()


async def test_quirks_validation() -> None:
    with pytest.raises(ValueError, match="header_password"):
        Quirks(header_password="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="setting_echo"):
        Quirks(setting_echo="nope")  # type: ignore[arg-type]
    for seconds in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="headings_stop_after"):
            Quirks(headings_stop_after=seconds)
    with pytest.raises(ValueError, match="positive"):
        SimulatorTimings(limit_minute=0)
    assert SimulatedCharger().quirks == Quirks() == NO_QUIRKS


# --- test hooks ---


async def test_refuse_next(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    sim.plug_in()
    sim.refuse_next[Command.CHARGE_START] = ChargeStartError.SYSTEM_ERROR
    refused = await start_charging(client, sim)
    assert refused.error == ChargeStartError.SYSTEM_ERROR
    assert refused.reservation_result == ReservationResult.SYSTEM_ERROR
    assert not sim.charging
    assert (await start_charging(client, sim)).accepted

    sim.refuse_next[Command.CHARGE_STOP] = 3
    stop = await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    assert ChargeStopResponse.parse(stop.payload).fail_reason == 3
    assert (sim.charging, sim.session_current) == (True, 16)

    sim.refuse_next[Command.OUTPUT_CURRENT] = 1
    reply = await client.ask(sim, Command.OUTPUT_CURRENT, OutputCurrent.set(10))
    assert OutputCurrent.parse(reply.payload).value == 16
    sim.refuse_next[Command.NICKNAME] = 1
    reply = await client.ask(sim, Command.NICKNAME, Nickname(Action.SET, "x"))
    assert Nickname.parse(reply.payload).name == ""

    sim.refuse_next[Command.STATUS_REQUEST] = 5
    client.send(sim, Command.STATUS_REQUEST)
    assert (await client.expect(Command.PASSWORD_ERROR)).payload == b"\x05"
    assert sim.refuse_next == {}


async def test_ignore_commands(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await client.expect(Command.LOGIN_ANNOUNCEMENT)
    sim.ignore_commands.add(Command.GET_VERSION)
    client.send(sim, Command.GET_VERSION)
    # Loopback keeps order: the reply to the next request comes first.
    client.send(sim, Command.STATUS_REQUEST)
    assert (await client.receive())[0].command == Command.STATUS_RESPONSE
    assert [d.command for d in sim.received] == [
        Command.GET_VERSION,
        Command.STATUS_REQUEST,
    ]


async def test_wait_for_counts_new_datagrams(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    unrelated = sim.wait_for(Command.CHARGE_STOP)
    client.send(sim, Command.STATUS_ACK, b"\x01")
    await client.ask(sim, Command.STATUS_REQUEST)
    third = sim.wait_for(Command.STATUS_ACK, count=3)
    abandoned = sim.wait_for(Command.STATUS_ACK)
    abandoned.cancel()
    for value in (1, 2, 3):
        client.send(sim, Command.STATUS_ACK, bytes((value,)))
    async with asyncio.timeout(WAIT):
        assert (await third).payload == b"\x03"
    pending = sim.wait_for(Command.CHARGING_STATUS_ACK)
    await sim.stop()
    assert pending.cancelled()
    assert unrelated.cancelled()


async def test_go_silent_and_resume(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim(timings=SimulatorTimings(announce_interval=0.02))
    await login(client, sim)
    await client.flush(sim)
    sim.go_silent()
    assert sim.silent
    received = len(sim.received)
    client.send(sim, Command.STATUS_REQUEST)
    sim.push_status()
    await client.nothing_within(0.1)
    # Still recorded (what reached its address), only not answered.
    assert [d.command for d in sim.received[received:]] == [Command.STATUS_REQUEST]
    unnoticed = sim.client  # it never saw the client leave
    assert unnoticed == ("127.0.0.1", client.port)

    sim.resume()
    assert sim.client is None
    await client.expect(Command.LOGIN_ANNOUNCEMENT)
    await login(client, sim)


async def test_rebind_keeps_state_and_client(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    await login(client, sim)
    sim.plug_in()
    old = sim.address
    await client.expect(Command.STATUS)  # pushed from the old address
    await sim.rebind()
    assert sim.address != old
    assert sim.client == ("127.0.0.1", client.port)
    sim.unplug()
    _, source = await client.expect_from(Command.STATUS)
    assert source == sim.address
    reply = await client.ask(sim, Command.STATUS_REQUEST)
    assert Status.parse(reply.payload).gun_state == GunState.DISCONNECTED

    await sim.rebind("127.0.0.3")
    assert sim.address[0] == "127.0.0.3"
    await sim.stop()
    await sim.rebind(port=0)  # remembered for the next start
    with pytest.raises(RuntimeError):
        sim.address  # noqa: B018


async def test_stored_record_replayed_until_acked(
    client: Client, make_sim: MakeSim
) -> None:
    timings = SimulatorTimings(heading_interval=30, record_resend_interval=0.02)
    sim = await make_sim(timings=timings)
    sim.emit_record()  # stored before any client: uploaded after login
    await login(client, sim)
    first = ChargeRecord.parse(
        (await client.expect(Command.LOCAL_CHARGE_RECORD)).payload
    )
    again = ChargeRecord.parse(
        (await client.expect(Command.LOCAL_CHARGE_RECORD)).payload
    )
    assert first.charge_id == again.charge_id
    sim.emit_record()
    # An ack with an unknown id changes nothing.
    client.send(sim, Command.LOCAL_CHARGE_RECORD_ACK, ChargeRecordAck("0000"))
    client.send(sim, Command.LOCAL_CHARGE_RECORD_ACK, ChargeRecordAck(first.charge_id))
    while True:
        second = ChargeRecord.parse(
            (await client.expect(Command.LOCAL_CHARGE_RECORD)).payload
        )
        if second.charge_id != first.charge_id:
            break
    acked = sim.wait_for(Command.LOCAL_CHARGE_RECORD_ACK)
    client.send(sim, Command.LOCAL_CHARGE_RECORD_ACK, ChargeRecordAck(second.charge_id))
    async with asyncio.timeout(WAIT):
        await acked
    await client.flush(sim)
    await client.nothing_within(5 * timings.record_resend_interval)
    # With a client and nothing pending, a new stored record goes out at once.
    sim.emit_record()
    await client.expect(Command.LOCAL_CHARGE_RECORD)


async def test_current_record_sent_once(client: Client, make_sim: MakeSim) -> None:
    sim = await make_sim()
    sim.emit_record(stored=False)  # no client: nobody to tell
    await login(client, sim)
    sim.plug_in()
    await start_charging(client, sim)
    await client.ask(sim, Command.CHARGE_STOP, ChargeStop(1, "x"))
    await client.expect(Command.CURRENT_CHARGE_RECORD)
    sim.emit_record(stored=False)
    record = ChargeRecord.parse(
        (await client.expect(Command.CURRENT_CHARGE_RECORD)).payload
    )
    assert record.charge_id == "2026010112000001"
    assert len(record.build()) == 97


async def test_malformed_input_is_ignored(
    client: Client, make_sim: MakeSim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=simulator_module.__name__)
    sim = await make_sim()
    await login(client, sim)
    good = Datagram(SERIAL, Command.STATUS_REQUEST, b"", PASSWORD_FIELD).encode()
    broken_checksum = bytearray(good)
    broken_checksum[-3] ^= 0xFF
    for garbage in (b"", b"\x06\x01", b"hello world" * 5, bytes(broken_checksum)):
        client.send_raw(garbage, sim.address)
    for command in (
        Command.CHARGE_START,
        Command.CHARGE_STOP,
        Command.OUTPUT_CURRENT,
        Command.NICKNAME,
        Command.SYSTEM_TIME,
        Command.LCD_BRIGHTNESS,
        Command.LOCAL_CHARGE_RECORD_ACK,
    ):
        client.send(sim, command, b"")  # too short for its model
    # Random payloads for every command the charger handles: never an exception.
    rng = random.Random(1234)
    handled = [*simulator_module._BYTE_SETTINGS, *simulator_module._REFUSAL_AWARE]
    for code in handled:
        for size in (0, 1, 2, 3, 5, 17, 47, 80):
            payload = bytes(rng.randrange(256) for _ in range(size))
            frame = Datagram(SERIAL, code, payload, PASSWORD_FIELD).encode()
            sim._datagram_received(frame, "127.0.0.1")
    # Two datagrams in one packet are both served.
    client.send_raw(good + good, sim.address)
    await client.expect(Command.STATUS_RESPONSE)
    await client.expect(Command.STATUS_RESPONSE)
    assert "ignores a bad request" in caplog.text
    # Debug logs show every datagram, but never the password.
    assert "<- 127.0.0.1 06 01 00 19 00 91 81" in caplog.text
    assert PASSWORD_FIELD.hex(" ") not in caplog.text
    assert "-> 127.0.0.1:" in caplog.text


# --- construction and lifecycle ---


async def test_validation() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        SimulatedCharger(model="nope")
    with pytest.raises(ValueError, match="phases"):
        SimulatedCharger(phases=4)
    with pytest.raises(ValueError, match="serial"):
        SimulatedCharger(serial="xyz")
    with pytest.raises(ValueError, match="positive"):
        SimulatorTimings(heading_interval=0)
    with pytest.raises(ValueError, match="limit"):
        SimulatorTimings(missed_headings_limit=0)
    with pytest.raises(ValueError, match="status_length"):
        ChargerModel("k", "b", "m", 1, 16, 3680, "h", "s", True, 30)
    endpoint = simulator_module._Endpoint(lambda data, host: None)
    endpoint.error_received(ConnectionRefusedError())  # logged, not raised
    endpoint.connection_lost(None)
    endpoint.connection_lost(None)
    assert endpoint.closed.done()
    assert MODELS["bs20-3p"].phases == 3
    assert MODELS["ec311s"].phases == 1
    assert not MODELS["ec311s"].applies_current_mid_session


async def test_context_manager_and_idempotent_stop(client: Client) -> None:
    async with SimulatedCharger(client_port=client.port, timings=QUIET) as sim:
        await sim.start()  # already running: no second socket
        await client.expect(Command.LOGIN_ANNOUNCEMENT)
    await sim.stop()
    sim.drop_client()  # stopped: does not announce
    sim.plug_in()
    await client.nothing_within(0.05)


# --- command line ---


@pytest.fixture(scope="module", autouse=True)
def help_process() -> Iterator[subprocess.Popen[str]]:
    """``--help`` in a subprocess, started before the other tests of the module.

    Its imports (Home Assistant comes with the package) take seconds, which
    then overlap with the other tests instead of adding to them.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.simulator", "--help"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_cli_help(help_process: subprocess.Popen[str]) -> None:
    stdout, stderr = help_process.communicate(timeout=60)
    assert help_process.returncode == 0, stderr
    for option in (
        "--serial",
        "--password",
        "--model",
        "--phases",
        "--bind",
        "--port",
        "--client-host",
        "--client-port",
        "--plugged",
        "--count",
        "--announce-interval",
        "--heading-interval",
        "--status-interval",
        "--quirk",
        "-v",
    ):
        assert option in stdout
    assert "bs20-3p" in stdout
    for quirk in (*cli.QUIRK_FLAGS, "headings-stop=SECONDS"):
        assert f"\n  {quirk} " in stdout


async def test_run_stops_on_signal(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = SimulatedCharger(client_port=client.port, timings=QUIET)
    previous = signal.getsignal(signal.SIGTERM)
    runner = asyncio.create_task(cli.run([sim]))
    try:
        _, source = await client.expect_from(Command.LOGIN_ANNOUNCEMENT)
        assert not sim.plugged
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            await runner
    finally:
        runner.cancel()
        signal.signal(signal.SIGTERM, previous)
    line = capsys.readouterr().out
    assert f"{SERIAL} BESEN BS20 on 127.0.0.1:{source[1]}" in line
    with pytest.raises(RuntimeError):
        sim.address  # noqa: B018  (stopped)


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--count", "2", "--plugged", "--duration", "0.05", "-v"])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [SERIAL, "9181102751219514"]


def test_main_reports_socket_errors(capsys: pytest.CaptureFixture[str]) -> None:
    # TEST-NET-1 is on no interface: binding fails, nothing is sent.
    assert main(["--bind", "192.0.2.1"]) == 1
    assert "error:" in capsys.readouterr().err


def test_cli_chargers_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    options = parser.parse_args(
        ["--port", "40000", "--count", "2", "--serial", "00000000000000ff"]
    )
    chargers = cli._chargers(options)
    assert [c.serial for c in chargers] == ["00000000000000ff", "0000000000000100"]
    assert [c._bind for c in chargers] == [("127.0.0.1", 40000), ("127.0.0.1", 40001)]
    with pytest.raises(SystemExit):
        main(["--count", "0"])
    with pytest.raises(SystemExit):
        main(["--serial", "123"])
    with pytest.raises(SystemExit):
        main(["--status-interval", "0"])
    assert "error" in capsys.readouterr().err


def quirk_options(quirks: list[str]) -> list[str]:
    return [arg for quirk in quirks for arg in ("--quirk", quirk)]


def test_cli_quirks() -> None:
    parser = build_parser()
    none = parser.parse_args([])
    assert cli.quirks_from(none.quirk) == NO_QUIRKS
    assert cli._chargers(none)[0].quirks == NO_QUIRKS

    every = [
        "password-zeros",
        "get-echo",
        "unlisted-three-phase",
        "no-pushes",
        "headings-stop=2.5",
        "completed-needs-stop",
        "long-payloads",
        "broadcast-headings",
    ]
    expected = Quirks(
        header_password="zeros",
        setting_echo="get",
        unlisted_three_phase=True,
        pushes=False,
        headings_stop_after=2.5,
        completed_needs_stop=True,
        long_payloads=True,
        broadcast_headings=True,
    )
    options = parser.parse_args(quirk_options(every))
    assert cli.quirks_from(options.quirk) == expected
    chargers = cli._chargers(parser.parse_args(["--count", "2", *quirk_options(every)]))
    assert [c.quirks for c in chargers] == [expected, expected]
    assert chargers[0].phases == 3  # unlisted-three-phase implies it

    # Later ones win; headings-stop=0 stops headings right after the login.
    later = parser.parse_args(
        quirk_options(["password-zeros", "password-own", "headings-stop=0"])
    )
    assert cli.quirks_from(later.quirk) == Quirks(
        header_password="own", headings_stop_after=0.0
    )


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        "headings-stop",
        "headings-stop=",
        "headings-stop=-1",
        "headings-stop=nan",
        "headings-stop=soon",
        "no-pushes=1",
    ],
)
def test_cli_rejects_bad_quirks(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--quirk", bad])
    assert "--quirk" in capsys.readouterr().err
