"""One charger: login, keepalive, liveness, commands and a state snapshot.

Session rules (protocol.md §3, design.md):

* Login is RequestLogin → LoginResponse | PasswordError → LoginConfirm, then
  the settings, version and status are requested.
* The session is alive while headings arrive; each one is answered. A login
  announcement means the charger has no client any more.
* Re-login happens only when the charger announces itself, at most once per
  cooldown, and never after a wrong password until :meth:`Charger.set_password`.
  Never on a timer while logged in: that would kick the phone app.
* Commands are confirmed by the charger's reply; the state follows what the
  charger reports, never what was asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
import logging
import random
from typing import Any, Final

from . import const
from .enums import (
    Action,
    ChargeType,
    Command,
    CurrentState,
    Fault,
    GunState,
    Language,
    OutputState,
    StartMode,
    TemperatureUnit,
    decode_faults,
)
from .errors import (
    ChargerNotReachableError,
    ChargerTimeoutError,
    ChargeStartRejectedError,
    ChargeStopRejectedError,
    CommandRejectedError,
    InvalidPasswordError,
    InvalidValueError,
    RateLimitedError,
)
from .frame import Datagram, normalize_serial, password_field
from .listener import Address, ChargerListener
from .messages import (
    ByteSetting,
    ChargeRecord,
    ChargeRecordAck,
    ChargeStart,
    ChargeStartResponse,
    ChargeStop,
    ChargeStopResponse,
    ChargingStatus,
    ChargingStatusAck,
    ChargingStatusRequest,
    DeviceInfo,
    GetVersion,
    HeadingResponse,
    LanguageSetting,
    LcdBrightness,
    LoginConfirm,
    Message,
    Nickname,
    OutputCurrent,
    PayloadError,
    RequestLogin,
    StartModeSetting,
    Status,
    StatusAck,
    StatusRequest,
    SystemTime,
    TemperatureUnitSetting,
    Version,
    datetime_to_em,
    em_to_datetime,
    parse_message,
    to_datagram,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_USER_ID: Final = "evse_master"
MAX_RESERVATION_AHEAD: Final = timedelta(hours=24)
MAX_BRIGHTNESS: Final = 100


@dataclass(frozen=True, slots=True)
class ChargerTimings:
    """Timeouts and intervals, in seconds; tests shrink them."""

    login_timeout: float = 3.0
    """Wait for LoginResponse per attempt."""
    login_attempts: int = 3
    request_timeout: float = 5.0
    heading_timeout: float = 35.0
    """No heading for this long = session lost (three missed beats)."""
    relogin_cooldown: float = 15.0
    announcement_grace: float = 3.0
    """Announcements right after a login are stale and do not end the session."""
    min_restart_interval: float = 30.0
    """Shortest time from a stop to the next start (relay/contactor wear)."""


@dataclass(frozen=True, slots=True)
class ChargerSettings:
    """Settings read from the charger; ``None`` until its reply arrives."""

    max_current: int | None = None
    nickname: str | None = None
    language: Language | None = None
    temperature_unit: TemperatureUnit | None = None
    start_mode: StartMode | None = None
    lcd_brightness: int | None = None


@dataclass(frozen=True, slots=True)
class ChargerState:
    """Immutable snapshot of everything known about a charger."""

    serial: str
    logged_in: bool = False
    """A session is established and headings keep arriving."""
    online: bool = False
    """Something was heard from the charger within the heading timeout."""
    auth_failed: bool = False
    """The charger refused the password; nothing is retried until it changes."""
    address: Address | None = None
    info: DeviceInfo | None = None
    version: Version | None = None
    status: Status | None = None
    session: ChargingStatus | None = None
    settings: ChargerSettings = field(default_factory=ChargerSettings)
    last_record: ChargeRecord | None = None

    @property
    def max_current(self) -> int:
        """Highest current the charger accepts (its announced hardware limit)."""
        announced = self.info.max_current if self.info else const.ABSOLUTE_MAX_CURRENT
        return max(const.MIN_CURRENT, min(announced, const.ABSOLUTE_MAX_CURRENT))

    @property
    def phases(self) -> int:
        """Phases the charger drives (1 until its info is known)."""
        return self.info.phases if self.info else 1

    @property
    def current_state(self) -> CurrentState | None:
        """The charger's state from the latest status."""
        return self.status.current_state if self.status else None

    @property
    def plugged_in(self) -> bool | None:
        """Whether a car is plugged in."""
        if self.status is None:
            return None
        return self.status.gun_state not in (GunState.UNKNOWN, GunState.DISCONNECTED)

    @property
    def charging(self) -> bool | None:
        """Whether power flows to the car (relay closed)."""
        if self.status is None:
            return None
        return self.status.output_state == OutputState.CHARGING

    @property
    def session_active(self) -> bool | None:
        """Whether a session is running (charging or waiting for the car)."""
        if self.status is None:
            return None
        return self.charging or self.status.current_state == CurrentState.CHARGING

    @property
    def faults(self) -> tuple[Fault | int, ...]:
        """Active fault codes."""
        return decode_faults(self.status.errors) if self.status else ()

    @property
    def power(self) -> float | None:
        """Charging power in W: the larger of the reported field and Σ V·I.

        Some three-phase units report L1 only in the power field.
        """
        if self.status is None:
            return None
        reported = self.status.power
        computed = self.status.computed_power
        if reported is None:
            return computed
        return float(max(reported, computed))


type StateListener = Callable[[ChargerState], None]
type ReplyFilter = Callable[[Datagram], bool]


def _echoes(action: Action) -> ReplyFilter:
    """Accept setting replies that echo ``action`` (§5.10: SET or GET)."""
    first = bytes((action,))
    return lambda datagram: datagram.payload[:1] == first


def _new_charge_id(now: datetime) -> str:
    # The app's format: local yyyyMMddHHmm plus four random digits.
    return now.strftime("%Y%m%d%H%M") + f"{random.randrange(10000):04d}"


class Charger:
    """Client session with one charger over a shared :class:`ChargerListener`."""

    def __init__(
        self,
        listener: ChargerListener,
        serial: str,
        password: str,
        *,
        address: Address | None = None,
        time_zone: tzinfo = UTC,
        timings: ChargerTimings | None = None,
        user_id: str = DEFAULT_USER_ID,
        ack_records: bool = True,
    ) -> None:
        """Prepare a client; nothing is sent before :meth:`start`."""
        self._listener = listener
        self.serial = normalize_serial(serial)
        self._password = password_field(password)
        self._time_zone = time_zone
        self.timings = timings or ChargerTimings()
        self._user_id = user_id
        self._ack_records = ack_records
        if address is not None:
            listener.remember_address(self.serial, address)
        self._state = ChargerState(
            serial=self.serial, address=listener.address_of(self.serial)
        )
        self._listeners: list[StateListener] = []
        self._unregister: Callable[[], None] | None = None
        self._pending: dict[int, list[asyncio.Future[Datagram]]] = {}
        self._reply_filters: dict[asyncio.Future[Datagram], ReplyFilter] = {}
        self._encoded: dict[int, bytes] = {}
        self._parsed: dict[int, tuple[bytes, Message]] = {}
        self._request_locks: dict[int, asyncio.Lock] = {}
        self._login_lock = asyncio.Lock()
        self._login_task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._last_heading = 0.0
        self._last_seen = 0.0
        self._logged_in_at = 0.0
        self._last_login_attempt: float | None = None
        self._last_stop: float | None = None
        self._liveness_timer: asyncio.TimerHandle | None = None

    # --- lifecycle ------------------------------------------------------------

    @property
    def state(self) -> ChargerState:
        """The latest snapshot."""
        return self._state

    @property
    def address(self) -> Address | None:
        """Where commands go: the last genuine source address."""
        return self._listener.address_of(self.serial)

    async def start(self, *, login: bool = True) -> None:
        """Start receiving; log in at once (in the background) if the address is known.

        With ``login=False`` the caller logs in itself (e.g. to see the outcome).
        """
        if self._unregister is None:
            self._unregister = self._listener.register(self.serial, self._on_datagram)
        if login and self.address is not None:
            self._schedule_login()

    async def close(self) -> None:
        """Stop receiving and cancel everything in flight."""
        task = self.shutdown()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def shutdown(self) -> asyncio.Task[None] | None:
        """Synchronous :meth:`close`; returns the cancelled login task, if any."""
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._liveness_timer is not None:
            self._liveness_timer.cancel()
            self._liveness_timer = None
        for futures in self._pending.values():
            for future in futures:
                future.cancel()
        self._pending.clear()
        task, self._login_task = self._login_task, None
        if task is None or task.done():
            return None
        task.cancel()
        return task

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener`` with the new snapshot after every real change."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def set_password(self, password: str) -> None:
        """Use a new password and allow logins again after a PasswordError."""
        self._password = password_field(password)
        self._encoded.clear()
        self._update(auth_failed=False)

    async def wait_until_heard(self) -> Address:
        """Wait until a genuine datagram has revealed the charger's address.

        Callers bound the wait with ``asyncio.timeout``.
        """
        if (address := self.address) is not None:
            return address
        heard: asyncio.Future[Address] = self._loop.create_future()

        def on_change(state: ChargerState) -> None:
            if state.address is not None and not heard.done():
                heard.set_result(state.address)

        remove = self.add_listener(on_change)
        try:
            return await heard
        finally:
            remove()

    # --- login --------------------------------------------------------------------

    async def login(self) -> None:
        """Log in and request everything; raises on a wrong password or silence."""
        async with self._login_lock:
            self._last_login_attempt = self._loop.time()
            info = await self._request_login()
            self._send(LoginConfirm(1), Command.LOGIN_CONFIRM)
            now = self._loop.time()
            self._logged_in_at = self._last_heading = self._last_seen = now
            self._update(logged_in=True, online=True, auth_failed=False, info=info)
            _LOGGER.info("Logged in to charger %s", self.serial)
            self._arm_liveness()
            self.refresh()
            self.sync_clock_soon()

    async def _request_login(self) -> DeviceInfo:
        for _ in range(self.timings.login_attempts):
            answer = self._expect(Command.LOGIN_RESPONSE, Command.PASSWORD_ERROR)
            try:
                self._send(RequestLogin(), Command.REQUEST_LOGIN)
                async with asyncio.timeout(self.timings.login_timeout):
                    datagram = await answer
            except TimeoutError:
                continue
            finally:
                self._forget(answer)
            if datagram.command == Command.PASSWORD_ERROR:
                self._update(auth_failed=True, logged_in=False)
                raise InvalidPasswordError(
                    f"charger {self.serial} refused the password"
                )
            try:
                return DeviceInfo.parse(datagram.payload)
            except PayloadError as err:
                raise CommandRejectedError("malformed login response") from err
        raise ChargerTimeoutError(Command.REQUEST_LOGIN)

    def _schedule_login(self) -> None:
        if self._login_task is not None and not self._login_task.done():
            return
        self._login_task = self._loop.create_task(
            self._background_login(), name=f"evse_master login {self.serial}"
        )

    async def _background_login(self) -> None:
        try:
            await self.login()
        except InvalidPasswordError:
            _LOGGER.warning(
                "Charger %s refused the password; not retrying until it changes",
                self.serial,
            )
        except (ChargerNotReachableError, CommandRejectedError) as err:
            _LOGGER.debug("Login to %s failed: %s", self.serial, err)

    def login_if_allowed(self) -> None:
        """Log in in the background unless the cooldown or a refusal forbids it."""
        if self.address is not None and self._may_relogin():
            self._schedule_login()

    def _may_relogin(self) -> bool:
        if self._state.auth_failed:
            return False
        last = self._last_login_attempt
        return last is None or self._loop.time() - last >= self.timings.relogin_cooldown

    # --- liveness ---------------------------------------------------------------

    def _arm_liveness(self) -> None:
        if self._liveness_timer is None:
            self._liveness_timer = self._loop.call_later(
                self.timings.heading_timeout, self._check_liveness
            )

    def _check_liveness(self) -> None:
        self._liveness_timer = None
        now = self._loop.time()
        timeout = self.timings.heading_timeout
        changes: dict[str, Any] = {}
        if self._state.logged_in and now - self._last_heading >= timeout:
            _LOGGER.info("Charger %s stopped sending headings", self.serial)
            changes["logged_in"] = False
        if self._state.online and now - self._last_seen >= timeout:
            changes["online"] = False
        if changes:
            self._update(**changes)
        if self._state.logged_in or self._state.online:
            due = min(
                self._last_heading if self._state.logged_in else now,
                self._last_seen if self._state.online else now,
            )
            self._liveness_timer = self._loop.call_later(
                max(0.0, due + timeout - now), self._check_liveness
            )

    # --- receiving ----------------------------------------------------------------

    def _on_datagram(self, datagram: Datagram, address: Address) -> None:
        if not datagram.from_charger:
            return  # the phone app's echo of a client frame
        self._last_seen = self._loop.time()
        changes: dict[str, Any] = {}
        if not self._state.online:
            changes["online"] = True
            self._arm_liveness()
        if self._state.address != address:
            changes["address"] = address
        for future in self._pending.get(datagram.command, ()):
            accepts = self._reply_filters.get(future)
            if not future.done() and (accepts is None or accepts(datagram)):
                future.set_result(datagram)
        try:
            message = self._parse(datagram)
        except PayloadError as err:
            _LOGGER.debug(
                "Dropping 0x%04X from %s: %s", datagram.command, self.serial, err
            )
            message = None
        if message is not None:
            self._handle(datagram.command, message, changes)
        if changes:
            self._update(**changes)

    def _parse(self, datagram: Datagram) -> Message | None:
        # Chargers repeat the same status every few seconds: reuse the model
        # of an identical payload so unchanged pushes cost almost nothing.
        command, payload = datagram.command, datagram.payload
        cached = self._parsed.get(command)
        if cached is not None and cached[0] == payload:
            return cached[1]
        message = parse_message(datagram)
        if message is not None:
            self._parsed[command] = (payload, message)
        return message

    def _handle(self, command: int, message: Message, changes: dict[str, Any]) -> None:
        match command, message:
            case Command.HEADING, _:
                self._send_fixed(HeadingResponse(0), Command.HEADING_RESPONSE)
                self._last_heading = self._loop.time()
                if not self._state.logged_in and not self._state.auth_failed:
                    # The charger still counts us as its client: answering its
                    # headings is what keeps that session, so it is ours again.
                    changes["logged_in"] = True
                    self.refresh()
            case Command.STATUS, Status():
                self._send_fixed(StatusAck(1), Command.STATUS_ACK)
                changes["status"] = message
            case Command.STATUS_RESPONSE, Status():
                changes["status"] = message
            case Command.CHARGING_STATUS, ChargingStatus():
                self._send_fixed(ChargingStatusAck(0), Command.CHARGING_STATUS_ACK)
                changes["session"] = message
            case Command.CHARGING_STATUS_RESPONSE, ChargingStatus():
                changes["session"] = message
            case (
                (Command.CURRENT_CHARGE_RECORD | Command.LOCAL_CHARGE_RECORD),
                ChargeRecord(),
            ):
                if self._ack_records:
                    self._send(ChargeRecordAck(message.charge_id), command | 0x8000)
                changes["last_record"] = message
            case Command.LOGIN_ANNOUNCEMENT, DeviceInfo():
                changes["info"] = message
                self._on_announcement(changes)
            case Command.LOGIN_RESPONSE, DeviceInfo():
                changes["info"] = message
            case Command.VERSION_RESPONSE, Version():
                changes["version"] = message
            case Command.PASSWORD_ERROR, _:
                self._on_password_error(changes)
            case _:
                self._handle_setting(message, changes)

    def _handle_setting(self, message: Message, changes: dict[str, Any]) -> None:
        settings = changes.get("settings", self._state.settings)
        match message:
            case OutputCurrent():
                settings = replace(settings, max_current=message.value)
            case LanguageSetting():
                settings = replace(settings, language=message.language)
            case TemperatureUnitSetting():
                settings = replace(settings, temperature_unit=message.unit)
            case StartModeSetting():
                settings = replace(settings, start_mode=message.mode)
            case Nickname():
                settings = replace(settings, nickname=message.name)
            case LcdBrightness():
                settings = replace(settings, lcd_brightness=message.level)
            case _:
                return
        changes["settings"] = settings

    def _on_announcement(self, changes: dict[str, Any]) -> None:
        now = self._loop.time()
        if self._state.logged_in:
            if now - self._logged_in_at < self.timings.announcement_grace:
                return
            _LOGGER.info("Charger %s announced itself: session lost", self.serial)
            changes["logged_in"] = False
        if self._may_relogin():
            self._schedule_login()

    def _on_password_error(self, changes: dict[str, Any]) -> None:
        if not self._state.auth_failed:
            _LOGGER.warning("Charger %s refused the password", self.serial)
        changes["auth_failed"] = True
        changes["logged_in"] = False
        error = InvalidPasswordError(f"charger {self.serial} refused the password")
        for futures in self._pending.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)

    def _update(self, **changes: Any) -> None:
        state = self._state
        # Most pushes repeat what is known; skip building a snapshot for them.
        if all(
            (current := getattr(state, name)) is value or current == value
            for name, value in changes.items()
        ):
            return
        new = replace(state, **changes)
        self._state = new
        for listener in tuple(self._listeners):
            try:
                listener(new)
            except Exception:
                _LOGGER.exception("Error in state listener of %s", self.serial)

    # --- sending ------------------------------------------------------------------

    def _require_address(self) -> Address:
        if (address := self.address) is None:
            raise ChargerNotReachableError(f"address of charger {self.serial} unknown")
        return address

    def _send(self, message: Message, command: int) -> None:
        self._listener.send(
            to_datagram(message, command, self.serial, self._password),
            self._require_address(),
        )

    def _send_fixed(self, message: Message, command: int) -> None:
        """Send a message that never changes (acks), encoded once."""
        address = self._require_address()
        data = self._encoded.get(command)
        if data is None:
            data = self._encoded[command] = to_datagram(
                message, command, self.serial, self._password
            ).encode()
        self._listener.send_bytes(data, address)

    def _expect(self, *commands: int) -> asyncio.Future[Datagram]:
        future: asyncio.Future[Datagram] = self._loop.create_future()
        for command in commands:
            self._pending.setdefault(command, []).append(future)
        return future

    def _forget(self, future: asyncio.Future[Datagram]) -> None:
        self._reply_filters.pop(future, None)
        for command, futures in list(self._pending.items()):
            if future in futures:
                futures.remove(future)
            if not futures:
                del self._pending[command]

    async def _request(
        self,
        message: Message,
        command: int,
        reply: int | None = None,
        *,
        accepts: ReplyFilter | None = None,
    ) -> Datagram:
        """Send and wait for the reply (``command`` - 0x8000 unless given).

        Replies carry no request id; ``accepts`` tells this request's reply
        from a late one to an earlier request with the same reply id.
        """
        reply = command & 0x7FFF if reply is None else reply
        lock = self._request_locks.setdefault(reply, asyncio.Lock())
        async with lock:
            answer = self._expect(reply)
            if accepts is not None:
                self._reply_filters[answer] = accepts
            try:
                self._send(message, command)
                async with asyncio.timeout(self.timings.request_timeout):
                    return await answer
            except TimeoutError as err:
                raise ChargerTimeoutError(command) from err
            finally:
                self._forget(answer)

    def refresh(self) -> None:
        """Ask for status, session, settings and version (replies update state)."""
        if self.address is None:
            return
        self.refresh_status()
        for request in (
            OutputCurrent.get(),
            LanguageSetting.get(),
            TemperatureUnitSetting.get(),
            StartModeSetting.get(),
        ):
            self._send(request, request.REQUEST)
        self._send(Nickname.get(), Command.NICKNAME)
        self._send(LcdBrightness.get(), Command.LCD_BRIGHTNESS)
        self._send(GetVersion(), Command.GET_VERSION)

    def sync_clock_soon(self) -> None:
        """Set the charger clock to now without waiting for the echo."""
        if self.address is None:
            return
        now = datetime_to_em(datetime.now(UTC), self._time_zone)
        self._send(SystemTime(Action.SET, now), Command.SYSTEM_TIME)

    def em_to_datetime(self, em: int) -> datetime | None:
        """Convert a charger timestamp using this charger's time zone."""
        return em_to_datetime(em, self._time_zone)

    # --- commands -----------------------------------------------------------------

    async def start_charging(
        self,
        current: int | None = None,
        *,
        start_at: datetime | None = None,
        max_duration: timedelta | None = None,
        max_energy: float | None = None,
        single_phase: bool = False,
    ) -> ChargeStartResponse:
        """Start (or plan) a session; raises unless the charger accepts it."""
        state = self._state
        amps = current if current is not None else state.settings.max_current
        amps = self._check_current(const.MIN_CURRENT if amps is None else amps)
        if self._last_stop is not None:
            wait = self.timings.min_restart_interval - (
                self._loop.time() - self._last_stop
            )
            if wait > 0:
                raise RateLimitedError(wait)
        now = datetime.now(UTC)
        start = now if start_at is None else start_at
        if start - now > MAX_RESERVATION_AHEAD:
            raise InvalidValueError("a start can be planned at most 24 hours ahead")
        minutes: int | None = None
        if max_duration is not None:
            minutes = int(max_duration.total_seconds() // 60)
            if not 1 <= minutes < 0xFFFF:
                raise InvalidValueError("duration must be 1 minute to 45 days")
        if max_energy is not None and not 0 < max_energy < 655.35:
            raise InvalidValueError("energy limit must be above 0 and below 655 kWh")
        three_phase = state.phases == 3
        request = ChargeStart(
            line_id=2 if three_phase and not single_phase else 1,
            user_id=self._user_id,
            charge_id=_new_charge_id(start.astimezone(self._time_zone)),
            is_reservation=start > now,
            start_time=datetime_to_em(start, self._time_zone),
            max_current=amps,
            charge_type=ChargeType.SINGLE_PHASE
            if three_phase and single_phase
            else ChargeType.NORMAL,
            max_duration=minutes,
            max_energy=max_energy,
        )
        reply = await self._request(request, Command.CHARGE_START)
        response = ChargeStartResponse.parse(reply.payload)
        self.refresh_status()
        if not response.accepted:
            raise ChargeStartRejectedError(response)
        return response

    async def stop_charging(self) -> ChargeStopResponse:
        """Stop the running session (or cancel a planned one)."""
        request = ChargeStop(line_id=1, user_id=self._user_id)
        reply = await self._request(request, Command.CHARGE_STOP)
        response = ChargeStopResponse.parse(reply.payload)
        self.refresh_status()
        if not response.accepted:
            raise ChargeStopRejectedError(response)
        self._last_stop = self._loop.time()
        return response

    def refresh_status(self) -> None:
        """Ask for status and session only."""
        self._send(StatusRequest(), Command.STATUS_REQUEST)
        self._send(ChargingStatusRequest(0), Command.CHARGING_STATUS_REQUEST)

    def _check_current(self, amps: int) -> int:
        if not const.MIN_CURRENT <= amps <= self._state.max_current:
            raise InvalidValueError(
                f"current must be {const.MIN_CURRENT} to {self._state.max_current} A"
            )
        return amps

    async def set_max_current(self, amps: int) -> int:
        """Store the charger's configured maximum current, verified by reading back."""
        self._check_current(amps)
        await self._request(
            OutputCurrent.set(amps), Command.OUTPUT_CURRENT, accepts=_echoes(Action.SET)
        )
        reply = await self._request(
            OutputCurrent.get(), Command.OUTPUT_CURRENT, accepts=_echoes(Action.GET)
        )
        stored = OutputCurrent.parse(reply.payload).value
        if stored != amps:
            raise CommandRejectedError(f"charger kept {stored} A instead of {amps} A")
        return stored

    async def _set_byte(self, request: ByteSetting) -> None:
        reply = await self._request(
            request, request.REQUEST, accepts=_echoes(request.action)
        )
        echoed = type(request).parse(reply.payload).value
        if echoed != request.value:
            raise CommandRejectedError(
                f"charger answered {echoed} to setting 0x{request.REQUEST:04X}"
                f" = {request.value}"
            )

    async def set_language(self, language: Language) -> None:
        """Set the display language."""
        await self._set_byte(LanguageSetting.set(language))

    async def set_temperature_unit(self, unit: TemperatureUnit) -> None:
        """Set the display temperature unit."""
        await self._set_byte(TemperatureUnitSetting.set(unit))

    async def set_start_mode(self, mode: StartMode) -> None:
        """Set whether sessions may start without the app."""
        await self._set_byte(StartModeSetting.set(mode))

    async def set_nickname(self, name: str) -> None:
        """Rename the charger (ASCII, at most 11 characters)."""
        if not name.isascii() or not 0 < len(name) <= const.NICKNAME_MAX_LENGTH:
            raise InvalidValueError(
                f"name must be 1 to {const.NICKNAME_MAX_LENGTH} ASCII characters"
            )
        reply = await self._request(
            Nickname(Action.SET, name), Command.NICKNAME, accepts=_echoes(Action.SET)
        )
        if Nickname.parse(reply.payload).name != name:
            raise CommandRejectedError("charger kept its previous name")

    async def read_nickname(self) -> str:
        """Ask the charger for its name."""
        reply = await self._request(
            Nickname.get(), Command.NICKNAME, accepts=_echoes(Action.GET)
        )
        return Nickname.parse(reply.payload).name

    async def set_lcd_brightness(self, level: int) -> None:
        """Set the display brightness, 0-100."""
        if not 0 <= level <= MAX_BRIGHTNESS:
            raise InvalidValueError("brightness must be 0 to 100")
        request = LcdBrightness.set(level)
        reply = await self._request(
            request,
            Command.LCD_BRIGHTNESS,
            accepts=lambda datagram: datagram.payload[1:2] == bytes((request.mode,)),
        )
        if LcdBrightness.parse(reply.payload).level != level:
            raise CommandRejectedError("charger kept its previous brightness")

    async def sync_clock(self) -> datetime | None:
        """Set the charger clock to now; returns the time it echoed."""
        now = datetime_to_em(datetime.now(UTC), self._time_zone)
        reply = await self._request(
            SystemTime(Action.SET, now),
            Command.SYSTEM_TIME,
            accepts=_echoes(Action.SET),
        )
        echoed = SystemTime.parse(reply.payload).time
        return None if echoed is None else self.em_to_datetime(echoed)
