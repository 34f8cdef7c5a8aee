"""Tests of the charger client against the simulator over real loopback UDP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
import logging
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.evse_master.protocol import const
from custom_components.evse_master.protocol.charger import (
    Charger,
    ChargerSettings,
    ChargerState,
    ChargerTimings,
    Connection,
)
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
    TemperatureUnit,
)
from custom_components.evse_master.protocol.errors import (
    ChargerNotReachableError,
    ChargerTimeoutError,
    ChargeStartRejectedError,
    ChargeStopRejectedError,
    CommandRejectedError,
    InvalidPasswordError,
    InvalidValueError,
    RateLimitedError,
    SettingRejectedError,
)
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    NO_PASSWORD,
    Datagram,
    password_field,
)
from custom_components.evse_master.protocol.listener import (
    Address,
    ChargerListener,
    DiscoveredCharger,
    SharedListener,
)
from custom_components.evse_master.protocol.messages import (
    ChargeRecordAck,
    ChargeStart,
    DeviceInfo,
    OutputCurrent,
    PhaseReading,
    Status,
    datetime_to_em,
)
from tests.helpers import WAIT, PhoneApp, free_udp_port, wait_for_charger
from tests.simulator import (
    SimulatedCharger,
    SimulatorTimings,
)

SERIAL = "9181102751219513"
OTHER = "8368555670377598"
PASSWORD = "123456"
CHARGER_LOGGER = "custom_components.evse_master.protocol.charger"

TIMINGS = ChargerTimings(
    login_timeout=0.2,
    password_confirm_delay=0.02,
    heading_timeout=0.4,
    relogin_cooldown=0.1,
    announcement_grace=0.05,
    request_timeout=0.5,
    min_restart_interval=0,
    status_poll_after=5.0,
    probe_interval=0.3,
)
SIM_TIMINGS = SimulatorTimings(
    announce_interval=0.05,
    heading_interval=0.05,
    status_interval=0.1,
    charging_status_interval=0.1,
    record_resend_interval=0.05,
)
QUIET = replace(SIM_TIMINGS, announce_interval=30)
"""One announcement at start, then none until a client leaves."""

type MakeSim = Callable[..., Awaitable[SimulatedCharger]]
type MakeCharger = Callable[..., Charger]


# --- helpers ----------------------------------------------------------------------


def ready(state: ChargerState) -> bool:
    """Logged in with everything the login requests answered."""
    settings = state.settings
    return (
        state.logged_in
        and state.info is not None
        and state.version is not None
        and state.status is not None
        and state.session is not None
        and None
        not in (
            settings.max_current,
            settings.nickname,
            settings.language,
            settings.temperature_unit,
            settings.start_mode,
            settings.lcd_brightness,
        )
    )


async def connect(charger: Charger) -> ChargerState:
    """Start the client and wait until the login has read everything."""
    await charger.start()
    return await wait_for_charger(charger, ready)


def sent(sim: SimulatedCharger, command: int) -> list[Datagram]:
    """What the simulated charger received with ``command``."""
    return [datagram for datagram in sim.received if datagram.command == command]


def logins(sim: SimulatedCharger) -> list[Datagram]:
    """RequestLogins with a password (not the password-less reachability probes)."""
    return [
        datagram
        for datagram in sent(sim, Command.REQUEST_LOGIN)
        if datagram.password != NO_PASSWORD
    ]


def last_start(sim: SimulatedCharger) -> ChargeStart:
    """The latest ChargeStart the simulated charger received."""
    return ChargeStart.parse(sent(sim, Command.CHARGE_START)[-1].payload)


async def within[T](awaitable: Awaitable[T]) -> T:
    """Await with the usual upper bound."""
    async with asyncio.timeout(WAIT):
        return await awaitable


def heard(
    listener: ChargerListener, serial: str, command: int, count: int = 1
) -> asyncio.Future[Datagram]:
    """Future of the ``count``-th ``command`` datagram the listener routes."""
    future: asyncio.Future[Datagram] = asyncio.get_running_loop().create_future()
    remaining = count

    def handler(datagram: Datagram, address: Address) -> None:
        nonlocal remaining
        if datagram.command != command or future.done():
            return
        remaining -= 1
        if remaining <= 0:
            future.set_result(datagram)

    unregister = listener.register(serial, handler)
    future.add_done_callback(lambda _: unregister())
    return future


def announcement(info: DeviceInfo, serial: str = SERIAL) -> bytes:
    """A login announcement as the charger sends it."""
    frame = Datagram(
        serial, Command.LOGIN_ANNOUNCEMENT, info.build(), CHARGER_PASSWORD_FIELD
    )
    return frame.encode()


@contextlib.contextmanager
def log_message(text: str) -> Iterator[asyncio.Future[str]]:
    """Future of the first charger log message containing ``text``."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if text in message and not future.done():
                future.set_result(message)

    logger = logging.getLogger(CHARGER_LOGGER)
    handler = Watch(logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield future
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture
async def listener() -> AsyncIterator[ChargerListener]:
    """The client endpoint on a free loopback port."""
    instance = ChargerListener("127.0.0.1", 0)
    await instance.start()
    yield instance
    instance.close()


@pytest.fixture
async def make_sim(listener: ChargerListener) -> AsyncIterator[MakeSim]:
    """Factory of started simulated chargers that talk to ``listener``."""
    sims: list[SimulatedCharger] = []

    async def make(
        serial: str = SERIAL,
        password: str = PASSWORD,
        model: str = "bs20",
        *,
        plugged: bool = False,
        timings: SimulatorTimings = SIM_TIMINGS,
        **kwargs: Any,
    ) -> SimulatedCharger:
        sim = SimulatedCharger(
            serial,
            password,
            model,
            client_port=listener.local_address[1],
            timings=timings,
            **kwargs,
        )
        sim.plugged = plugged
        sims.append(sim)
        await sim.start()
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def make_charger(listener: ChargerListener) -> AsyncIterator[MakeCharger]:
    """Factory of clients on ``listener``, closed at the end."""
    chargers: list[Charger] = []

    def make(
        serial: str = SERIAL,
        password: str = PASSWORD,
        *,
        timings: ChargerTimings = TIMINGS,
        **kwargs: Any,
    ) -> Charger:
        charger = Charger(listener, serial, password, timings=timings, **kwargs)
        chargers.append(charger)
        return charger

    yield make
    for charger in chargers:
        await charger.close()


async def quiet_sim(
    make_sim: MakeSim, listener: ChargerListener, **kwargs: Any
) -> SimulatedCharger:
    """A charger whose one announcement has passed before any client exists."""
    first = heard(listener, SERIAL, Command.LOGIN_ANNOUNCEMENT)
    sim = await make_sim(timings=QUIET, **kwargs)
    await within(first)
    return sim


# --- login ------------------------------------------------------------------------


async def test_login_reads_everything(
    make_sim: MakeSim, make_charger: MakeCharger, caplog: pytest.LogCaptureFixture
) -> None:
    """An announcement leads to a login and every reply lands in the state."""
    sim = await make_sim()
    charger = make_charger()
    clock = sim.wait_for(Command.SYSTEM_TIME)
    with caplog.at_level(logging.DEBUG, "custom_components.evse_master.protocol"):
        state = await connect(charger)
    # Every datagram is in the debug log, never the password.
    assert "80 02" in caplog.text
    assert "** ** ** ** ** **" in caplog.text
    assert "31 32 33 34 35 36" not in caplog.text

    assert [d.command for d in sim.received[:2]] == [
        Command.REQUEST_LOGIN,
        Command.LOGIN_CONFIRM,
    ]
    assert sent(sim, Command.LOGIN_CONFIRM)[0].payload == b"\x01"
    assert state.online
    assert not state.auth_failed
    assert state.address == charger.address == sim.address
    assert state.info is not None
    assert (state.info.brand, state.info.model) == ("BESEN", "BS20")
    assert state.max_current == 32
    assert state.phases == 1
    assert state.version is not None
    assert state.version.software_version == sim.model.software_version
    assert state.settings == ChargerSettings(
        max_current=16,
        nickname="",
        language=Language.ENGLISH,
        temperature_unit=TemperatureUnit.CELSIUS,
        start_mode=StartMode.OFFLINE_ALLOWED,
        lcd_brightness=80,
    )
    assert state.current_state == CurrentState.NOT_CONNECTED
    assert state.plugged_in is False
    assert state.charging is False
    assert state.session_active is False
    assert state.faults == ()
    assert state.power == 0

    # The clock is set right after the login.
    synced = await within(clock)
    assert synced.payload[0] == Action.SET
    assert abs(sim.clock_em - datetime_to_em(datetime.now(UTC), UTC)) < 5
    assert len(logins(sim)) == 1


async def test_known_address_logs_in_without_announcement(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """With a stored address, start() logs in at once; start() is idempotent."""
    sim = await quiet_sim(make_sim, listener, plugged=True)
    charger = make_charger(address=sim.address)
    assert charger.state.address == sim.address
    await charger.start()
    await charger.start()
    state = await wait_for_charger(charger, ready)
    assert state.plugged_in is True
    assert state.status is not None
    assert state.status.gun_state == GunState.CONNECTED_UNLOCKED
    assert len(logins(sim)) == 1


async def test_connect_finds_and_logs_in(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """connect() waits for the charger when its address is unknown, then logs in."""
    sim = await quiet_sim(make_sim, listener)
    sim.go_silent()
    charger = make_charger()
    connecting = asyncio.create_task(charger.connect(WAIT))
    await asyncio.sleep(0.05)
    assert logins(sim) == []  # nowhere to send yet
    sim.resume()  # announces
    await within(connecting)
    assert charger.state.logged_in
    assert charger.address == sim.address
    assert len(logins(sim)) == 1


async def test_connect_gives_up_in_time(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A silent charger: connect() raises within its bound."""
    sim = await quiet_sim(make_sim, listener)
    sim.go_silent()
    charger = make_charger(address=sim.address)
    with pytest.raises(ChargerTimeoutError):
        await charger.connect(0.1)
    nowhere = make_charger(OTHER)
    with pytest.raises(ChargerTimeoutError):
        await nowhere.connect(0.1)  # never heard at all


async def test_wrong_password(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A refusal that repeats stops all logins until set_password()."""
    sim = await make_sim(password="654321")
    charger = make_charger()
    with log_message("refused the password") as warned:
        await charger.start()
        state = await wait_for_charger(charger, lambda s: s.auth_failed)
        await within(warned)
    assert not state.logged_in
    assert state.connection is Connection.AUTH_FAILED
    # The refusal counted only because a second attempt got one too.
    assert len(logins(sim)) == 2

    with pytest.raises(InvalidPasswordError):
        await charger.login()
    assert charger.state.auth_failed
    assert len(logins(sim)) == 4

    # Several announcements later, nobody has tried again.
    await within(heard(listener, SERIAL, Command.LOGIN_ANNOUNCEMENT, count=4))
    charger.connect_now()
    assert len(logins(sim)) == 4

    changes: list[ChargerState] = []
    charger.add_listener(changes.append)
    charger.set_password("654321")
    assert changes[0].auth_failed is False
    state = await wait_for_charger(charger, ready)
    assert not state.auth_failed
    assert len(logins(sim)) == 5
    assert sent(sim, Command.LOGIN_CONFIRM)[-1].password == password_field("654321")


async def test_password_changed_while_logged_in(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """The charger refuses our frames: the session ends, the login confirms why."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    # A PasswordError that answers no login of ours is no verdict.
    refusal = Datagram(SERIAL, Command.PASSWORD_ERROR, b"\x00", CHARGER_PASSWORD_FIELD)
    listener.datagram_received(refusal.encode(), sim.address)
    assert charger.state.logged_in
    assert not charger.state.auth_failed
    sim.password = "999999"
    # Our heading answers are refused too, so the charger drops us and
    # announces; the login that follows is refused twice.
    state = await wait_for_charger(charger, lambda s: s.auth_failed)
    assert not state.logged_in
    assert len(logins(sim)) == 3

    charger.set_password("999999")
    await wait_for_charger(charger, lambda s: s.logged_in and not s.auth_failed)
    assert len(logins(sim)) == 4


async def test_login_without_answer_times_out(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """Every attempt is sent, then ChargerTimeoutError; a background try only logs."""
    sim = await quiet_sim(make_sim, listener)
    sim.ignore_commands.add(Command.REQUEST_LOGIN)
    timings = replace(TIMINGS, login_timeout=0.05, login_attempts=2, relogin_cooldown=0)
    charger = make_charger(address=sim.address, timings=timings)
    await charger.start(login=False)
    with pytest.raises(ChargerTimeoutError) as err:
        await charger.login()
    assert err.value.command == Command.REQUEST_LOGIN
    assert len(logins(sim)) == 2
    assert not charger.state.logged_in

    with log_message("failed") as failed:
        charger.connect_now()
        assert "no answer to command 0x8002" in await within(failed)
    assert len(logins(sim)) == 4


async def test_malformed_login_response(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A LoginResponse that does not parse fails the login; bad pushes are dropped."""
    sim = await quiet_sim(make_sim, listener)
    sim.ignore_commands.add(Command.REQUEST_LOGIN)
    charger = make_charger(address=sim.address)
    await charger.start(login=False)
    asked = sim.wait_for(Command.REQUEST_LOGIN)
    login = asyncio.create_task(charger.login())
    await within(asked)
    bad = Datagram(SERIAL, Command.LOGIN_RESPONSE, b"\x01\x02", CHARGER_PASSWORD_FIELD)
    listener.datagram_received(bad.encode(), sim.address)
    with pytest.raises(CommandRejectedError, match="malformed"):
        await within(login)
    before = charger.state
    bad_status = Datagram(SERIAL, Command.STATUS, b"\x01", CHARGER_PASSWORD_FIELD)
    listener.datagram_received(bad_status.encode(), sim.address)
    assert charger.state == before
    assert sent(sim, Command.STATUS_ACK) == []


async def test_background_login_rejected_is_logged(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A background login that fails on a bad reply only logs at debug."""
    sim = await quiet_sim(make_sim, listener)
    sim.ignore_commands.add(Command.REQUEST_LOGIN)
    charger = make_charger(address=sim.address)
    asked = sim.wait_for(Command.REQUEST_LOGIN)
    with log_message("malformed login response") as failed:
        await charger.start()
        await within(asked)
        bad = Datagram(SERIAL, Command.LOGIN_RESPONSE, b"", CHARGER_PASSWORD_FIELD)
        listener.datagram_received(bad.encode(), sim.address)
        await within(failed)
    assert not charger.state.logged_in


# --- liveness and re-login --------------------------------------------------------


async def test_heading_timeout_then_relogin_on_announcement(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """Silence ends the session and online; the next announcement brings it back."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    sim.go_silent()
    state = await wait_for_charger(charger, lambda s: not s.logged_in and not s.online)
    assert state.status is not None  # the last data stays
    # Never on a timer: silence alone sends no login.
    assert len(logins(sim)) == 1

    confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
    sim.resume()
    await wait_for_charger(charger, lambda s: s.logged_in and s.online)
    await within(confirmed)
    assert len(logins(sim)) == 2


async def test_announcement_within_grace_is_ignored(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A stale announcement right after the login keeps the session."""
    sim = await make_sim()
    charger = make_charger(timings=replace(TIMINGS, announcement_grace=5.0))
    state = await connect(charger)
    assert state.info is not None
    listener.datagram_received(announcement(state.info), sim.address)
    assert charger.state.logged_in
    await within(sim.wait_for(Command.HEADING_RESPONSE, count=3))
    assert charger.state.logged_in
    assert len(logins(sim)) == 1


async def test_announcement_after_grace_ends_session(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """Past the grace an announcement means the session is gone: log in again."""
    sim = await make_sim()
    charger = make_charger()
    state = await connect(charger)
    assert state.info is not None
    # Two heartbeats (>= 0.1 s) put the login past the grace and the cooldown.
    await within(sim.wait_for(Command.HEADING_RESPONSE, count=2))
    confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
    listener.datagram_received(announcement(state.info), sim.address)
    assert not charger.state.logged_in
    await within(confirmed)
    await wait_for_charger(charger, lambda s: s.logged_in)
    assert len(logins(sim)) == 2


async def test_relogin_cooldown(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """Announcements within the cooldown after a login attempt are not answered."""
    cooldown = 0.5
    sim = await make_sim()
    charger = make_charger(timings=replace(TIMINGS, relogin_cooldown=cooldown))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await connect(charger)
    second = sim.wait_for(Command.REQUEST_LOGIN)
    ignored: list[Datagram] = []
    unregister = listener.register(
        SERIAL,
        lambda d, a: ignored.append(d) if not second.done() else None,
    )
    sim.drop_client()
    await within(second)
    unregister()
    elapsed = loop.time() - started
    assert cooldown <= elapsed < cooldown + 1
    announcements = [d for d in ignored if d.command == Command.LOGIN_ANNOUNCEMENT]
    assert len(announcements) >= 3
    await wait_for_charger(charger, lambda s: s.logged_in)
    assert len(logins(sim)) == 2


async def test_no_relogin_on_a_timer(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """Over several heading timeouts of headings only one login is ever sent."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    # 12 beats of 0.05 s outlast the heading timeout (0.4) and cooldown (0.1).
    await within(sim.wait_for(Command.HEADING_RESPONSE, count=12))
    assert charger.state.logged_in
    assert charger.state.online
    assert len(logins(sim)) == 1
    assert len(sent(sim, Command.LOGIN_CONFIRM)) == 1
    answers = sent(sim, Command.HEADING_RESPONSE)
    assert len(answers) >= 12
    assert {d.payload for d in answers} == {b"\x00"}


async def test_pushes_after_heading_timeout_log_in_again(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """Headings stopped but status still comes: the charger counts us, log in."""
    sim = await make_sim(timings=replace(SIM_TIMINGS, heading_interval=0.3))
    charger = make_charger(timings=replace(TIMINGS, heading_timeout=0.15))
    await connect(charger)
    lost = await wait_for_charger(charger, lambda s: not s.logged_in)
    assert lost.online  # status pushes keep coming; only headings count
    await wait_for_charger(charger, lambda s: s.logged_in)
    # The first recovery is immediate, whatever the cooldown.
    assert len(logins(sim)) == 2


async def test_headings_while_logged_out_are_not_answered(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A heading proves no session: unanswered, and the state stays logged out."""
    sim = await quiet_sim(make_sim, listener)
    charger = make_charger(address=sim.address)
    await charger.start(login=False)
    listener.datagram_received(
        Datagram(SERIAL, Command.HEADING, b"", CHARGER_PASSWORD_FIELD).encode(),
        sim.address,
    )
    assert not charger.state.logged_in
    assert charger.state.online
    await asyncio.sleep(0.05)
    assert sent(sim, Command.HEADING_RESPONSE) == []


async def test_no_pushes_means_polling(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """An implementation that never pushes is asked for status within the session."""
    sim = await make_sim(timings=replace(SIM_TIMINGS, status_interval=30))
    charger = make_charger(timings=replace(TIMINGS, status_poll_after=0.15))
    await connect(charger)
    before = len(sent(sim, Command.STATUS_REQUEST))
    await within(sim.wait_for(Command.STATUS_REQUEST, count=2))
    assert len(sent(sim, Command.STATUS_REQUEST)) >= before + 2
    assert len(logins(sim)) == 1  # kicks nobody
    assert charger.state.logged_in


# --- acknowledgements ---------------------------------------------------------------


async def test_status_and_charging_status_are_acked(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """0x0004 is acked with 0x8004 01, 0x0005 with 0x8005 00."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    status_ack = sim.wait_for(Command.STATUS_ACK)
    sim.push_status()
    assert (await within(status_ack)).payload == b"\x01"
    session_ack = sim.wait_for(Command.CHARGING_STATUS_ACK)
    sim.push_charging_status()
    assert (await within(session_ack)).payload == b"\x00"


async def test_records_are_acked_and_stop_replaying(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """Reported records get 0x800A (stored) or 0x8009 (current) with their id.

    Not before they are reported: the charger drops an acknowledged record.
    """
    sim = await make_sim()
    charger = make_charger(ack_records=True)
    await connect(charger)

    sim.emit_record(stored=True)
    await within(heard(listener, SERIAL, Command.LOCAL_CHARGE_RECORD, count=2))
    assert sent(sim, Command.LOCAL_CHARGE_RECORD_ACK) == []
    record = charger.state.last_record
    assert record is not None
    ack = sim.wait_for(Command.LOCAL_CHARGE_RECORD_ACK)
    charger.record_reported(record)
    parsed = ChargeRecordAck.parse((await within(ack)).payload)
    assert parsed.charge_id == record.charge_id
    # Replays would come every 0.05 s; after the ack there are none.
    await within(sim.wait_for(Command.HEADING_RESPONSE, count=4))
    assert len(sent(sim, Command.LOCAL_CHARGE_RECORD_ACK)) == 1

    current_ack = sim.wait_for(Command.CURRENT_CHARGE_RECORD_ACK)
    sim.emit_record(stored=False)
    await within(heard(listener, SERIAL, Command.CURRENT_CHARGE_RECORD))
    record = charger.state.last_record
    assert record is not None
    charger.record_reported(record)
    parsed = ChargeRecordAck.parse((await within(current_ack)).payload)
    assert parsed.charge_id == record.charge_id


async def test_records_not_acked_keep_replaying(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """By default records are not acked: the phone app keeps its history."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    sim.emit_record(stored=True)
    await within(heard(listener, SERIAL, Command.LOCAL_CHARGE_RECORD, count=3))
    assert sent(sim, Command.LOCAL_CHARGE_RECORD_ACK) == []
    assert charger.state.last_record is not None


# --- other clients --------------------------------------------------------------


async def test_phone_app_takes_over_and_leaves(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """The app's login ends our session; when it leaves we log in again."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    port = listener.local_address[1]
    phone = await PhoneApp.open(port)
    try:
        await phone.login(sim)
        assert sim.client == ("127.0.0.2", port)
        await wait_for_charger(charger, lambda s: not s.logged_in)
        # While the app holds the session we do not fight for it: the only
        # logins so far are ours at the start and the app's.
        assert len(logins(sim)) == 2
    finally:
        confirmed = sim.wait_for(Command.LOGIN_CONFIRM)
        phone.close()
    await within(confirmed)
    await wait_for_charger(charger, lambda s: s.logged_in and s.online)
    assert sim.client == ("127.0.0.1", port)
    assert len(logins(sim)) == 3


async def test_phone_echo_does_not_move_address(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A client frame (with a password) from elsewhere is neither routed as data
    nor taken as the charger's address."""
    sim = await make_sim()
    charger = make_charger()
    before = await connect(charger)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.2", 0)
    )
    try:
        echo = Datagram(
            SERIAL, Command.HEADING_RESPONSE, b"\x00", password_field(PASSWORD)
        )
        arrived = heard(listener, SERIAL, Command.HEADING_RESPONSE)
        transport.sendto(echo.encode(), listener.local_address)
        await within(arrived)
    finally:
        transport.close()
    assert charger.address == sim.address
    assert charger.state.address == sim.address
    assert charger.state.logged_in
    assert before.address == sim.address


async def test_charger_changes_address(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """After a new IP and port, commands follow the charger's genuine frames."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    old = sim.address
    await sim.rebind("127.0.0.3")
    assert sim.address != old
    state = await wait_for_charger(
        charger, lambda s: s.address == sim.address and s.logged_in
    )
    assert state.address is not None
    assert state.address[0] == "127.0.0.3"
    assert charger.address == sim.address
    await charger.set_lcd_brightness(30)
    assert sim.lcd_brightness == 30


async def test_two_chargers_on_one_listener(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """Each client sees only its own charger."""
    sim_a = await make_sim(SERIAL)
    sim_b = await make_sim(OTHER, "abcdef", "bs20-3p")
    first = make_charger(SERIAL)
    second = make_charger(OTHER, "abcdef")
    state_a, state_b = await asyncio.gather(connect(first), connect(second))
    assert (state_a.serial, state_b.serial) == (SERIAL, OTHER)
    assert state_a.address == sim_a.address
    assert state_b.address == sim_b.address
    assert (state_a.phases, state_b.phases) == (1, 3)

    sim_b.plug_in()
    await wait_for_charger(second, lambda s: s.plugged_in is True)
    assert first.state.plugged_in is False
    await first.set_nickname("Garage")
    assert (sim_a.nickname, sim_b.nickname) == ("Garage", "")
    assert second.state.settings.nickname == ""


# --- charging ---------------------------------------------------------------------


async def test_start_and_stop(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """A start the charger accepts is reflected in the state, so is the stop."""
    sim = await make_sim(plugged=True)
    charger = make_charger()
    await connect(charger)
    response = await charger.start_charging(10)
    assert response.accepted
    assert response.reservation_result == ReservationResult.IMMEDIATE
    assert response.max_current == 10
    request = last_start(sim)
    assert request.line_id == 1
    assert request.charge_type == ChargeType.NORMAL
    assert request.user_id == "evse_master"
    assert not request.is_reservation
    assert request.max_current == 10
    assert request.max_duration is None
    assert request.max_energy is None
    assert len(request.charge_id) == 16
    assert request.charge_id.isdecimal()

    state = await wait_for_charger(
        charger,
        lambda s: (
            bool(s.charging)
            and s.session is not None
            and s.session.charge_id == request.charge_id
        ),
    )
    assert state.session_active
    assert state.current_state == CurrentState.CHARGING
    assert state.power == 2300.0
    assert sim.charging
    assert sim.session_current == 10

    stopped = await charger.stop_charging()
    assert stopped.accepted
    state = await wait_for_charger(charger, lambda s: s.session_active is False)
    assert not sim.charging
    assert sent(sim, Command.CHARGE_STOP)[-1].payload[0] == 1

    # No restart interval configured: an immediate restart is fine. The start
    # made 10 A the charger's configured current, which is now the default.
    assert charger.state.settings.max_current == 10
    await charger.start_charging()
    assert last_start(sim).max_current == 10


async def test_start_refused_when_unplugged(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """The charger's refusal comes back with its reason."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    with pytest.raises(ChargeStartRejectedError) as err:
        await charger.start_charging(10)
    assert err.value.response.error == ChargeStartError.NOT_PLUGGED_IN
    assert not err.value.response.accepted
    assert not sim.charging


async def test_stop_refused(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """A stop the charger refuses raises and charging goes on."""
    sim = await make_sim(plugged=True)
    charger = make_charger(timings=replace(TIMINGS, min_restart_interval=60))
    await connect(charger)
    await charger.start_charging(10)
    sim.refuse_next[Command.CHARGE_STOP] = 1
    with pytest.raises(ChargeStopRejectedError) as err:
        await charger.stop_charging()
    assert err.value.response.fail_reason == 1
    assert sim.charging
    # A refused stop does not start the restart interval.
    await charger.stop_charging()
    with pytest.raises(RateLimitedError):
        await charger.start_charging(10)


async def test_restart_is_rate_limited(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """A start too soon after a stop is refused locally with the wait."""
    sim = await make_sim(plugged=True)
    charger = make_charger(timings=replace(TIMINGS, min_restart_interval=60))
    await connect(charger)
    await charger.start_charging(10)
    await charger.stop_charging()
    with pytest.raises(RateLimitedError) as err:
        await charger.start_charging(10)
    assert 59 < err.value.retry_after <= 60
    assert len(sent(sim, Command.CHARGE_START)) == 1


async def test_current_is_validated_before_sending(
    make_sim: MakeSim, make_charger: MakeCharger
) -> None:
    """Nothing leaves for currents outside 6 A … the model's maximum."""
    sim = await make_sim(plugged=True)
    charger = make_charger()
    await connect(charger)
    for amps in (5, 33):
        with pytest.raises(InvalidValueError):
            await charger.start_charging(amps)
        with pytest.raises(InvalidValueError):
            await charger.set_max_current(amps)
    assert sent(sim, Command.CHARGE_START) == []
    sets = [
        d
        for d in sent(sim, Command.OUTPUT_CURRENT)
        if OutputCurrent.parse(d.payload).action == Action.SET
    ]
    assert sets == []


async def test_three_phase_lines(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """Three-phase units get line 2; single_phase=True asks for line 1, type 11."""
    sim = await make_sim(model="bs20-3p", plugged=True)
    charger = make_charger()
    state = await connect(charger)
    assert state.phases == 3
    assert state.max_current == 16
    with pytest.raises(InvalidValueError):
        await charger.start_charging(17)

    await charger.start_charging(10)
    request = last_start(sim)
    assert (request.line_id, request.charge_type) == (2, ChargeType.NORMAL)
    await wait_for_charger(charger, lambda s: s.power == 6900.0)
    await charger.stop_charging()
    await wait_for_charger(charger, lambda s: s.charging is False)

    await charger.start_charging(10, single_phase=True)
    request = last_start(sim)
    assert (request.line_id, request.charge_type) == (1, ChargeType.SINGLE_PHASE)
    state = await wait_for_charger(charger, lambda s: bool(s.charging))
    assert state.power == 2300.0


async def test_reservation(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """A future start is planned; more than 24 hours ahead is refused locally."""
    sim = await make_sim(plugged=True)
    charger = make_charger()
    await connect(charger)
    start_at = datetime.now(UTC) + timedelta(hours=1)
    response = await charger.start_charging(8, start_at=start_at)
    assert response.reservation_result == ReservationResult.RESERVATION_OK
    request = last_start(sim)
    assert request.is_reservation
    assert request.start_time == datetime_to_em(start_at, UTC)
    assert sim.reserved
    state = await wait_for_charger(
        charger, lambda s: s.current_state == CurrentState.CHARGING_RESERVATION
    )
    assert state.charging is False

    with pytest.raises(InvalidValueError):
        await charger.start_charging(
            8, start_at=datetime.now(UTC) + timedelta(hours=24, minutes=1)
        )
    assert len(sent(sim, Command.CHARGE_START)) == 1
    await charger.stop_charging()
    assert not sim.reserved


async def test_limits_are_encoded(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """Duration and energy limits reach the charger; bad ones never leave."""
    sim = await make_sim(plugged=True)
    charger = make_charger()
    await connect(charger)
    invalid: list[dict[str, Any]] = [
        {"max_duration": timedelta(seconds=29)},  # 0 minutes
        {"max_duration": timedelta(days=46)},
        {"max_duration": timedelta(minutes=0xFFFF)},  # the "unlimited" sentinel
        {"max_energy": 0.0},
        {"max_energy": 0.004},  # 0 hundredths
        {"max_energy": 655.346},  # the sentinel 0xFFFF
        {"max_energy": float("nan")},
        {"start_at": datetime(2026, 1, 1, 12)},  # naive
        {"start_at": datetime(1970, 1, 1, tzinfo=UTC)},
        {"start_at": datetime.now(UTC) - timedelta(minutes=5)},
    ]
    for kwargs in invalid:
        with pytest.raises(InvalidValueError):
            await charger.start_charging(8, **kwargs)
    assert sent(sim, Command.CHARGE_START) == []

    await charger.start_charging(
        8, max_duration=timedelta(hours=2, seconds=30), max_energy=12.5
    )
    request = last_start(sim)
    assert request.max_duration == 120
    assert request.max_energy == 12.5


# --- settings ---------------------------------------------------------------------


async def test_set_max_current(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """The new maximum is read back; a charger that keeps the old one is an error."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    assert await charger.set_max_current(20) == 20
    assert sim.max_current_setting == 20
    assert charger.state.settings.max_current == 20
    actions = [
        OutputCurrent.parse(d.payload).action
        for d in sent(sim, Command.OUTPUT_CURRENT)[-2:]
    ]
    assert actions == [Action.SET, Action.GET]

    sim.refuse_next[Command.OUTPUT_CURRENT] = 1
    with pytest.raises(SettingRejectedError, match=r"kept 20 .* instead of 12"):
        await charger.set_max_current(12)
    assert sim.max_current_setting == 20
    assert charger.state.settings.max_current == 20


async def test_nickname(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """Rename round trip, validation and refusal."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    await charger.set_nickname("Garage")
    assert sim.nickname == "Garage"
    assert charger.state.settings.nickname == "Garage"
    sim.nickname = "Carport"
    assert await charger.read_nickname() == "Carport"
    assert charger.state.settings.nickname == "Carport"
    for name in ("", "x" * (const.NICKNAME_MAX_LENGTH + 1), "Grüße"):
        with pytest.raises(InvalidValueError):
            await charger.set_nickname(name)
    sim.refuse_next[Command.NICKNAME] = 1
    with pytest.raises(CommandRejectedError):
        await charger.set_nickname("Shed")
    assert sim.nickname == "Carport"


async def test_byte_settings(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """Language, temperature unit and start mode round trips and refusals."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    await charger.set_language(Language.GERMAN)
    await charger.set_temperature_unit(TemperatureUnit.FAHRENHEIT)
    await charger.set_start_mode(StartMode.APP_REQUIRED)
    assert (sim.language, sim.temperature_unit, sim.start_mode) == (3, 2, 1)
    settings = charger.state.settings
    assert settings.language == Language.GERMAN
    assert settings.temperature_unit == TemperatureUnit.FAHRENHEIT
    assert settings.start_mode == StartMode.APP_REQUIRED

    sim.refuse_next[Command.LANGUAGE] = 1
    with pytest.raises(CommandRejectedError, match="0x810F"):
        await charger.set_language(Language.FRENCH)
    assert charger.state.settings.language == Language.GERMAN
    sim.refuse_next[Command.TEMPERATURE_UNIT] = 1
    with pytest.raises(CommandRejectedError):
        await charger.set_temperature_unit(TemperatureUnit.CELSIUS)
    sim.refuse_next[Command.START_MODE] = 1
    with pytest.raises(CommandRejectedError):
        await charger.set_start_mode(StartMode.OFFLINE_ALLOWED)
    assert (sim.language, sim.temperature_unit, sim.start_mode) == (3, 2, 1)


async def test_lcd_brightness(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """Brightness round trip, validation and refusal."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    await charger.set_lcd_brightness(40)
    assert sim.lcd_brightness == 40
    assert charger.state.settings.lcd_brightness == 40
    for level in (-1, 101):
        with pytest.raises(InvalidValueError):
            await charger.set_lcd_brightness(level)
    sim.refuse_next[Command.LCD_BRIGHTNESS] = 1
    with pytest.raises(CommandRejectedError):
        await charger.set_lcd_brightness(100)
    assert sim.lcd_brightness == 40


async def test_sync_clock(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """The clock is set in the charger's time zone and the echo converted back."""
    berlin = ZoneInfo("Europe/Berlin")
    sim = await make_sim(time_zone=berlin)
    charger = make_charger(time_zone=berlin)
    # Replies carry no request id: let the login's own clock echo pass first.
    login_echo = heard(listener, SERIAL, Command.SYSTEM_TIME_RESPONSE)
    await connect(charger)
    await within(login_echo)
    sim.clock_em = 0x62505CDC
    echoed = await charger.sync_clock()
    assert echoed is not None
    assert abs((echoed - datetime.now(UTC)).total_seconds()) < 5
    assert abs(sim.clock_em - datetime_to_em(datetime.now(UTC), berlin)) < 5
    assert charger.em_to_datetime(0) is None
    assert charger.em_to_datetime(datetime_to_em(echoed, berlin)) == echoed


# --- state, listeners, lifecycle ----------------------------------------------------


async def test_listeners_fire_once_per_real_change(
    make_sim: MakeSim, make_charger: MakeCharger, caplog: pytest.LogCaptureFixture
) -> None:
    """Identical pushes do not notify; a change notifies once; errors are contained."""
    # Periodic charging status would carry the new state byte as a second change.
    sim = await make_sim(timings=replace(SIM_TIMINGS, charging_status_interval=30))
    # A long heading timeout: a loaded machine must not add a liveness change.
    charger = make_charger(timings=replace(TIMINGS, heading_timeout=5))
    await connect(charger)
    changes: list[ChargerState] = []

    def broken(state: ChargerState) -> None:
        raise RuntimeError("listener bug")

    charger.add_listener(broken)
    remove = charger.add_listener(changes.append)

    acks = sim.wait_for(Command.STATUS_ACK, count=3)
    session_acks = sim.wait_for(Command.CHARGING_STATUS_ACK, count=3)
    for _ in range(3):
        sim.push_status()
        sim.push_charging_status()
    await within(acks)
    await within(session_acks)
    assert changes == []

    with caplog.at_level(logging.ERROR):
        sim.plug_in()
        await wait_for_charger(charger, lambda s: s.plugged_in is True)
    assert "Error in state listener" in caplog.text
    # More identical pushes (periodic and forced) change nothing.
    acks = sim.wait_for(Command.STATUS_ACK, count=3)
    sim.push_status()
    await within(acks)
    assert len(changes) == 1
    assert changes[0].plugged_in is True

    sim.set_faults([Fault.OVER_CURRENT])
    await wait_for_charger(charger, lambda s: bool(s.faults))
    await within(sim.wait_for(Command.STATUS_ACK, count=2))
    assert len(changes) == 2
    assert changes[1].faults == (Fault.OVER_CURRENT,)
    assert changes[1].current_state == CurrentState.EVSE_FAULT

    remove()
    remove()  # harmless
    sim.unplug()
    await wait_for_charger(charger, lambda s: s.plugged_in is False)
    assert len(changes) == 2


def test_state_properties() -> None:
    """Derived values of a snapshot, with and without data."""
    empty = ChargerState(serial=SERIAL)
    assert empty.current_state is None
    assert empty.plugged_in is None
    assert empty.charging is None
    assert empty.session_active is None
    assert empty.power is None
    assert empty.faults == ()
    assert empty.phases == 1
    assert empty.max_current == const.ABSOLUTE_MAX_CURRENT

    status = Status(
        line_id=1,
        l1=PhaseReading(230.0, 10.0),
        power=None,
        total_energy=12.0,
        inner_temperature=30.0,
        outer_temperature=30.0,
        emergency_button=1,
        gun_state=GunState.UNKNOWN,
        output_state=OutputState.CHARGING,
        reported_state=CurrentState.CHARGING,
        errors=0,
    )
    state = replace(empty, status=status)
    assert state.power == 2300.0
    assert state.plugged_in is False
    assert state.charging is True
    assert state.session_active is True
    # Some three-phase units report L1 only: the larger value wins.
    assert replace(state, status=replace(status, power=7000)).power == 7000.0
    assert replace(state, status=replace(status, power=100)).power == 2300.0

    # A sum of V·I beyond what the charger can deliver is no power: PyPI
    # evsemaster's FakeEvse reports 16/15/14 A on three phases with 0 W from a
    # 7,400 W charger. The reported field stands then.
    small = DeviceInfo(1, "FAKE", "EVSE", "hw", 7400, 32)
    fixed = replace(
        status,
        power=0,
        l1=PhaseReading(230.1, 16.0),
        l2=PhaseReading(230.2, 15.0),
        l3=PhaseReading(230.3, 14.0),
    )
    assert replace(state, info=small, status=fixed).power == 0.0
    assert replace(state, info=small, status=replace(fixed, power=None)).power is None
    assert replace(state, info=replace(small, max_power=11000), status=fixed).power == (
        pytest.approx(230.1 * 16 + 230.2 * 15 + 230.3 * 14)
    )
    # A three-phase unit nobody listed may announce its single-phase power and
    # report L1 only in the field: the sum, physically possible, wins.
    l1_only = replace(fixed, power=3680)
    assert replace(state, info=small, status=l1_only).power == (
        pytest.approx(230.1 * 16 + 230.2 * 15 + 230.3 * 14)
    )
    beyond = replace(
        l1_only, l1=PhaseReading(230.0, 80.0), l2=PhaseReading(230.0, 80.0)
    )
    assert replace(state, info=small, status=beyond).power == 3680.0

    info = DeviceInfo(12, "BESEN", "BS20", "hw", 22000, 40)
    assert replace(empty, info=info).max_current == const.ABSOLUTE_MAX_CURRENT
    assert replace(empty, info=replace(info, max_current=4)).max_current == 6
    assert replace(empty, info=info).phases == 3


async def test_close_cancels_pending_request(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """close() fails a request waiting for its reply and stops receiving."""
    sim = await make_sim()
    charger = make_charger()
    await connect(charger)
    sim.ignore_commands.add(Command.NICKNAME)
    asked = sim.wait_for(Command.NICKNAME)
    request = asyncio.create_task(charger.read_nickname())
    await within(asked)
    await charger.close()
    with pytest.raises(ChargerNotReachableError, match="closed"):
        await request
    charger.shutdown()
    await charger.close()

    # The serial is no longer routed to the closed client.
    found: asyncio.Queue[DiscoveredCharger] = asyncio.Queue()
    listener.subscribe_discovery(found.put_nowait)
    sim.plug_in()
    sim.drop_client()  # it announces itself
    assert (await within(found.get())).serial == SERIAL
    assert charger.state.plugged_in is False


async def test_close_cancels_login_in_flight(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """close() during a login attempt cancels it."""
    sim = await quiet_sim(make_sim, listener)
    sim.ignore_commands.add(Command.REQUEST_LOGIN)
    charger = make_charger(
        address=sim.address, timings=replace(TIMINGS, login_timeout=10)
    )
    asked = sim.wait_for(Command.REQUEST_LOGIN)
    await charger.start()
    await within(asked)
    await charger.close()
    assert not charger.state.logged_in
    charger.shutdown()  # again: harmless


async def test_close_cancels_explicit_login(
    make_sim: MakeSim, make_charger: MakeCharger, listener: ChargerListener
) -> None:
    """A caller awaiting login() sees that the client closed."""
    sim = await quiet_sim(make_sim, listener)
    sim.ignore_commands.add(Command.REQUEST_LOGIN)
    charger = make_charger(
        address=sim.address, timings=replace(TIMINGS, login_timeout=10)
    )
    await charger.start(login=False)
    asked = sim.wait_for(Command.REQUEST_LOGIN)
    login = asyncio.create_task(charger.login())
    await within(asked)
    charger.shutdown()
    with pytest.raises(ChargerNotReachableError, match="closed"):
        await login


async def test_request_timeout(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """An unanswered command raises ChargerTimeoutError; the next one still works."""
    sim = await make_sim()
    charger = make_charger(timings=replace(TIMINGS, request_timeout=0.05))
    await connect(charger)
    sim.ignore_commands.add(Command.NICKNAME)
    with pytest.raises(ChargerTimeoutError) as err:
        await charger.read_nickname()
    assert err.value.command == Command.NICKNAME
    sim.ignore_commands.clear()
    sim.nickname = "Back"
    assert await charger.read_nickname() == "Back"


async def test_listener_restart_keeps_clients() -> None:
    """Closing and re-binding the socket keeps registrations and addresses."""
    listener = ChargerListener("127.0.0.1", free_udp_port())
    await listener.start()
    sim = SimulatedCharger(
        SERIAL, PASSWORD, client_port=listener.local_address[1], timings=SIM_TIMINGS
    )
    charger = Charger(listener, SERIAL, PASSWORD, timings=TIMINGS)
    try:
        await sim.start()
        await connect(charger)
        listener.close()
        assert not listener.is_open
        with pytest.raises(RuntimeError):
            _ = listener.local_address
        charger.refresh()  # dropped silently while the socket is closed
        await listener.start()
        await listener.start()  # already open: nothing happens
        sim.nickname = "Again"
        assert await charger.read_nickname() == "Again"
    finally:
        await charger.close()
        await sim.stop()
        listener.close()


async def test_commands_need_an_address(make_charger: MakeCharger) -> None:
    """Without any datagram from the charger there is nowhere to send."""
    charger = make_charger(OTHER)
    await charger.start()
    assert charger.address is None
    assert charger.state.address is None
    with pytest.raises(ChargerNotReachableError):
        await charger.login()
    with pytest.raises(ChargerNotReachableError):
        await charger.read_nickname()
    with pytest.raises(ChargerNotReachableError):
        await charger.start_charging(10)
    with pytest.raises(ChargerNotReachableError):
        await charger.stop_charging()
    with pytest.raises(ChargerNotReachableError):
        await charger.sync_clock()
    charger.refresh()
    charger.refresh_status()
    charger.sync_clock_soon()
    charger.connect_now()
    assert not charger.state.logged_in


async def test_wait_until_heard(make_sim: MakeSim, make_charger: MakeCharger) -> None:
    """wait_until_heard() returns once the charger's first datagram arrives."""
    charger = make_charger()
    await charger.start(login=False)
    heard_task = asyncio.create_task(charger.wait_until_heard())
    sim = await make_sim()
    assert await within(heard_task) == sim.address
    assert await charger.wait_until_heard() == sim.address


async def test_discovery_of_unregistered_chargers(
    make_sim: MakeSim, listener: ChargerListener, caplog: pytest.LogCaptureFixture
) -> None:
    """Announcements and probe answers of unknown serials reach discovery."""
    found: asyncio.Queue[DiscoveredCharger] = asyncio.Queue()
    unsubscribe = listener.subscribe_discovery(found.put_nowait)
    sim = await make_sim(OTHER, timings=QUIET)
    announced = await within(found.get())
    assert announced.serial == OTHER
    assert announced.address == sim.address
    assert announced.info is not None
    assert announced.info.model == "BS20"
    listener.send_probe([sim.address])
    probed = await within(found.get())
    assert (probed.serial, probed.address, probed.info) == (OTHER, sim.address, None)
    # A truncated announcement is not: discovery takes only what parses.
    truncated = Datagram(
        OTHER, Command.LOGIN_ANNOUNCEMENT, b"\x01", CHARGER_PASSWORD_FIELD
    )
    listener.datagram_received(truncated.encode(), sim.address)
    assert found.empty()
    unsubscribe()
    unsubscribe()  # harmless

    # Once a client owns the serial, a failing handler is contained.
    def broken(datagram: Datagram, address: Address) -> None:
        raise RuntimeError("handler bug")

    unregister = listener.register(OTHER, broken)
    with caplog.at_level(logging.ERROR):
        listener.datagram_received(truncated.encode(), sim.address)
    assert "Error handling datagram" in caplog.text
    unregister()
    unregister()  # harmless


async def test_shared_listener_serves_chargers() -> None:
    """A client on a SharedListener works and the socket closes with the last user."""
    shared = SharedListener("127.0.0.1", 0)
    listener = await shared.acquire()
    assert await shared.acquire() is listener
    sim = SimulatedCharger(
        OTHER, PASSWORD, client_port=listener.local_address[1], timings=SIM_TIMINGS
    )
    charger = Charger(listener, OTHER, PASSWORD, timings=TIMINGS)
    try:
        await charger.start()
        await sim.start()
        await wait_for_charger(charger, ready)
    finally:
        await charger.close()
        await sim.stop()
        shared.release()
        assert listener.is_open
        assert shared.users == 1
        shared.release()
    assert not listener.is_open
    shared.release()  # one release too many is harmless
    assert shared.users == 0
    assert await shared.acquire() is listener
    shared.close()
    assert not listener.is_open
    assert shared.users == 0
