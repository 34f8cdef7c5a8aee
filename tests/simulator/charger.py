"""A simulated EVSE Master charger speaking the UDP protocol (protocol.md §3).

It behaves like the real units as far as the sources describe them: it
announces itself while it has no client, serves one client at a time (a new
login takes the session over), heads the client and drops it after unanswered
headings, pushes status and charging status, and answers the commands the
integration uses. Every byte goes through :mod:`frame` and :mod:`messages`.
:class:`Quirks` make it behave like other implementations or other firmware.

Run ``python -m tests.simulator --help`` for a stand-alone charger (or several)
to try the integration against. It is a development tool: it lives beside the
integration, not in what Home Assistant installs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
import logging
from types import TracebackType
from typing import Final, Self

from custom_components.evse_master.protocol import const
from custom_components.evse_master.protocol.enums import (
    THREE_PHASE_DEVICE_TYPES,
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
    StartType,
    StopReason,
    TemperatureUnit,
    encode_faults,
)
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    NO_PASSWORD,
    PROBE_SERIAL,
    Datagram,
    normalize_serial,
    password_field,
    redact_for_log,
    split_packet,
)
from custom_components.evse_master.protocol.messages import (
    PLAN_DAYS,
    ByteSetting,
    ChargeRecord,
    ChargeRecordAck,
    ChargeStart,
    ChargeStartResponse,
    ChargeStop,
    ChargeStopResponse,
    ChargingStatus,
    DeviceInfo,
    Heading,
    LanguageSetting,
    LcdBrightness,
    Message,
    Nickname,
    OutputCurrent,
    PasswordError,
    PayloadError,
    PhaseReading,
    PlanDay,
    StartModeSetting,
    Status,
    SystemTime,
    TemperatureUnitSetting,
    Version,
    WeeklyPlan,
    datetime_to_em,
    to_datagram,
)

from .quirks import NO_QUIRKS, UNLISTED_THREE_PHASE_TYPE, Quirks

__all__ = [
    "DEFAULT_TIMINGS",
    "MODELS",
    "ChargerModel",
    "Quirks",
    "SimulatedCharger",
    "SimulatorTimings",
]

_LOGGER = logging.getLogger(__name__)

type Address = tuple[str, int]

DEFAULT_SERIAL: Final = "9181102751219513"
DEFAULT_PASSWORD: Final = "123456"

_REPLY_OFFSET = 0x8000
"""A reply's command id is the request's minus this (§4)."""
_SHORT_STATUS = 25
_LONG_STATUS = 33
_MOREC_STATUS = 40
"""Status length of the Morec capture (§5.3); what ``long_payloads`` sends."""
_MOREC_STATUS_EXTRA = b"\x03\xff"
"""Bytes 33 and 34 of the Morec capture; zeros follow."""
_LONG_INFO_LAYOUT = 119
_LONG_INFO_EXTRA = bytes(26)
"""Makes the 119-byte device info the 145 bytes of a capture (§5.1)."""
_PLAN_MAX_MINUTES = 24 * 60
_MAX_RESERVATION_AHEAD = 24 * 3600
"""Seconds; chargers refuse plans further ahead (§5.5)."""
_LCD_SET_MODE: Final = LcdBrightness.set(0).mode
_MAX_BRIGHTNESS = 100
_UNPLUG_STOPPER = "Pull Plug"
"""What real records show as "stopped by" when the car was unplugged."""
_BLANK_RECORD_TAIL = bytes(2)
"""An empty power log: just its u16 entry count (§5.8)."""


@dataclass(frozen=True, slots=True)
class SimulatorTimings:
    """The simulated charger's clock, in seconds (real units: §3)."""

    announce_interval: float = 3.0
    """0x0001 announcements while no client is logged in."""
    heading_interval: float = 10.0
    """0x0003 headings to the logged-in client."""
    missed_headings_limit: int = 3
    """Unanswered headings in a row after which the client is dropped."""
    status_interval: float = 5.0
    """0x0004 status pushes to the client."""
    charging_status_interval: float = 10.0
    """0x0005 charging status pushes to the client."""
    record_resend_interval: float = 3.6
    """0x000A stored-record replays until acknowledged."""
    limit_minute: float = 60.0
    """Loop seconds one minute of a ChargeStart ``max_duration`` lasts (tests
    shrink it to see time limits end sessions)."""

    def __post_init__(self) -> None:
        """Reject intervals that would make the timers spin."""
        intervals = (
            self.announce_interval,
            self.heading_interval,
            self.status_interval,
            self.charging_status_interval,
            self.record_resend_interval,
            self.limit_minute,
        )
        if min(intervals) <= 0 or self.missed_headings_limit < 1:
            raise ValueError("intervals must be positive and the limit at least 1")


DEFAULT_TIMINGS: Final = SimulatorTimings()


@dataclass(frozen=True, slots=True)
class ChargerModel:
    """What a simulated charger announces and how its firmware behaves."""

    key: str
    """Name in :data:`MODELS` and on the command line."""
    brand: str
    model: str
    device_type: int
    """Type code of the announcement; decides the phase count (§5.1)."""
    max_current: int
    """Hardware limit per phase, amperes."""
    max_power: int
    """Watts."""
    hardware_version: str
    software_version: str
    applies_current_mid_session: bool
    """False = like a Telestar EC311S: a new max current waits for the next start."""
    status_length: int
    """Status payload bytes: 25 (no L2/L3), 33 (with L2/L3) or longer."""
    hotline: str = "WWW.EVSE.COM"

    def __post_init__(self) -> None:
        """Reject status lengths the status layout cannot produce."""
        if self.status_length != _SHORT_STATUS and self.status_length < _LONG_STATUS:
            raise ValueError("status_length must be 25 or at least 33")

    @property
    def phases(self) -> int:
        """Phases the announced type code stands for."""
        return 3 if self.device_type in THREE_PHASE_DEVICE_TYPES else 1


MODELS: Final[dict[str, ChargerModel]] = {
    model.key: model
    for model in (
        ChargerModel(
            key="bs20",
            brand="BESEN",
            model="BS20",
            device_type=1,
            max_current=32,
            max_power=7040,
            hardware_version="C.3252.112A008",
            software_version="C.3252.112A008",
            applies_current_mid_session=True,
            status_length=_SHORT_STATUS,
        ),
        ChargerModel(
            key="bs20-3p",
            brand="BESEN",
            model="BS20",
            device_type=12,
            max_current=16,
            max_power=11000,
            hardware_version="20.1651.113C00",
            software_version="20.1651.113C00",
            applies_current_mid_session=True,
            status_length=_LONG_STATUS,
        ),
        ChargerModel(
            key="ec311s",
            brand="Telestar",
            model="EC311S",
            device_type=1,
            max_current=16,
            max_power=3680,
            hardware_version="EC311S.HW.1.0",
            software_version="EC311S.SW.1.0",
            applies_current_mid_session=False,
            status_length=_LONG_STATUS,
        ),
    )
}
"""Models the simulator knows, by key."""

_STOP_REASON_FOR_FAULT: Final[dict[int, StopReason]] = {
    Fault.OVER_CURRENT: StopReason.FAULT_OVER_CURRENT,
    Fault.SHORT_CIRCUIT: StopReason.FAULT_SHORT_CIRCUIT,
    Fault.EMERGENCY_STOP: StopReason.FAULT_EMERGENCY_STOP,
    Fault.INNER_OVER_TEMPERATURE: StopReason.FAULT_BOARD_OVER_TEMPERATURE,
    Fault.OUTER_OVER_TEMPERATURE: StopReason.FAULT_PLUG_OVER_TEMPERATURE,
}
"""Record stop reason of a session a fault ended; other faults: power failure."""

_RESULT_FOR_ERROR: Final[dict[int, ReservationResult]] = {
    ChargeStartError.SYSTEM_ERROR: ReservationResult.SYSTEM_ERROR,
    ChargeStartError.ALREADY_CHARGING: ReservationResult.ALREADY_CHARGING,
    ChargeStartError.INCORRECT_FEE: ReservationResult.INCORRECT_FEE,
    ChargeStartError.INCORRECT_POWER_OR_ENERGY: ReservationResult.INCORRECT_POWER,
    ChargeStartError.INCORRECT_TIME: ReservationResult.INCORRECT_TIME,
    ChargeStartError.ALREADY_RESERVED: ReservationResult.ALREADY_RESERVED,
}
"""Reservation result that goes with a start error (§6.5, §6.6)."""


@dataclass(frozen=True, slots=True)
class _ByteSettingSpec:
    message: type[ByteSetting]
    attribute: str
    """Attribute of :class:`SimulatedCharger` holding the value."""
    valid: Callable[[int, ChargerModel], bool]


_BYTE_SETTINGS: Final[dict[int, _ByteSettingSpec]] = {
    Command.OUTPUT_CURRENT: _ByteSettingSpec(
        OutputCurrent,
        "max_current_setting",
        lambda amps, model: const.MIN_CURRENT <= amps <= model.max_current,
    ),
    Command.LANGUAGE: _ByteSettingSpec(
        LanguageSetting, "language", lambda code, _: Language(code).known
    ),
    Command.TEMPERATURE_UNIT: _ByteSettingSpec(
        TemperatureUnitSetting,
        "temperature_unit",
        lambda unit, _: TemperatureUnit(unit).known,
    ),
    Command.START_MODE: _ByteSettingSpec(
        StartModeSetting, "start_mode", lambda mode, _: StartMode(mode).known
    ),
}

_REFUSAL_AWARE: Final = frozenset(
    {
        Command.CHARGE_START,
        Command.CHARGE_STOP,
        Command.SYSTEM_TIME,
        Command.NICKNAME,
        Command.LCD_BRIGHTNESS,
        Command.WEEKLY_PLAN,
        *_BYTE_SETTINGS,
    }
)
"""Requests whose reply itself can say no; others are refused with 0x0155."""


class _Repeater:
    """Calls a function every ``interval`` seconds on the running loop."""

    def __init__(self, interval: float, callback: Callable[[], None]) -> None:
        self._interval = interval
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, *, immediately: bool = False) -> None:
        """(Re)start the period; ``immediately`` also fires once right now."""
        self.cancel()
        self._schedule()
        if immediately:
            self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._interval, self._fire)

    def _fire(self) -> None:
        # Rescheduling first lets the callback cancel the repeater for good.
        self._schedule()
        self._callback()


class _Endpoint(asyncio.DatagramProtocol):
    """The charger's socket; one per bind, so a rebind cannot mix them up."""

    def __init__(self, receive: Callable[[bytes, str], None]) -> None:
        self._receive = receive
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._receive(data, str(addr[0]))

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" from a client that went away: keep serving.
        _LOGGER.debug("UDP error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(slots=True)
class _Session:
    """A charging session: planned, running or finished."""

    request: ChargeStart
    current: int
    """Amperes per phase the session is allowed."""
    phases: int
    start_energy: float
    start_time: int
    """EM timestamp when power began (the planned time while planned)."""
    started_at: float | None = None
    """Loop time when power began; ``None`` while planned."""
    energy: float = 0.0
    ended_at: float | None = None
    stop_time: int = 0
    stop_reason: StopReason = StopReason.STOPPED_BY_APP
    stopped_by: str = ""

    @property
    def planned(self) -> bool:
        return self.started_at is None and self.ended_at is None

    @property
    def charging(self) -> bool:
        return self.started_at is not None and self.ended_at is None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def duration(self, now: float) -> int:
        if self.started_at is None:
            return 0
        end = now if self.ended_at is None else self.ended_at
        return int(end - self.started_at)


@dataclass(frozen=True, slots=True)
class _Incoming:
    """A request addressed to this charger, as its handler sees it."""

    datagram: Datagram
    host: str
    """Sender IP; replies go to this host's client port."""
    refusal: int | None = None
    """Code from :attr:`SimulatedCharger.refuse_next` to refuse it with."""

    @property
    def command(self) -> int:
        return self.datagram.command

    @property
    def payload(self) -> bytes:
        return self.datagram.payload


@dataclass(slots=True)
class _Waiter:
    command: int
    remaining: int
    future: asyncio.Future[Datagram]


@dataclass(slots=True)
class _Socket:
    transport: asyncio.DatagramTransport
    endpoint: _Endpoint

    @property
    def address(self) -> Address:
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def close(self) -> None:
        self.transport.close()
        await self.endpoint.closed


class SimulatedCharger:
    """One simulated charger on its own UDP socket.

    Attributes readable (and writable, without a push) by tests: ``plugged``,
    ``max_current_setting``, ``nickname``, ``language``, ``temperature_unit``,
    ``start_mode``, ``lcd_brightness``, ``weekly_plan``, ``total_energy``,
    ``voltage``, ``temperature_inner`` and ``temperature_outer``.

    Rules the Bluetooth library ``besen`` reports (protocol.md §5.5) hold
    always: an accepted start becomes the configured output current; one
    planned session at a time, cancelled by a stop; no start while one is
    planned or charging; a session's ``max_duration`` and ``max_energy`` end
    it (stop reasons TIME_LIMIT and ENERGY_LIMIT, state Completed after).
    ``quirks`` switches on deviations (:class:`Quirks`).
    """

    def __init__(
        self,
        serial: str = DEFAULT_SERIAL,
        password: str = DEFAULT_PASSWORD,
        model: str | ChargerModel = "bs20",
        *,
        phases: int | None = None,
        bind_host: str = "127.0.0.1",
        bind_port: int = 0,
        client_host: str = "127.0.0.1",
        client_port: int | None = None,
        timings: SimulatorTimings = DEFAULT_TIMINGS,
        time_zone: tzinfo = UTC,
        quirks: Quirks = NO_QUIRKS,
    ) -> None:
        """Prepare a charger; nothing is bound until :meth:`start`.

        ``phases`` is how many phases are wired (a three-phase model on a
        single-phase supply, say); the announced type stays the model's
        (type 9 with ``quirks.unlisted_three_phase``, which also defaults
        ``phases`` to 3). ``client_port`` defaults to :data:`const.LISTEN_PORT`.
        """
        if isinstance(model, str):
            if model not in MODELS:
                raise ValueError(f"unknown model {model!r}; known: {sorted(MODELS)}")
            model = MODELS[model]
        if phases is not None and not 1 <= phases <= 3:
            raise ValueError("phases must be 1, 2 or 3")
        self.serial = normalize_serial(serial)
        self.model = model
        self.quirks = quirks
        wired = 3 if quirks.unlisted_three_phase else model.phases
        self.phases = wired if phases is None else phases
        self.timings = timings
        self.time_zone = time_zone
        self.password = password
        self._bind: Address = (bind_host, bind_port)
        self._client_port = const.LISTEN_PORT if client_port is None else client_port
        self._announce_to: Address = (client_host, self._client_port)

        self.received: list[Datagram] = []
        """Every datagram addressed to this charger, in arrival order (also
        while :meth:`go_silent`, which only stops it from answering)."""
        self.refuse_next: dict[int, int] = {}
        """Test hook: command id -> code to refuse the next such request with."""
        self.ignore_commands: set[int] = set()
        """Test hook: commands recorded in :attr:`received` but otherwise lost."""

        self.plugged = False
        self.voltage = 230.0
        self.temperature_inner = 25.0
        self.temperature_outer = 25.0
        self.total_energy = 1234.56
        """Lifetime counter, kWh; brought up to date at every status."""
        self.max_current_setting = min(16, model.max_current)
        self.nickname = ""
        self.language = int(Language.ENGLISH)
        self.temperature_unit = int(TemperatureUnit.CELSIUS)
        self.start_mode = int(StartMode.OFFLINE_ALLOWED)
        self.lcd_brightness = 80
        self.weekly_plan: tuple[PlanDay, ...] = tuple(
            PlanDay() for _ in range(PLAN_DAYS)
        )
        """0x810E days, Monday first; stored only (no session starts by it)."""
        self._faults: tuple[Fault | int, ...] = ()
        self._emergency_pressed = False
        self._clock_skew = 0
        self._session: _Session | None = None
        self._completed_state: CurrentState | None = None
        """15 or 17 after a session the charger ended itself, until a stop,
        a new session or unplugging."""
        self._energy_mark = 0.0
        self._pending_records: list[ChargeRecord] = []
        self._records_made = 0

        self._socket: _Socket | None = None
        self._client: Address | None = None
        self._silent = False
        self._missed_headings = 0
        self._waiters: list[_Waiter] = []
        self._reservation: asyncio.TimerHandle | None = None
        self._duration_limit: asyncio.TimerHandle | None = None
        self._energy_limit: asyncio.TimerHandle | None = None
        self._headings_end: asyncio.TimerHandle | None = None
        self._announcer = _Repeater(timings.announce_interval, self._announce)
        self._header = _Repeater(timings.heading_interval, self._heading_tick)
        self._status_pusher = _Repeater(timings.status_interval, self.push_status)
        self._charging_pusher = _Repeater(
            timings.charging_status_interval, self.push_charging_status
        )
        self._record_replayer = _Repeater(
            timings.record_resend_interval, self._replay_record
        )
        self._client_timers = (
            self._header,
            self._status_pusher,
            self._charging_pusher,
            self._record_replayer,
        )
        self._handlers: dict[int, Callable[[_Incoming], None]] = {
            Command.REQUEST_LOGIN: self._on_request_login,
            Command.LOGIN_CONFIRM: self._on_login_confirm,
            Command.HEADING_RESPONSE: self._on_heading_response,
            Command.STATUS_REQUEST: self._on_status_request,
            Command.CHARGING_STATUS_REQUEST: self._on_charging_status_request,
            Command.GET_VERSION: self._on_get_version,
            Command.CHARGE_START: self._on_charge_start,
            Command.CHARGE_STOP: self._on_charge_stop,
            Command.LOCAL_CHARGE_RECORD_ACK: self._on_record_ack,
            Command.SYSTEM_TIME: self._on_system_time,
            Command.NICKNAME: self._on_nickname,
            Command.LCD_BRIGHTNESS: self._on_lcd_brightness,
            Command.WEEKLY_PLAN: self._on_weekly_plan,
            **dict.fromkeys(_BYTE_SETTINGS, self._on_byte_setting),
        }

    # --- lifecycle ---

    async def start(self) -> None:
        """Bind the socket and start announcing (the first one right away)."""
        if self._socket is not None:
            return
        self._socket = await self._open(*self._bind)
        self._silent = False
        _LOGGER.debug("Charger %s on %s:%d", self.serial, *self.address)
        self._announcer.start(immediately=True)

    async def stop(self) -> None:
        """Cancel every timer, forget the client and close the socket."""
        self._cancel_timers()
        self._client = None
        for waiter in self._waiters:
            waiter.future.cancel()
        self._waiters.clear()
        if self._socket is not None:
            sock, self._socket = self._socket, None
            await sock.close()

    async def __aenter__(self) -> Self:
        """Start; the context exit stops."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()

    async def rebind(self, host: str | None = None, port: int = 0) -> None:
        """Move to a new source address (DHCP renewal, new port); keeps all state."""
        self._bind = (self._bind[0] if host is None else host, port)
        if self._socket is None:
            return
        old, self._socket = self._socket, await self._open(*self._bind)
        await old.close()
        _LOGGER.debug("Charger %s moved to %s:%d", self.serial, *self.address)

    async def _open(self, host: str, port: int) -> _Socket:
        loop = asyncio.get_running_loop()
        transport, endpoint = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._datagram_received), local_addr=(host, port)
        )
        return _Socket(transport, endpoint)

    def _cancel_timers(self) -> None:
        self._announcer.cancel()
        self._cancel_client_timers()
        self._cancel_session_timers()

    def _cancel_client_timers(self) -> None:
        for timer in self._client_timers:
            timer.cancel()
        if self._headings_end is not None:
            self._headings_end.cancel()
            self._headings_end = None

    def _cancel_session_timers(self) -> None:
        for handle in (self._reservation, self._duration_limit, self._energy_limit):
            if handle is not None:
                handle.cancel()
        self._reservation = self._duration_limit = self._energy_limit = None

    @property
    def address(self) -> Address:
        """Where the charger listens and sends from."""
        if self._socket is None:
            raise RuntimeError("simulator is not started")
        return self._socket.address

    @property
    def password(self) -> str:
        """The charger password; settable, as when the app changes it."""
        return self._password.decode("ascii")

    @password.setter
    def password(self, password: str) -> None:
        self._password = password_field(password)

    @property
    def announce_to(self) -> Address:
        """Where announcements go: ``(client_host, client_port)``."""
        return self._announce_to

    @property
    def client(self) -> Address | None:
        """The logged-in client as ``(ip, client port)``."""
        return self._client

    @property
    def heads_client(self) -> bool:
        """Whether headings go to the client now (see ``headings_stop_after``)."""
        return self._header.running

    @property
    def silent(self) -> bool:
        """Whether the charger is playing dead (:meth:`go_silent`)."""
        return self._silent

    def go_silent(self) -> None:
        """Send nothing and ignore all input, as after a power or Wi-Fi loss."""
        self._silent = True
        self._announcer.cancel()
        self._cancel_client_timers()

    def resume(self) -> None:
        """Come back like after a reboot: no client, announcing again."""
        self._silent = False
        self.drop_client()

    def drop_client(self) -> None:
        """Forget the client (charger reboot, heading timeout) and announce."""
        self._client = None
        self._cancel_client_timers()
        if self._socket is not None and not self._silent:
            self._announcer.start(immediately=True)

    def wait_for(self, command: int, *, count: int = 1) -> asyncio.Future[Datagram]:
        """Future of the ``count``-th datagram of ``command`` received from now on."""
        future: asyncio.Future[Datagram] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(command, count, future))
        return future

    # --- readable state ---

    @property
    def charging(self) -> bool:
        """Whether a session is delivering power now."""
        return self._session is not None and self._session.charging

    @property
    def reserved(self) -> bool:
        """Whether a planned session waits for its start time."""
        return self._session is not None and self._session.planned

    @property
    def session_current(self) -> int:
        """Amperes of the running or planned session; 0 without one."""
        session = self._session
        return session.current if session is not None and session.active else 0

    @property
    def session_energy(self) -> float:
        """KWh of the running session, else of the last one."""
        return 0.0 if self._session is None else self._session.energy

    @property
    def faults(self) -> tuple[Fault | int, ...]:
        """Active fault codes, the emergency stop included."""
        codes = set(self._faults)
        if self._emergency_pressed:
            codes.add(Fault.EMERGENCY_STOP)
        return tuple(sorted(codes, key=int))

    @property
    def emergency_stop(self) -> bool:
        """Whether the emergency button is pressed."""
        return self._emergency_pressed

    @property
    def current_state(self) -> CurrentState:
        """State byte of status and charging status (§6.1)."""
        if self.faults:
            return CurrentState.EVSE_FAULT
        if self.charging:
            return CurrentState.CHARGING
        if self.reserved:
            return CurrentState.CHARGING_RESERVATION
        if self.plugged:
            return self._completed_state or CurrentState.READY_TO_CHARGE
        return CurrentState.NOT_CONNECTED

    @property
    def gun_state(self) -> GunState:
        """Plug state byte (§6.2)."""
        if not self.plugged:
            return GunState.DISCONNECTED
        if self.charging:
            return GunState.CONNECTED_LOCKED
        return GunState.CONNECTED_UNLOCKED

    @property
    def output_state(self) -> OutputState:
        """Relay state byte (§6.3)."""
        return OutputState.CHARGING if self.charging else OutputState.IDLE

    @property
    def clock_em(self) -> int:
        """The charger clock as an EM timestamp (settable, like 0x8101 SET)."""
        return self._wall_clock_em() + self._clock_skew

    @clock_em.setter
    def clock_em(self, value: int) -> None:
        self._clock_skew = value - self._wall_clock_em()

    def _wall_clock_em(self) -> int:
        return datetime_to_em(datetime.now(UTC), self.time_zone)

    # --- car and device ---

    def plug_in(self) -> None:
        """Plug a car in."""
        if not self.plugged:
            self.plugged = True
            self.push_status()

    def unplug(self) -> None:
        """Unplug the car; a running session ends (stop reason UNPLUGGED)."""
        if not self.plugged:
            return
        if self.charging:
            self._end_session(StopReason.UNPLUGGED, _UNPLUG_STOPPER, plugged=False)
        else:
            self.plugged = False
            self._completed_state = None
            self.push_status()

    def complete_session(self, full: bool = False) -> None:
        """End the running session as a car that stops drawing does (test hook).

        The relay opens, the plug stays in, status and charging status show
        COMPLETED (COMPLETED_FULL_CHARGE if ``full``) until a stop, a new
        session or unplugging, and a record with stop reason FULL goes out.
        """
        if not self.charging:
            raise RuntimeError("no session is charging")
        completed = (
            CurrentState.COMPLETED_FULL_CHARGE if full else CurrentState.COMPLETED
        )
        self._end_session(StopReason.FULL, "", completed=completed)

    def set_faults(self, faults: Iterable[Fault | int]) -> None:
        """Replace the fault codes; a fault ends a running session."""
        self._faults = tuple(faults)
        self._after_fault_change()

    def set_emergency_stop(self, pressed: bool) -> None:
        """Press or release the emergency button (fault EMERGENCY_STOP)."""
        self._emergency_pressed = pressed
        self._after_fault_change()

    def _after_fault_change(self) -> None:
        if self.faults and self.charging:
            self._end_session(self._fault_stop_reason(), "")
        else:
            self.push_status()

    def _fault_stop_reason(self) -> StopReason:
        for fault in self.faults:
            if fault in _STOP_REASON_FOR_FAULT:
                return _STOP_REASON_FOR_FAULT[fault]
        return StopReason.POWER_FAILURE

    def set_measurements(
        self,
        *,
        voltage: float | None = None,
        temperature_inner: float | None = None,
        temperature_outer: float | None = None,
        total_energy: float | None = None,
    ) -> None:
        """Change readings; ``None`` keeps a value."""
        # Energy so far was drawn at the old voltage.
        self._accumulate()
        if voltage is not None:
            self.voltage = voltage
        if temperature_inner is not None:
            self.temperature_inner = temperature_inner
        if temperature_outer is not None:
            self.temperature_outer = temperature_outer
        if total_energy is not None:
            self.total_energy = total_energy
        self._watch_energy_limit()  # the power may have changed
        self.push_status()

    def add_energy(self, kwh: float) -> None:
        """Add deterministic energy to the counter and the running session.

        A session whose energy limit this reaches ends right away.
        """
        self._accumulate()
        self.total_energy += kwh
        session = self._session
        if session is not None and session.charging:
            session.energy += kwh
            if _energy_limit_reached(session):
                self._end_session(
                    StopReason.ENERGY_LIMIT, "", completed=CurrentState.COMPLETED
                )
                return
            self._watch_energy_limit()
            self.push_charging_status()
        self.push_status()

    # --- sending ---

    def push_status(self) -> None:
        """Send a 0x0004 status to the client now (unless ``pushes`` is off)."""
        if self.quirks.pushes:
            self._send_to_client(Command.STATUS, self._status())

    def push_charging_status(self) -> None:
        """Send a 0x0005 charging status to the client (unless ``pushes`` is off)."""
        if self.quirks.pushes:
            self._send_to_client(Command.CHARGING_STATUS, self._charging_status())

    def _publish_session(self) -> None:
        self.push_status()
        self.push_charging_status()

    def emit_record(self, *, stored: bool = True) -> None:
        """Send a record of the last session (or a made-up one if none ended).

        ``stored`` sends 0x000A and replays it every record_resend_interval
        until a 0x800A carrying its charge id arrives (also to a later client);
        otherwise 0x0009 goes once to the current client.
        """
        session = self._session
        if session is None or session.active:
            record = self._made_up_record()
        else:
            record = self._record(session)
        if stored:
            self._store_record(record)
        else:
            self._send_to_client(Command.CURRENT_CHARGE_RECORD, record)

    def _store_record(self, record: ChargeRecord) -> None:
        self._pending_records.append(record)
        if self._client is not None and not self._record_replayer.running:
            self._record_replayer.start(immediately=True)

    def _replay_record(self) -> None:
        # Runs only while records are pending: acks and drops cancel it.
        self._send_to_client(Command.LOCAL_CHARGE_RECORD, self._pending_records[0])

    def _announce(self) -> None:
        self._send(Command.LOGIN_ANNOUNCEMENT, self._device_info(), self._announce_to)

    def _heading_tick(self) -> None:
        if self._missed_headings >= self.timings.missed_headings_limit:
            _LOGGER.debug(
                "Charger %s: client %s stopped answering", self.serial, self._client
            )
            self.drop_client()
            return
        self._missed_headings += 1
        self._send_to_client(Command.HEADING, Heading())
        if self.quirks.broadcast_headings and self._client != self._announce_to:
            # Where the announcements go, so other clients hear it as well.
            self._send(Command.HEADING, Heading(), self._announce_to)

    def _send_to_client(self, command: int, message: Message) -> None:
        if self._client is not None:
            self._send(command, message, self._client)

    def _reply(self, incoming: _Incoming, command: int, message: Message) -> None:
        # Real chargers answer the client port, whatever port the request came from.
        self._send(command, message, (incoming.host, self._client_port))

    def _send(self, command: int, message: Message, address: Address) -> None:
        if self._silent or self._socket is None:
            return
        data = to_datagram(
            message, command, self.serial, self._header_password()
        ).encode()
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("%s -> %s:%d %s", self.serial, *address, redact_for_log(data))
        self._socket.transport.sendto(data, address)

    def _header_password(self) -> bytes:
        match self.quirks.header_password:
            case "zeros":
                return NO_PASSWORD
            case "own":
                return self._password
            case _:
                return CHARGER_PASSWORD_FIELD

    # --- receiving ---

    def _datagram_received(self, data: bytes, host: str) -> None:
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("%s <- %s %s", self.serial, host, redact_for_log(data))
        for datagram in split_packet(data):
            if datagram.serial not in (self.serial, PROBE_SERIAL):
                continue
            # Recorded even while silent: what reached the charger's address.
            self.received.append(datagram)
            self._notify_waiters(datagram)
            if self._silent or datagram.command in self.ignore_commands:
                continue
            try:
                self._handle(datagram, host)
            except PayloadError as err:
                _LOGGER.debug("Charger %s ignores a bad request: %s", self.serial, err)

    def _notify_waiters(self, datagram: Datagram) -> None:
        for waiter in tuple(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
            elif waiter.command == datagram.command:
                waiter.remaining -= 1
                if waiter.remaining <= 0:
                    waiter.future.set_result(datagram)
                    self._waiters.remove(waiter)

    def _handle(self, datagram: Datagram, host: str) -> None:
        command = datagram.command
        incoming = _Incoming(datagram, host)
        if datagram.serial == PROBE_SERIAL:
            # The discovery probe (§1.2): the refusal reveals the real serial.
            if command == Command.REQUEST_LOGIN:
                self._reply(incoming, Command.PASSWORD_ERROR, PasswordError(0))
            return
        if datagram.password != self._password:
            self._reply(incoming, Command.PASSWORD_ERROR, PasswordError(0))
            return
        handler = self._handlers.get(command)
        if handler is None:
            return  # acks and commands the simulator does not model
        refusal = self.refuse_next.pop(command, None)
        if refusal is not None:
            refusal &= 0xFF
            if command not in _REFUSAL_AWARE:
                self._reply(incoming, Command.PASSWORD_ERROR, PasswordError(refusal))
                return
            incoming = _Incoming(datagram, host, refusal)
        handler(incoming)

    def _on_request_login(self, incoming: _Incoming) -> None:
        self._reply(incoming, Command.LOGIN_RESPONSE, self._device_info())

    def _on_login_confirm(self, incoming: _Incoming) -> None:
        # Like the app: a login from anywhere takes the session over.
        self._client = (incoming.host, self._client_port)
        self._missed_headings = 0
        self._announcer.cancel()
        self._cancel_client_timers()
        self._header.start()
        stop_after = self.quirks.headings_stop_after
        if stop_after is not None:
            loop = asyncio.get_running_loop()
            self._headings_end = loop.call_later(stop_after, self._stop_headings)
        if self.quirks.pushes:
            self._status_pusher.start()
            self._charging_pusher.start()
        if self._pending_records:
            self._record_replayer.start(immediately=True)
        _LOGGER.debug("Charger %s: client is now %s", self.serial, self._client)

    def _stop_headings(self) -> None:
        # Without headings nothing counts missed answers: the client stays.
        self._headings_end = None
        self._header.cancel()
        _LOGGER.debug("Charger %s: no more headings to %s", self.serial, self._client)

    def _on_heading_response(self, incoming: _Incoming) -> None:
        if self._client is not None and self._client[0] == incoming.host:
            self._missed_headings = 0

    def _on_status_request(self, incoming: _Incoming) -> None:
        self._reply(incoming, Command.STATUS_RESPONSE, self._status())

    def _on_charging_status_request(self, incoming: _Incoming) -> None:
        self._reply(incoming, Command.CHARGING_STATUS_RESPONSE, self._charging_status())

    def _on_get_version(self, incoming: _Incoming) -> None:
        version = Version(self.model.hardware_version, self.model.software_version, 0)
        self._reply(incoming, Command.VERSION_RESPONSE, version)

    def _on_system_time(self, incoming: _Incoming) -> None:
        request = SystemTime.parse(incoming.payload)
        if (
            request.action == Action.SET
            and request.time is not None
            and incoming.refusal is None
        ):
            self.clock_em = request.time
        reply = SystemTime(request.action, self.clock_em)
        self._reply(incoming, Command.SYSTEM_TIME_RESPONSE, reply)

    def _on_byte_setting(self, incoming: _Incoming) -> None:
        spec = _BYTE_SETTINGS[incoming.command]
        request = spec.message.parse(incoming.payload)
        accepted = (
            request.action == Action.SET
            and incoming.refusal is None
            and spec.valid(request.value, self.model)
        )
        if accepted:
            setattr(self, spec.attribute, request.value)
        reply = spec.message(
            self._echo_action(request.action), getattr(self, spec.attribute)
        )
        self._reply(incoming, incoming.command - _REPLY_OFFSET, reply)
        if accepted and incoming.command == Command.OUTPUT_CURRENT:
            self._apply_current_mid_session(request.value)

    def _apply_current_mid_session(self, amps: int) -> None:
        session = self._session
        if session is None or not session.charging:
            return
        if not self.model.applies_current_mid_session or session.current == amps:
            return
        self._accumulate()
        session.current = amps
        self._watch_energy_limit()
        self._publish_session()

    def _on_nickname(self, incoming: _Incoming) -> None:
        request = Nickname.parse(incoming.payload)
        if (
            request.action == Action.SET
            and incoming.refusal is None
            and len(request.name) <= const.NICKNAME_MAX_LENGTH
        ):
            self.nickname = request.name
        reply = Nickname(self._echo_action(request.action), self.nickname)
        self._reply(incoming, Command.NICKNAME_RESPONSE, reply)

    def _echo_action(self, action: Action) -> Action:
        """Action byte of a setting reply: FakeEvse answers a SET as a GET."""
        if action == Action.SET and self.quirks.setting_echo == "get":
            return Action.GET
        return action

    def _on_weekly_plan(self, incoming: _Incoming) -> None:
        request = WeeklyPlan.parse(incoming.payload)
        if (
            request.action == Action.SET
            and incoming.refusal is None
            and _valid_plan(request.days)
        ):
            self.weekly_plan = request.days
        reply = WeeklyPlan(request.action, self.weekly_plan)
        self._reply(incoming, Command.WEEKLY_PLAN_RESPONSE, reply)

    def _on_lcd_brightness(self, incoming: _Incoming) -> None:
        request = LcdBrightness.parse(incoming.payload)
        if (
            request.mode == _LCD_SET_MODE
            and incoming.refusal is None
            and request.level <= _MAX_BRIGHTNESS
        ):
            self.lcd_brightness = request.level
        reply = LcdBrightness(mode=request.mode, level=self.lcd_brightness)
        self._reply(incoming, Command.LCD_BRIGHTNESS_RESPONSE, reply)

    def _on_record_ack(self, incoming: _Incoming) -> None:
        charge_id = ChargeRecordAck.parse(incoming.payload).charge_id
        for record in self._pending_records:
            if record.charge_id == charge_id:
                self._pending_records.remove(record)
                break
        else:
            return
        if self._pending_records and self._client is not None:
            self._record_replayer.start(immediately=True)
        else:
            self._record_replayer.cancel()

    # --- sessions ---

    def _on_charge_start(self, incoming: _Incoming) -> None:
        request = ChargeStart.parse(incoming.payload)
        error, result = self._check_start(request, incoming.refusal)
        if error != ChargeStartError.OK:
            reply = ChargeStartResponse(
                request.line_id, result, 0, error, request.max_current
            )
            self._reply(incoming, Command.CHARGE_START_RESPONSE, reply)
            return
        planned = result == ReservationResult.RESERVATION_OK
        forced_single = (
            request.charge_type == ChargeType.SINGLE_PHASE and request.line_id == 1
        )
        session = _Session(
            request=request,
            current=request.max_current,
            phases=1 if forced_single else self.phases,
            start_energy=self.total_energy,
            start_time=request.start_time if planned else self.clock_em,
        )
        self._session = session
        self._completed_state = None
        # Like besen reports: the session's amps become the configured ones.
        self.max_current_setting = request.max_current
        reply = ChargeStartResponse(
            request.line_id, result, 1, ChargeStartError.OK, request.max_current
        )
        self._reply(incoming, Command.CHARGE_START_RESPONSE, reply)
        if planned:
            delay = request.start_time - self.clock_em
            loop = asyncio.get_running_loop()
            self._reservation = loop.call_later(delay, self._reservation_due)
        else:
            self._begin_charging(session)
        self._publish_session()

    def _check_start(
        self, request: ChargeStart, refusal: int | None
    ) -> tuple[ChargeStartError, ReservationResult]:
        if refusal is not None:
            error = ChargeStartError(refusal)
            return error, _RESULT_FOR_ERROR.get(error, ReservationResult.IMMEDIATE)
        if self.faults:
            error = ChargeStartError.SYSTEM_ERROR
        elif not self.plugged:
            error = ChargeStartError.NOT_PLUGGED_IN
        elif self.charging:
            error = ChargeStartError.ALREADY_CHARGING
        elif self.reserved:
            error = ChargeStartError.ALREADY_RESERVED
        elif self._awaiting_stop and not request.is_reservation:
            # §5.5 names no code for it; 8 is the generic refusal.
            error = ChargeStartError.UNKNOWN_REASON
        elif not const.MIN_CURRENT <= request.max_current <= self.model.max_current:
            error = ChargeStartError.INCORRECT_POWER_OR_ENERGY
        elif not request.is_reservation:
            return ChargeStartError.OK, ReservationResult.IMMEDIATE
        else:
            ahead = request.start_time - self.clock_em
            if ahead <= 0:
                return ChargeStartError.OK, ReservationResult.TIME_IN_PAST_STARTED_NOW
            if ahead > _MAX_RESERVATION_AHEAD:
                return ChargeStartError.INCORRECT_TIME, ReservationResult.TIME_TOO_FAR
            return ChargeStartError.OK, ReservationResult.RESERVATION_OK
        return error, _RESULT_FOR_ERROR.get(error, ReservationResult.IMMEDIATE)

    @property
    def _awaiting_stop(self) -> bool:
        """Whether ``completed_needs_stop`` holds immediate starts back now."""
        return self.quirks.completed_needs_stop and self._completed_state is not None

    def _begin_charging(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        session.started_at = self._energy_mark = loop.time()
        session.start_time = self.clock_em
        session.start_energy = self.total_energy
        minutes = session.request.max_duration
        if minutes:  # 0 means no limit, like 0xFFFF (§5.4)
            self._duration_limit = loop.call_later(
                minutes * self.timings.limit_minute, self._duration_limit_due
            )
        self._watch_energy_limit()

    def _duration_limit_due(self) -> None:
        self._duration_limit = None
        if self.charging:
            self._end_session(
                StopReason.TIME_LIMIT, "", completed=CurrentState.COMPLETED
            )

    def _watch_energy_limit(self) -> None:
        """(Re)arm the timer that ends the session when its energy is reached.

        Called whenever the power or the session energy changed.
        """
        if self._energy_limit is not None:
            self._energy_limit.cancel()
            self._energy_limit = None
        session = self._session
        if session is None or not session.charging or not session.request.max_energy:
            return
        remaining = session.request.max_energy - session.energy
        power = self._power()
        if remaining > 0 and power <= 0:
            return  # nothing flows; a change of power re-arms it
        delay = remaining * 3_600_000 / power if remaining > 0 else 0.0
        loop = asyncio.get_running_loop()
        self._energy_limit = loop.call_later(delay, self._energy_limit_due)

    def _energy_limit_due(self) -> None:
        self._energy_limit = None
        self._accumulate()
        session = self._session
        if session is None or not session.charging:
            return
        if _energy_limit_reached(session):
            self._end_session(
                StopReason.ENERGY_LIMIT, "", completed=CurrentState.COMPLETED
            )
        else:
            self._watch_energy_limit()  # rounding left a sliver to go

    def start_reservation(self) -> None:
        """Let a planned session start now, as if its time had come (test hook)."""
        if self._reservation is not None:
            self._reservation.cancel()
        self._reservation_due()

    def _reservation_due(self) -> None:
        self._reservation = None
        session = self._session
        if session is None or not session.planned:
            return
        if not self.plugged:
            self._end_session(StopReason.RESERVATION_NO_CAR, "")
        elif self.faults:
            self._end_session(self._fault_stop_reason(), "")
        else:
            self._begin_charging(session)
            self._publish_session()

    def _on_charge_stop(self, incoming: _Incoming) -> None:
        request = ChargeStop.parse(incoming.payload)
        session = self._session
        refusal = incoming.refusal
        if refusal is None and self._completed_state is not None:
            # The charger ended the session already; the stop closes it.
            self._completed_state = None
            reply = ChargeStopResponse(request.line_id, 1, 0)
            self._reply(incoming, Command.CHARGE_STOP_RESPONSE, reply)
            self._publish_session()
            return
        if refusal is not None or session is None or not session.active:
            fail = 1 if refusal is None else refusal
            reply = ChargeStopResponse(request.line_id, 0, fail)
            self._reply(incoming, Command.CHARGE_STOP_RESPONSE, reply)
            return
        reply = ChargeStopResponse(request.line_id, 1, 0)
        self._reply(incoming, Command.CHARGE_STOP_RESPONSE, reply)
        reason = (
            StopReason.RESERVATION_CANCELLED
            if session.planned
            else StopReason.STOPPED_BY_APP
        )
        self._end_session(reason, request.user_id)

    def _end_session(
        self,
        reason: StopReason,
        stopped_by: str,
        *,
        plugged: bool | None = None,
        completed: CurrentState | None = None,
    ) -> None:
        """Finish the active session, report it and push the new state.

        ``completed`` is the state to show afterwards when the charger ended
        the session itself (car full, a limit reached).
        """
        session = self._session
        assert session is not None
        self._accumulate()
        self._cancel_session_timers()
        self._completed_state = completed
        session.ended_at = asyncio.get_running_loop().time()
        session.stop_time = self.clock_em
        session.stop_reason = reason
        session.stopped_by = stopped_by
        if plugged is not None:
            self.plugged = plugged
        record = self._record(session)
        if self._client is not None:
            self._send_to_client(Command.CURRENT_CHARGE_RECORD, record)
        else:
            # Nobody to tell: keep it for upload like the firmware's local records.
            self._store_record(record)
        self._publish_session()

    def _accumulate(self) -> None:
        """Add the energy drawn since the last call to the counters."""
        session = self._session
        if session is None or not session.charging:
            return
        now = asyncio.get_running_loop().time()
        kwh = self._power() * (now - self._energy_mark) / 3_600_000
        self._energy_mark = now
        self.total_energy += kwh
        session.energy += kwh
        # Ending the session here would re-enter this method, so the limit
        # timer is moved to now instead (it is None while it runs itself).
        if _energy_limit_reached(session) and self._energy_limit is not None:
            self._watch_energy_limit()

    # --- payloads ---

    def _phase_readings(self) -> tuple[PhaseReading, PhaseReading, PhaseReading]:
        session = self._session
        amps = 0.0
        live_phases = 0
        if session is not None and session.charging:
            amps = float(min(session.current, self.model.max_current))
            live_phases = session.phases
        l1, l2, l3 = (
            PhaseReading(
                self.voltage if index < self.phases else 0.0,
                amps if index < min(live_phases, self.phases) else 0.0,
            )
            for index in range(3)
        )
        return l1, l2, l3

    def _power(self) -> float:
        return sum(
            (reading.voltage or 0.0) * (reading.current or 0.0)
            for reading in self._phase_readings()
        )

    def _status_length(self) -> int:
        if self.quirks.long_payloads:
            return max(self.model.status_length, _MOREC_STATUS)
        if self.quirks.unlisted_three_phase:
            return max(self.model.status_length, _LONG_STATUS)
        return self.model.status_length

    def _status(self) -> Status:
        self._accumulate()
        l1, l2, l3 = self._phase_readings()
        length = self._status_length()
        wide = length >= _LONG_STATUS
        extra_length = max(0, length - _LONG_STATUS)
        extra = _MOREC_STATUS_EXTRA if self.quirks.long_payloads else b""
        return Status(
            line_id=1,
            l1=l1,
            power=round(self._power()),
            total_energy=self.total_energy,
            inner_temperature=self.temperature_inner,
            outer_temperature=self.temperature_outer,
            emergency_button=2 if self._emergency_pressed else 1,
            gun_state=self.gun_state,
            output_state=self.output_state,
            reported_state=self.current_state,
            errors=encode_faults(list(self.faults)),
            l2=l2 if wide else None,
            l3=l3 if wide else None,
            extra=extra[:extra_length].ljust(extra_length, b"\x00"),
        )

    def _charging_status(self) -> ChargingStatus:
        self._accumulate()
        session = self._session
        if session is None:
            request = ChargeStart(1, "", "", False, 0, self.max_current_setting)
            current, start_time, duration = self.max_current_setting, 0, 0
            start_energy = session_energy = 0.0
        else:
            request = session.request
            current, start_time = session.current, session.start_time
            duration = session.duration(asyncio.get_running_loop().time())
            start_energy, session_energy = session.start_energy, session.energy
        return ChargingStatus(
            line_id=request.line_id,
            reported_state=self.current_state,
            charge_id=request.charge_id,
            start_type=StartType(request.start_type),
            charge_type=request.charge_type,
            max_duration=request.max_duration,
            max_energy=request.max_energy,
            param3=request.param3,
            reservation_time=request.start_time,
            user_id=request.user_id,
            max_current=current,
            start_time=start_time,
            duration=duration,
            start_energy=start_energy,
            current_energy=self.total_energy,
            session_energy=session_energy,
            charge_price=0.0,
            fee_type=1,
            charge_fee=0.0,
        )

    def _record(self, session: _Session) -> ChargeRecord:
        request = session.request
        return ChargeRecord(
            line_id=request.line_id,
            started_by=request.user_id,
            stopped_by=session.stopped_by,
            charge_id=request.charge_id,
            has_reservation=int(request.is_reservation),
            start_type=StartType(request.start_type),
            charge_type=request.charge_type,
            max_duration=request.max_duration,
            max_energy=request.max_energy,
            param3=request.param3,
            stop_reason=session.stop_reason,
            has_stop_charge=1,
            reservation_time=request.start_time,
            start_time=session.start_time,
            stop_time=session.stop_time,
            charged_time=session.duration(session.ended_at or 0.0),
            start_energy=session.start_energy,
            stop_energy=session.start_energy + session.energy,
            session_energy=session.energy,
            charge_price=0.0,
            fee_type=1,
            charge_fee=0.0,
            tail=_BLANK_RECORD_TAIL,
        )

    def _made_up_record(self) -> ChargeRecord:
        # A distinct charge id per record, in the app's yyyyMMddHHmm + 4 digits form.
        self._records_made += 1
        wall = datetime.now(self.time_zone)
        now = self.clock_em
        request = ChargeStart(
            line_id=1,
            user_id="simulator",
            charge_id=f"{wall:%Y%m%d%H%M}{self._records_made % 10000:04d}",
            is_reservation=False,
            start_time=now,
            max_current=self.max_current_setting,
        )
        session = _Session(
            request=request,
            current=request.max_current,
            phases=self.phases,
            start_energy=self.total_energy,
            start_time=now,
            started_at=0.0,
            ended_at=0.0,
            stop_time=now,
        )
        return self._record(session)

    def _device_info(self) -> DeviceInfo:
        model = self.model
        long_payloads = self.quirks.long_payloads
        return DeviceInfo(
            device_type=UNLISTED_THREE_PHASE_TYPE
            if self.quirks.unlisted_three_phase
            else model.device_type,
            brand=model.brand,
            model=model.model,
            hardware_version=model.hardware_version,
            # A three-phase unit announces what it delivers on three phases.
            max_power=model.max_power * 3
            if self.quirks.unlisted_three_phase and model.phases == 1
            else model.max_power,
            max_current=model.max_current,
            hotline=model.hotline,
            byte70=0 if long_payloads else None,
            layout=_LONG_INFO_LAYOUT if long_payloads else 70,
            extra=_LONG_INFO_EXTRA if long_payloads else b"",
        )


def _energy_limit_reached(session: _Session) -> bool:
    limit = session.request.max_energy
    if not limit:  # 0 would end every session at once: read it as none
        return False
    # A hair of float error must not leave a session running at its limit.
    return session.energy >= limit - 1e-9


def _valid_plan(days: tuple[PlanDay, ...]) -> bool:
    """Whether a SET carries a whole plan a charger would take."""
    return len(days) == PLAN_DAYS and all(
        day.hour < 24 and day.minute < 60 and day.duration <= _PLAN_MAX_MINUTES
        for day in days
    )
