"""One charger: login, keepalive, liveness, commands and a state snapshot.

Session rules (protocol.md §3, design.md):

* Login is RequestLogin → LoginResponse | PasswordError → LoginConfirm, then
  the settings, version and status are requested. A PasswordError counts only
  when a second attempt a moment later gets one too.
* The session is alive while headings arrive from its address; each one is
  answered. A login announcement means the charger has no client any more.
* What a datagram may change is decided by :mod:`trust`; what its values may be
  by :mod:`plausibility`.
* Automatic re-login happens when the charger announces itself (it is free),
  when it still pushes status to us although headings stopped (it still counts
  us as its client), or when a pinned charger comes back from an absence. The
  first one after a session is immediate; the next ones wait for the cooldown,
  which exists to stop loops. Never on a timer while logged in, and never
  while the charger serves another client: that would fight the phone app.
* Commands check their input before anything is sent and are confirmed by the
  charger's reply; the state follows what the charger reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
import logging
import math
import random
from typing import Any, Final

from . import const, plausibility, trust
from .enums import (
    Action,
    ChargeType,
    Command,
    Language,
    StartMode,
    TemperatureUnit,
    TolerantIntEnum,
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
    Refusal,
    SessionTakenError,
    SettingRejectedError,
)
from .frame import NO_PASSWORD, Datagram, normalize_serial, password_field
from .listener import ChargerListener
from .messages import (
    U16_NONE,
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
from .state import (
    Address,
    ChargerDiagnostics,
    ChargerSettings,
    ChargerState,
    ChargerTimings,
    Connection,
    renewed,
)

__all__ = [
    "Charger",
    "ChargerDiagnostics",
    "ChargerSettings",
    "ChargerState",
    "ChargerTimings",
    "Connection",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_USER_ID: Final = "evse_master"
MAX_RESERVATION_AHEAD: Final = timedelta(hours=24)
START_TIME_TOLERANCE: Final = timedelta(minutes=1)
"""A start time this little in the past is "now" (clocks, slow automations)."""
MAX_BRIGHTNESS: Final = 100
_STATUS_COMMANDS: Final = frozenset(
    {
        Command.STATUS,
        Command.STATUS_RESPONSE,
        Command.CHARGING_STATUS,
        Command.CHARGING_STATUS_RESPONSE,
    }
)
_PUSHES: Final = frozenset({Command.STATUS, Command.CHARGING_STATUS})
"""Frames a charger sends only to the client it serves."""
_REMEMBERED_RECORDS: Final = 64
"""Acknowledged charge ids kept to acknowledge a replay again."""
_PUSHES_BEFORE_TRUSTED: Final = 1
"""Status pushes in a session before their absence means anything."""

type StateListener = Callable[[ChargerState], None]
type ReplyFilter = Callable[[Datagram], bool]


def _new_charge_id(now: datetime) -> str:
    # The app's format: local yyyyMMddHHmm plus four random digits.
    return now.strftime("%Y%m%d%H%M") + f"{random.randrange(10000):04d}"


def _whole(value: float, reason: Refusal, what: str) -> int:
    """An integral number (a float from a number entity is fine), else refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(reason, f"{what} {value!r} is not a number")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidValueError(reason, f"{what} must be a whole number, not {value}")
    return int(value)


def _known_member[EnumT: TolerantIntEnum](enum: type[EnumT], value: object) -> EnumT:
    """``value`` as a documented member of ``enum``; anything else is refused."""
    member = (
        enum(value) if isinstance(value, int) and not isinstance(value, bool) else None
    )
    if member is None or not member.known:
        raise InvalidValueError(
            Refusal.NOT_AN_OPTION, f"{value!r} is not a {enum.__name__}", value=value
        )
    return member


class Charger:
    """Client session with one charger over a shared :class:`ChargerListener`."""

    def __init__(
        self,
        listener: ChargerListener,
        serial: str,
        password: str,
        *,
        address: Address | None = None,
        pinned: bool = False,
        time_zone: tzinfo = UTC,
        timings: ChargerTimings | None = None,
        user_id: str = DEFAULT_USER_ID,
        ack_records: bool = False,
        last_stop: float | None = None,
    ) -> None:
        """Prepare a client; nothing is sent before :meth:`start`.

        ``address`` is where the charger was last (or is pinned, with
        ``pinned``): announcements cannot cross routers, so a pinned charger
        is checked on periodically while logged out. ``last_stop`` is the
        previous client's :attr:`last_stop`: the relays' rest outlives a reload.
        """
        self._listener = listener
        self.serial = normalize_serial(serial)
        self._password = password_field(password)
        self._time_zone = time_zone
        self.timings = timings or ChargerTimings()
        self._user_id = user_id
        self._ack_records = ack_records
        self._record_commands: dict[str, int] = {}
        """Charge id -> the command its record came with (its ack is + 0x8000)."""
        self._acknowledged: dict[str, None] = {}
        """Charge ids acknowledged, oldest first (an ordered set)."""
        self._pinned = pinned
        self._state = ChargerState(serial=self.serial, address=address)
        self.diagnostics = ChargerDiagnostics()
        self._impostors = trust.ImpostorWatch()
        self._listeners: list[StateListener] = []
        self._unregister: Callable[[], None] | None = None
        self._pending: dict[int, list[asyncio.Future[Datagram]]] = {}
        self._reply_filters: dict[asyncio.Future[Datagram], ReplyFilter] = {}
        self._unaccepted: dict[asyncio.Future[Datagram], Datagram] = {}
        self._encoded: dict[int, bytes] = {}
        self._parsed: dict[int, tuple[bytes, Message]] = {}
        self._request_locks: dict[int, asyncio.Lock] = {}
        self._login_lock = asyncio.Lock()
        self._login_task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._status_screen = plausibility.StatusScreen(self._state.limits)
        self._closed = False
        now = self._loop.time()
        self._bound_heard = now
        self._last_heading = now
        self._last_status = now
        self._last_push = now
        self._session_pushes = 0
        self._last_poll = now
        self._last_probe = now
        self._logged_in_at = now
        self._login_target: Address | None = None
        self._login_deadline = 0.0
        self._probing = False
        self._last_relogin: float | None = None
        self._relogin_at: float | None = None
        self._last_stop = last_stop
        self._last_start: float | None = None
        """When our last immediate start was accepted (a stop after it ends it)."""
        self._lapse_probe_at: float | None = None
        self._watch_handle: asyncio.TimerHandle | None = None
        self._watch_due = math.inf
        self._session_view = trust.SessionView(
            bound=address,
            logged_in=False,
            bound_silent_for=0.0,
            heading_timeout=self.timings.heading_timeout,
            login_target=None,
        )

    # --- lifecycle ------------------------------------------------------------

    @property
    def state(self) -> ChargerState:
        """The latest snapshot."""
        return self._state

    @property
    def address(self) -> Address | None:
        """Where commands go: the session's address.

        The session view moves first: what answers a datagram that moved it
        goes to its source, before the state follows.
        """
        return self._session_view.bound

    async def start(self, *, login: bool = True) -> None:
        """Start receiving; log in at once (in the background) if the address is known.

        With ``login=False`` the caller logs in itself (:meth:`connect`).
        """
        self._closed = False
        if self._unregister is None:
            self._unregister = self._listener.register(self.serial, self._on_datagram)
        if login and self.address is not None:
            self._schedule_login()

    async def connect(self, bound: float) -> None:
        """Start, find the charger if its address is unknown, and log in.

        Takes at most ``bound`` seconds. Raises :class:`InvalidPasswordError` for a
        confirmed refusal, :class:`ChargerNotReachableError` otherwise.
        """
        await self.start(login=False)
        try:
            async with asyncio.timeout(bound):
                if self.address is None:
                    await self.wait_until_heard()
                await self.login()
        except TimeoutError as err:
            raise ChargerTimeoutError(Command.REQUEST_LOGIN) from err

    async def close(self) -> None:
        """Stop receiving and cancel everything in flight; wait for the login task."""
        task = self._login_task
        self.shutdown()
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def shutdown(self) -> None:
        """Stop receiving and cancel everything in flight, without waiting."""
        self._closed = True
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._watch_handle is not None:
            self._watch_handle.cancel()
            self._watch_handle = None
            self._watch_due = math.inf
        closed = ChargerNotReachableError(f"client of charger {self.serial} closed")
        for futures in self._pending.values():
            for future in futures:
                if not future.done():
                    # A command in flight fails like one without an answer.
                    future.set_exception(closed)
        self._pending.clear()
        task, self._login_task = self._login_task, None
        if task is not None and not task.done():
            task.cancel()

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener`` with the new snapshot after every real change."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def set_password(self, password: str) -> None:
        """Use a new password and allow logins again after a refusal."""
        self._password = password_field(password)
        self._encoded.clear()
        self._update(auth_failed=False)

    async def wait_until_heard(self) -> Address:
        """Wait until a believed datagram has revealed the charger's address.

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
        """Log in and request everything; raises on a refused password or silence."""
        async with self._login_lock:
            self.diagnostics.logins += 1
            info = await self._request_login()
            self._send(LoginConfirm(1), Command.LOGIN_CONFIRM)
            now = self._loop.time()
            self._logged_in_at = self._last_heading = self._bound_heard = now
            self._last_status = self._last_poll = self._last_push = now
            self._session_pushes = 0
            self._relogin_at = None
            self._status_screen = plausibility.StatusScreen(
                replace(self._state, info=info).limits
            )
            self._update(
                logged_in=True,
                online=True,
                auth_failed=False,
                connection=Connection.CONNECTED,
                info=info,
            )
            _LOGGER.info("Logged in to charger %s", self.serial)
            self._arm_watch(now + self.timings.heading_timeout)
            self.refresh()
            self.sync_clock_soon()

    async def _request_login(self) -> DeviceInfo:
        attempts = refusals = 0
        while True:
            datagram = await self._login_attempt(self._password)
            attempts += 1
            if datagram is None:
                if refusals or attempts >= self.timings.login_attempts:
                    break  # silence (after one refusal: still not confirmed)
                continue
            if datagram.command == Command.PASSWORD_ERROR:
                refusals += 1
                if refusals >= 2:
                    self._update(
                        auth_failed=True,
                        logged_in=False,
                        connection=Connection.AUTH_FAILED,
                    )
                    raise InvalidPasswordError(
                        f"charger {self.serial} refused the password"
                    )
                # Anyone can send a PasswordError: believe it when it repeats.
                await asyncio.sleep(self.timings.password_confirm_delay)
                continue
            try:
                return DeviceInfo.parse(datagram.payload)
            except PayloadError as err:
                raise CommandRejectedError("malformed login response") from err
        raise ChargerTimeoutError(Command.REQUEST_LOGIN)

    async def _login_attempt(self, password: bytes) -> Datagram | None:
        """One RequestLogin; its solicited answer, or ``None`` on silence."""
        target = self._require_address()
        # A probe still out may be answered now; that PasswordError is its.
        probing = self._probing and self._loop.time() <= self._login_deadline
        probe_answers = 1 if probing else 0
        self._probing = False
        self._login_target = target
        self._login_deadline = self._loop.time() + self.timings.login_timeout
        self._session_view = replace(self._session_view, login_target=target)
        answer = self._expect(Command.LOGIN_RESPONSE, Command.PASSWORD_ERROR)
        try:
            self._listener.send(
                Datagram(self.serial, Command.REQUEST_LOGIN, b"", password), target
            )
            async with asyncio.timeout(self.timings.login_timeout):
                while True:
                    datagram = await answer
                    if datagram.command != Command.PASSWORD_ERROR or not probe_answers:
                        return datagram
                    probe_answers -= 1
                    self._forget(answer)
                    answer = self._expect(
                        Command.LOGIN_RESPONSE, Command.PASSWORD_ERROR
                    )
        except TimeoutError:
            return None
        finally:
            self._forget(answer)
            self._login_target = None
            self._session_view = replace(self._session_view, login_target=None)

    def _schedule_login(self) -> None:
        if self._closed or (
            self._login_task is not None and not self._login_task.done()
        ):
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

    def forget_quiet_impostor(self) -> None:
        """Clear :attr:`ChargerState.impostor` once it has been quiet long enough."""
        if self._state.impostor is not None and self._impostors.quiet(
            self._loop.time()
        ):
            self._update(impostor=None)

    def connect_now(self) -> None:
        """Log in now, on purpose: also takes the session from another client."""
        if self.address is not None and not self._state.auth_failed:
            self._relogin_at = None
            self._schedule_login()

    def _want_relogin(self) -> None:
        """Log in again in the background, at once or after the cooldown."""
        state = self._state
        if state.logged_in or state.auth_failed or self.address is None or self._closed:
            self._relogin_at = None
            return
        if self._login_task is not None and not self._login_task.done():
            return
        now = self._loop.time()
        last = self._last_relogin
        if last is not None and now - last < self.timings.relogin_cooldown:
            due = last + self.timings.relogin_cooldown
            if self._relogin_at is None:
                self._relogin_at = due
                self._arm_watch(due)
            return
        self._relogin_at = None
        self._last_relogin = now
        self.diagnostics.relogins += 1
        self._schedule_login()

    # --- watch: liveness, polling, re-login ---------------------------------------

    def _arm_watch(self, due: float) -> None:
        """Make sure :meth:`_watch` runs by ``due``; never re-armed per datagram."""
        if self._closed or due >= self._watch_due:
            return
        if self._watch_handle is not None:
            self._watch_handle.cancel()
        self._watch_due = due
        self._watch_handle = self._loop.call_at(due, self._watch)

    def _watch(self) -> None:
        self._watch_handle = None
        self._watch_due = math.inf
        now = self._loop.time()
        timings = self.timings
        state = self._state
        changes: dict[str, Any] = {}
        due = math.inf
        if state.logged_in:
            if now - self._last_heading >= timings.heading_timeout:
                _LOGGER.info("Charger %s stopped sending headings", self.serial)
                changes["logged_in"] = False
                # Gone, or serving another client: only an answer tells.
                changes["connection"] = Connection.CONNECTING
                self._lapse_probe(now)
            elif self._pushes_stopped(now):
                _LOGGER.info(
                    "Charger %s stopped pushing to us but still heads: another"
                    " client holds its session",
                    self.serial,
                )
                changes["logged_in"] = False
                changes["connection"] = Connection.TAKEN
            else:
                due = min(due, self._last_heading + timings.heading_timeout)
                stale = now - max(self._last_status, self._last_poll)
                if stale >= timings.status_poll_after:
                    # Some implementations answer requests but never push.
                    self._last_poll = now
                    self.refresh_status()
                    stale = 0.0
                due = min(due, now + timings.status_poll_after - stale)
                if self._session_pushes >= _PUSHES_BEFORE_TRUSTED:
                    due = min(due, self._last_push + timings.pushes_stopped_after)
        online = now - self._bound_heard < timings.heading_timeout
        logged_out = not changes.get("logged_in", state.logged_in)
        answer_by = (
            self._lapse_probe(now)
            if state.online and not online and logged_out
            else None
        )
        if answer_by is not None and now < answer_by:
            # Serving another client it says nothing to us: ask before
            # calling it offline (its answer keeps it online).
            online = True
            due = min(due, answer_by)
        if state.online and not online:
            changes["online"] = False
        if changes and ("connection" not in changes or not online):
            changes["connection"] = self._connection(
                changes.get("logged_in", state.logged_in), online
            )
        if changes:
            self._update(**changes)
        if online and not self._state.logged_in and not self._state.auth_failed:
            due = min(due, self._bound_heard + timings.heading_timeout)
        if not self._state.logged_in and self.address is not None:
            due = min(due, self._probe_due(now))
            if self._pinned and self._state.connection is Connection.TAKEN:
                due = min(due, self._retry_pinned(now))
        if self._relogin_at is not None:
            if now >= self._relogin_at:
                self._relogin_at = None
                self._want_relogin()
            else:
                due = min(due, self._relogin_at)
        if due < math.inf:
            self._arm_watch(max(due, now + 0.001))

    def _lapse_probe(self, now: float) -> float | None:
        """Probe a charger that fell silent to us; when the answer is due.

        Sent once per silence; the answer (or any frame) resets it.
        """
        if self._state.auth_failed or self.address is None:
            return None
        if self._lapse_probe_at is None:
            self._lapse_probe_at = now
            self._last_probe = now
            self._send_probe()
        return self._lapse_probe_at + self.timings.login_timeout

    def _retry_pinned(self, now: float) -> float:
        """When a pinned charger held by another client gets a login attempt.

        Its announcements cannot reach us, so nothing says when the other
        client left: a login now and then is the only way to find out.
        """
        interval = self.timings.pinned_retry_interval
        last = max(self._last_relogin or 0.0, self._logged_in_at)
        if now - last >= interval:
            self._want_relogin()
            return now + interval
        return last + interval

    def _pushes_stopped(self, now: float) -> bool:
        """Pushes (sent only to the client served) came, then stopped."""
        return (
            self._session_pushes >= _PUSHES_BEFORE_TRUSTED
            and now - self._last_push >= self.timings.pushes_stopped_after
        )

    def _probe_due(self, now: float) -> float:
        """When to check on a logged-out, silent charger (and check it if due)."""
        if self._state.auth_failed or self._state.online:
            return math.inf
        due = self._last_probe + self.timings.probe_interval
        if now >= due and (self._login_task is None or self._login_task.done()):
            self._last_probe = now
            if self._pinned:
                # Its announcements cannot reach us: log in to find out.
                self._want_relogin()
            else:
                self._send_probe()
            due = now + self.timings.probe_interval
        return due

    def _send_probe(self) -> None:
        """A login without password: a live charger answers PasswordError."""
        target = self._require_address()
        self._probing = True
        self._login_target = target
        self._login_deadline = self._loop.time() + self.timings.login_timeout
        self._session_view = replace(self._session_view, login_target=target)
        self._listener.send(
            Datagram(self.serial, Command.REQUEST_LOGIN, b"", NO_PASSWORD), target
        )

    def _connection(self, logged_in: bool, online: bool) -> Connection:
        if self._state.auth_failed:
            return Connection.AUTH_FAILED
        if logged_in:
            return Connection.CONNECTED
        if not online:
            return Connection.OFFLINE
        if self._state.connection is Connection.CONNECTING:
            return Connection.CONNECTING
        return Connection.TAKEN

    # --- receiving ----------------------------------------------------------------

    def _on_datagram(self, datagram: Datagram, source: Address) -> None:
        now = self._loop.time()
        view = self._session_view
        if view.login_target is not None and now > self._login_deadline:
            view = self._session_view = replace(view, login_target=None)
            self._probing = False
        if datagram.command == Command.LOGIN_ANNOUNCEMENT:
            view = replace(view, bound_silent_for=now - self._bound_heard)
        verdict = trust.judge(datagram, source, view)
        if verdict.drop is not None:
            self._dropped(verdict.drop, datagram, source)
            return
        changes: dict[str, Any] = {}
        if verdict.rebind:
            changes["address"] = source
            self._session_view = replace(self._session_view, bound=source)
        self._bound_heard = now
        self._lapse_probe_at = None
        if not self._state.online:
            changes["online"] = True
            changes["link_epoch"] = self._state.link_epoch + 1
            self._arm_watch(now + self.timings.heading_timeout)
        command = datagram.command
        for future in self._pending.get(command, ()):
            if future.done():
                continue
            accepts = self._reply_filters.get(future)
            if accepts is None or accepts(datagram):
                future.set_result(datagram)
            else:
                self._unaccepted[future] = datagram
        self.diagnostics.last_payloads[command] = datagram.payload
        try:
            message = self._parse(datagram)
        except PayloadError as err:
            self.diagnostics.malformed += 1
            _LOGGER.debug("Dropping 0x%04X from %s: %s", command, self.serial, err)
            message = None
        if message is not None:
            self._handle(command, message, changes, now)
        if changes:
            if "online" in changes and "connection" not in changes:
                changes["connection"] = self._connection(self._state.logged_in, True)
            self._update(**changes)

    def _dropped(self, reason: trust.Drop, datagram: Datagram, source: Address) -> None:
        diagnostics = self.diagnostics
        diagnostics.dropped[reason] += 1
        if reason is trust.Drop.FOREIGN:
            diagnostics.last_foreign_source = source
            if self._impostors.foreign(self._loop.time()):
                self._update(impostor=source[0])
        if diagnostics.dropped[reason] == 1 and reason is not trust.Drop.CLIENT_FRAME:
            # Once per reason: a flood must not flood the log as well.
            _LOGGER.info(
                "Charger %s: ignoring 0x%04X from %s (%s); counted from now on",
                self.serial,
                datagram.command,
                source[0],
                reason,
            )

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

    def _handle(
        self, command: int, message: Message, changes: dict[str, Any], now: float
    ) -> None:
        state = self._state
        if command in _STATUS_COMMANDS:
            if command in (Command.STATUS, Command.STATUS_RESPONSE):
                self._last_status = now
            if command == Command.STATUS:
                self._last_push = now
                self._session_pushes += 1
            if command in _PUSHES:
                self._send_fixed(
                    StatusAck(1) if command == Command.STATUS else ChargingStatusAck(0),
                    Command.STATUS_ACK
                    if command == Command.STATUS
                    else Command.CHARGING_STATUS_ACK,
                )
                if not state.logged_in and not self._login_busy():
                    # Pushes go only to the client the charger serves: us.
                    self._want_relogin()
        match command, message:
            case Command.HEADING, _:
                if state.logged_in:
                    self._send_fixed(HeadingResponse(0), Command.HEADING_RESPONSE)
                    self._last_heading = now
            case ((Command.STATUS | Command.STATUS_RESPONSE), Status()):
                self._take_status(message, changes)
            case (
                (Command.CHARGING_STATUS | Command.CHARGING_STATUS_RESPONSE),
                ChargingStatus(),
            ):
                self._take_session(message, changes)
            case (
                (Command.CURRENT_CHARGE_RECORD | Command.LOCAL_CHARGE_RECORD),
                ChargeRecord(),
            ):
                self._take_record(command, message, changes)
            case Command.LOGIN_ANNOUNCEMENT, DeviceInfo():
                self._on_announcement(message, changes, now)
            case Command.VERSION_RESPONSE, Version():
                changes["version"] = message
            case Command.PASSWORD_ERROR, _ if self._probing:
                self._on_probe_answer(changes)
            case ((Command.LOGIN_RESPONSE | Command.PASSWORD_ERROR), _):
                pass  # the login waiting for it has it
            case _:
                self._handle_setting(message, changes)

    def _take_status(self, status: Status, changes: dict[str, Any]) -> None:
        previous = self._state.status
        # An equal copy is the polled twin of a push (or the reverse): its
        # parse is cached apart, but it is the same news.
        if status is previous or status == previous:
            return
        screened, rejected = self._status_screen.screen(status, previous)
        if rejected:
            self._rejected_fields(rejected, status)
        changes["status"] = screened

    def _take_session(self, session: ChargingStatus, changes: dict[str, Any]) -> None:
        previous = self._state.session
        if session is previous or session == previous:
            return
        screened, rejected = plausibility.screen_session(
            session, previous, self._state.limits
        )
        if rejected:
            self._rejected_fields(rejected, session)
        changes["session"] = screened

    def _take_record(
        self, command: int, record: ChargeRecord, changes: dict[str, Any]
    ) -> None:
        if rejected := plausibility.implausible_record(record):
            # A damaged copy (the checksum cannot see swapped bytes): neither
            # reported nor acknowledged, so the charger replays it intact.
            self._rejected(
                {f"record.{name}": getattr(record, name) for name in rejected}
            )
            return
        if self._ack_records:
            # Until acknowledged (record_reported pops it again).
            self._record_commands[record.charge_id] = command
        if record.charge_id in self._acknowledged:
            # Acknowledged before: that acknowledgement was lost.
            self._acknowledge(record.charge_id)
        changes["last_record"] = record

    def _rejected_fields(self, fields: tuple[str, ...], message: object) -> None:
        """Count the fields of ``message`` the screen replaced."""
        values: dict[str, object] = {}
        for name in fields:
            value: object = message
            for part in name.split("."):
                value = getattr(value, part, None)
            values[name] = value
        self._rejected(values)

    def _rejected(self, values: dict[str, object]) -> None:
        """Count implausible values and keep the last raw one of each field."""
        diagnostics = self.diagnostics
        for name, value in values.items():
            diagnostics.rejected_values[name] += 1
            diagnostics.last_rejected[name] = value
            if diagnostics.rejected_values[name] == 1:
                _LOGGER.info(
                    "Charger %s reported an implausible %s (%r); ignored it",
                    self.serial,
                    name,
                    value,
                )

    def _handle_setting(self, message: Message, changes: dict[str, Any]) -> None:
        settings = changes.get("settings", self._state.settings)
        limits = self._state.limits
        match message:
            case OutputCurrent():
                if not plausibility.within(message.value, limits.setting_current):
                    self._rejected({"max_current_setting": message.value})
                    return
                settings = replace(settings, max_current=message.value)
            case LanguageSetting():
                settings = replace(settings, language=message.language)
            case TemperatureUnitSetting():
                settings = replace(settings, temperature_unit=message.unit)
            case StartModeSetting():
                settings = replace(settings, start_mode=message.mode)
            case Nickname():
                if not plausibility.plausible_nickname(message.name):
                    self._rejected({"nickname": message.name})
                    return
                settings = replace(settings, nickname=message.name)
            case LcdBrightness():
                if not plausibility.within(message.level, plausibility.BRIGHTNESS):
                    self._rejected({"lcd_brightness": message.level})
                    return
                settings = replace(settings, lcd_brightness=message.level)
            case _:
                return
        changes["settings"] = settings

    def _on_announcement(
        self, info: DeviceInfo, changes: dict[str, Any], now: float
    ) -> None:
        state = self._state
        if state.logged_in:
            if now - self._logged_in_at < self.timings.announcement_grace:
                return
            _LOGGER.info("Charger %s announced itself: session lost", self.serial)
            changes["logged_in"] = False
        changes["connection"] = (
            Connection.AUTH_FAILED if state.auth_failed else Connection.CONNECTING
        )
        if not state.online or state.logged_in:
            # A reboot (or a dropped session): counters may have been restored.
            changes["link_epoch"] = state.link_epoch + 1
        if state.info is None:
            changes["info"] = info
        # After the caller applied ``changes``: a session still up refuses it.
        self._loop.call_soon(self._want_relogin)

    def _on_probe_answer(self, changes: dict[str, Any]) -> None:
        """The answer to our password-less probe: the charger is there.

        It did not announce itself, so it has a client: another one.
        """
        self._probing = False
        state = self._state
        if not state.logged_in and not state.auth_failed and not self._login_busy():
            changes["connection"] = Connection.TAKEN

    def _login_busy(self) -> bool:
        return self._login_task is not None and not self._login_task.done()

    def _update(self, **changes: Any) -> None:
        state = self._state
        # Most pushes repeat what is known; skip building a snapshot for them.
        if all(
            (current := getattr(state, name)) is value or current == value
            for name, value in changes.items()
        ):
            return
        new = renewed(state, changes)
        self._state = new
        if "logged_in" in changes:
            self._session_view = replace(self._session_view, logged_in=new.logged_in)
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

    def _send(self, message: Message, command: int, *, paced: bool = False) -> None:
        self._listener.send(
            to_datagram(message, command, self.serial, self._password),
            self._require_address(),
            paced=paced,
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
        self._unaccepted.pop(future, None)
        for command, futures in list(self._pending.items()):
            if future in futures:
                futures.remove(future)
            if not futures:
                del self._pending[command]

    def _check_session(self) -> None:
        """Refuse a command that cannot reach the charger now, saying why."""
        if self._state.connection is Connection.TAKEN:
            raise SessionTakenError(
                f"another client holds the session of charger {self.serial}"
            )
        if not self._state.logged_in:
            raise ChargerNotReachableError(f"charger {self.serial} is not connected")

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
                raise ChargerTimeoutError(
                    command, answered=self._unaccepted.get(answer)
                ) from err
            finally:
                self._forget(answer)

    def refresh(self) -> None:
        """Ask for status, session, settings and version (replies update state).

        Paced through the listener: many chargers logging in at once must not
        overflow the socket with their answers.
        """
        if self.address is None:
            return
        self.refresh_status()
        for request in (
            OutputCurrent.get(),
            LanguageSetting.get(),
            TemperatureUnitSetting.get(),
            StartModeSetting.get(),
        ):
            self._send(request, request.REQUEST, paced=True)
        self._send(Nickname.get(), Command.NICKNAME, paced=True)
        self._send(LcdBrightness.get(), Command.LCD_BRIGHTNESS, paced=True)
        self._send(GetVersion(), Command.GET_VERSION, paced=True)

    def refresh_status(self) -> None:
        """Ask for status and session only."""
        if self.address is None:
            return
        self._send(StatusRequest(), Command.STATUS_REQUEST, paced=True)
        self._send(
            ChargingStatusRequest(0), Command.CHARGING_STATUS_REQUEST, paced=True
        )

    def sync_clock_soon(self) -> None:
        """Set the charger clock to now without waiting for the echo."""
        if self.address is None:
            return
        now = datetime_to_em(datetime.now(UTC), self._time_zone)
        self._send(SystemTime(Action.SET, now), Command.SYSTEM_TIME, paced=True)

    @property
    def last_stop(self) -> float | None:
        """Event-loop time of the last stop the relay protection counts from."""
        return self._last_stop

    def record_reported(self, record: ChargeRecord) -> None:
        """The record is in Home Assistant's history: acknowledge it, if asked to.

        Acknowledged only once reported: the charger sends its next stored
        record after an acknowledgement, and a record acknowledged unseen
        would be gone from the charger and from Home Assistant.
        """
        if not self._ack_records or not self._state.logged_in:
            return
        self._acknowledged[record.charge_id] = None
        while len(self._acknowledged) > _REMEMBERED_RECORDS:
            self._acknowledged.pop(next(iter(self._acknowledged)))
        self._acknowledge(record.charge_id)

    def _acknowledge(self, charge_id: str) -> None:
        command = self._record_commands.pop(charge_id, Command.LOCAL_CHARGE_RECORD)
        self._send(ChargeRecordAck(charge_id), command | 0x8000)

    def em_to_datetime(self, em: int) -> datetime | None:
        """Convert a charger timestamp using this charger's time zone."""
        return em_to_datetime(em, self._time_zone)

    # --- commands -----------------------------------------------------------------

    def check_start(
        self,
        current: float | None = None,
        *,
        start_at: datetime | None = None,
        max_duration: timedelta | None = None,
        max_energy: float | None = None,
        single_phase: bool = False,
        now: datetime | None = None,
    ) -> ChargeStart:
        """The ChargeStart for these arguments, or :class:`InvalidValueError`.

        Nothing is sent; :meth:`start_charging` sends what this returns.
        """
        state = self._state
        wanted = state.settings.max_current if current is None else current
        amps = self._check_current(const.MIN_CURRENT if wanted is None else wanted)
        now = datetime.now(UTC) if now is None else now
        start = now
        if start_at is not None:
            if start_at.tzinfo is None or start_at.utcoffset() is None:
                raise InvalidValueError(
                    Refusal.START_TIME_NAIVE, "a start time needs a time zone"
                )
            if start_at < now - START_TIME_TOLERANCE:
                raise InvalidValueError(
                    Refusal.START_TIME_PAST, "the start time has passed"
                )
            if start_at - now > MAX_RESERVATION_AHEAD:
                raise InvalidValueError(
                    Refusal.START_TIME_TOO_FAR,
                    "a start can be planned at most 24 hours ahead",
                )
            start = max(start_at, now)
        minutes: int | None = None
        if max_duration is not None:
            minutes = round(max_duration.total_seconds() / 60)
            if not 1 <= minutes < U16_NONE:
                raise InvalidValueError(
                    Refusal.DURATION_OUT_OF_RANGE,
                    "the duration must be 1 minute to 45 days",
                    max=U16_NONE - 1,
                )
        if max_energy is not None:
            hundredths = round(max_energy * 100) if math.isfinite(max_energy) else 0
            if not 1 <= hundredths < U16_NONE:
                raise InvalidValueError(
                    Refusal.ENERGY_OUT_OF_RANGE,
                    "the energy limit must be 0.01 to 655.34 kWh",
                    max=(U16_NONE - 1) / 100,
                )
            max_energy = hundredths / 100
        three_phase = state.phases == 3
        # Line 2 is a three-phase session; line 1 with type 11 forces one phase.
        return ChargeStart(
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

    def restart_allowed_in(self) -> float:
        """Seconds until a start is allowed after the last stop (0 = now)."""
        if self._last_stop is None:
            return 0.0
        wait = self.timings.min_restart_interval - (self._loop.time() - self._last_stop)
        return max(0.0, wait)

    async def start_charging(
        self,
        current: float | None = None,
        *,
        start_at: datetime | None = None,
        max_duration: timedelta | None = None,
        max_energy: float | None = None,
        single_phase: bool = False,
    ) -> ChargeStartResponse:
        """Start (or plan) a session; raises unless the charger accepts it.

        A charger that finished a session refuses a new start until it gets a
        stop, so one is sent first; that stop ends nothing and does not count
        towards the restart interval.
        """
        request = self.check_start(
            current,
            start_at=start_at,
            max_duration=max_duration,
            max_energy=max_energy,
            single_phase=single_phase,
        )
        self._check_session()
        if (wait := self.restart_allowed_in()) > 0:
            raise RateLimitedError(wait)
        if self._state.completed and not request.is_reservation:
            await self._stop(record_stop=False)
        reply = await self._request(request, Command.CHARGE_START)
        response = ChargeStartResponse.parse(reply.payload)
        changes: dict[str, Any] = {"last_start": response}
        if response.accepted:
            # The start's current becomes the charger's configured current.
            settings = self._state.settings
            changes["settings"] = replace(settings, max_current=request.max_current)
        self._update(**changes)
        self.refresh_status()
        if not response.accepted:
            raise ChargeStartRejectedError(response)
        if not request.is_reservation:
            self._last_start = self._loop.time()
        self._send(OutputCurrent.get(), Command.OUTPUT_CURRENT, paced=True)
        return response

    async def stop_charging(self) -> ChargeStopResponse:
        """Stop the running session (or cancel a planned one).

        Stopping a charger that runs nothing is done, not refused: its status
        said so before the stop, and its refusal confirms it.
        """
        self._check_session()
        state = self._state
        ours = self._last_start is not None and (
            self._last_stop is None or self._last_start > self._last_stop
        )
        idle = not (ours or state.session_active or state.scheduled or state.completed)
        try:
            return await self._stop(record_stop=ours or state.charging is True)
        except ChargeStopRejectedError as err:
            if idle:
                return err.response
            raise

    async def _stop(self, *, record_stop: bool) -> ChargeStopResponse:
        request = ChargeStop(line_id=1, user_id=self._user_id)
        reply = await self._request(request, Command.CHARGE_STOP)
        response = ChargeStopResponse.parse(reply.payload)
        self.refresh_status()
        if not response.accepted:
            raise ChargeStopRejectedError(response)
        if record_stop:
            self._last_stop = self._loop.time()
        return response

    def _check_current(self, value: float) -> int:
        amps = _whole(value, Refusal.CURRENT_NOT_WHOLE, "current")
        top = self._state.max_current
        if not const.MIN_CURRENT <= amps <= top:
            raise InvalidValueError(
                Refusal.CURRENT_OUT_OF_RANGE,
                f"current must be {const.MIN_CURRENT} to {top} A",
                min=const.MIN_CURRENT,
                max=top,
            )
        return amps

    async def set_max_current(self, amps: float) -> int:
        """Store the charger's configured maximum current, verified by reading back."""
        value = self._check_current(amps)
        self._check_session()
        await self._write_setting(OutputCurrent.set(value), read_back=True)
        return value

    async def _write_setting(self, request: ByteSetting, *, read_back: bool) -> None:
        """SET a byte setting; the reply carrying the new value confirms it.

        Implementations differ in the action byte they echo (SET, GET, the
        old value first), so the value decides, not the action byte. With
        ``read_back`` (or when the reply shows another value) a GET tells what
        the charger kept. Only silence is reported as silence.
        """
        wanted = request.value
        kind = type(request)
        try:
            reply = await self._request(
                request,
                request.REQUEST,
                accepts=lambda d: (
                    d.payload[1:2] == bytes((wanted,))
                    or d.payload[:1] == bytes((Action.SET,))
                ),
            )
        except ChargerTimeoutError as err:
            if err.answered is None and not read_back:
                raise
            kept = (
                None if err.answered is None else kind.parse(err.answered.payload).value
            )
        else:
            kept = kind.parse(reply.payload).value
            if kept == wanted and not read_back:
                return
        try:
            reply = await self._request(kind.get(), request.REQUEST)
        except ChargerTimeoutError:
            if kept is None:
                raise
        else:
            kept = kind.parse(reply.payload).value
        if kept != wanted:
            raise SettingRejectedError(request.REQUEST, wanted, kept)

    async def set_language(self, language: Language) -> None:
        """Set the display language."""
        member = _known_member(Language, language)
        self._check_session()
        await self._write_setting(LanguageSetting.set(member), read_back=False)

    async def set_temperature_unit(self, unit: TemperatureUnit) -> None:
        """Set the display temperature unit."""
        member = _known_member(TemperatureUnit, unit)
        self._check_session()
        await self._write_setting(TemperatureUnitSetting.set(member), read_back=False)

    async def set_start_mode(self, mode: StartMode) -> None:
        """Set whether sessions may start without the app."""
        member = _known_member(StartMode, mode)
        self._check_session()
        await self._write_setting(StartModeSetting.set(member), read_back=False)

    async def set_nickname(self, name: str) -> None:
        """Rename the charger (printable ASCII, 1 to 11 characters)."""
        limit = const.NICKNAME_MAX_LENGTH
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= limit
            or not plausibility.printable(name)
            or name != name.strip()
        ):
            raise InvalidValueError(
                Refusal.NICKNAME_INVALID,
                f"the name must be 1 to {limit} printable ASCII characters"
                " without leading or trailing spaces",
                max=limit,
            )
        self._check_session()
        reply = await self._request(
            Nickname(Action.SET, name),
            Command.NICKNAME,
            accepts=lambda d: (
                d.payload[:1] == bytes((Action.SET,))
                or Nickname.parse(d.payload).name == name
            ),
        )
        if (kept_name := Nickname.parse(reply.payload).name) != name:
            raise SettingRejectedError(Command.NICKNAME, name, kept_name)

    async def read_nickname(self) -> str:
        """Ask the charger for its name."""
        reply = await self._request(
            Nickname.get(),
            Command.NICKNAME,
            accepts=lambda d: d.payload[:1] != bytes((Action.SET,)),
        )
        return Nickname.parse(reply.payload).name

    async def set_lcd_brightness(self, level: float) -> None:
        """Set the display brightness, 0-100."""
        value = _whole(level, Refusal.BRIGHTNESS_OUT_OF_RANGE, "brightness")
        if not 0 <= value <= MAX_BRIGHTNESS:
            raise InvalidValueError(
                Refusal.BRIGHTNESS_OUT_OF_RANGE, "brightness must be 0 to 100", max=100
            )
        self._check_session()
        request = LcdBrightness.set(value)
        reply = await self._request(
            request,
            Command.LCD_BRIGHTNESS,
            accepts=lambda d: (
                d.payload[1:2] == bytes((request.mode,))
                or d.payload[2:3] == bytes((value,))
            ),
        )
        if (kept_level := LcdBrightness.parse(reply.payload).level) != value:
            raise SettingRejectedError(Command.LCD_BRIGHTNESS, value, kept_level)

    async def sync_clock(self) -> datetime | None:
        """Set the charger clock to now; returns the time it echoed."""
        now = datetime_to_em(datetime.now(UTC), self._time_zone)
        reply = await self._request(
            SystemTime(Action.SET, now),
            Command.SYSTEM_TIME,
            accepts=lambda d: d.payload[:1] == bytes((Action.SET,)),
        )
        echoed = SystemTime.parse(reply.payload).time
        return None if echoed is None else self.em_to_datetime(echoed)
