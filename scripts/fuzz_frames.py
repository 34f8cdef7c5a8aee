"""Fuzz the listener and a registered charger with arbitrary packets.

Every input is a short sequence of UDP packets that goes through
``ChargerListener.datagram_received`` into a logged-in ``Charger`` (the
in-process session of ``tests/protocol/inprocess.py``: no sockets, sends are
recorded). A seeded random generator makes the inputs; each decodes into 1 to
6 packets, each from the charger's own address, from 127.0.0.2 or from
127.0.0.3, each one of

* raw bytes;
* one well-framed datagram (valid checksum) with a chosen serial, command id,
  password field, key type and payload;
* a real payload for a real command (status, session, announcement, login
  reply, settings, version, records, ...) with some bytes overwritten, cut or
  extended, well framed: the spec's frames, mutated;
* several such datagrams in one packet, with a junk tail.

After every packet the harness checks that

* no exception left ``datagram_received``, none reached the event loop's
  exception handler (a task that failed) and nothing was logged at ERROR
  (the listener logs and swallows handler exceptions: that is a bug too);
* every value of the ``ChargerState`` snapshot is within the bounds of
  ``protocol/plausibility.py`` (status, session, settings);
* while the session is logged in and bound to the charger's address, a
  packet from another address changes nothing in the snapshot (but the
  impostor mark) and gets no answer, so nothing carrying the password leaves
  for another address.

Those stop the run at the first violation, save the input as
``fuzz-failure-<sha1>.bin`` and exit 1; ``--replay FILE`` runs that input
alone. The last charge record is held to the session bounds too, but counted
rather than stopped at (records are not screened yet; see
:func:`check_record`): the final line lists them, and any makes the exit
status 1.

Needs nothing beyond ``requirements_test.txt``. Examples::

    .venv/bin/python scripts/fuzz_frames.py --runs 1000000
    .venv/bin/python scripts/fuzz_frames.py --runs 100000 --seed 7
    .venv/bin/python scripts/fuzz_frames.py --replay fuzz-failure-<sha1>.bin

Progress lines every ``--report`` inputs.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
import hashlib
import logging
from pathlib import Path
import random
import resource
import sys
import time
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.evse_master.protocol import plausibility
from custom_components.evse_master.protocol.charger import ChargerState
from custom_components.evse_master.protocol.enums import (
    Action,
    ChargeStartError,
    Command,
    CurrentState,
    ReservationResult,
    StartType,
    StopReason,
)
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    NO_PASSWORD,
    PROBE_SERIAL,
    Datagram,
)
from custom_components.evse_master.protocol.listener import Address
from custom_components.evse_master.protocol.messages import (
    ChargeRecord,
    ChargeStartResponse,
    ChargeStopResponse,
    ChargingStatus,
    Heading,
    LanguageSetting,
    LcdBrightness,
    Nickname,
    OutputCurrent,
    PasswordError,
    StartModeSetting,
    SystemTime,
    TemperatureUnitSetting,
    Version,
    WeeklyPlan,
)
from tests.protocol.inprocess import (
    CHARGER,
    INFO,
    OTHER_STRANGER,
    SERIAL,
    STRANGER,
    Session,
    logged_in,
    status,
)

SOURCES: Final[tuple[Address, ...]] = (CHARGER, CHARGER, STRANGER, OTHER_STRANGER)
"""Where a packet comes from (the charger's own address twice as often)."""
RAW_MAX: Final = 1500
PAYLOAD_MAX: Final = 300
LOOP_TURNS: Final = 2
"""Loop iterations after each packet, so tasks it started (a login) move on."""
WATCHED: Final = (
    "address",
    "logged_in",
    "info",
    "version",
    "status",
    "session",
    "settings",
    "last_record",
    "last_start",
    "connection",
    "auth_failed",
)
"""Snapshot fields a frame from another address must never change."""


def _session_payload() -> bytes:
    return ChargingStatus(
        line_id=1,
        reported_state=CurrentState.CHARGING,
        charge_id="202601011200" + "0001",
        start_type=StartType(1),
        charge_type=1,
        max_duration=120,
        max_energy=10.0,
        param3=0,
        reservation_time=0,
        user_id="evse_master",
        max_current=16,
        start_time=800_000_000,
        duration=600,
        start_energy=1475.0,
        current_energy=1475.6,
        session_energy=0.6,
        charge_price=0.0,
        fee_type=1,
        charge_fee=0.0,
    ).build()


def _record_payload() -> bytes:
    return ChargeRecord(
        line_id=1,
        started_by="evse_master",
        stopped_by="evse_master",
        charge_id="2026010112000001",
        has_reservation=0,
        start_type=StartType(1),
        charge_type=1,
        max_duration=None,
        max_energy=None,
        param3=0,
        stop_reason=StopReason.STOPPED_BY_APP,
        has_stop_charge=1,
        reservation_time=0,
        start_time=800_000_000,
        stop_time=800_003_600,
        charged_time=3600,
        start_energy=1475.0,
        stop_energy=1478.6,
        session_energy=3.6,
        charge_price=0.0,
        fee_type=1,
        charge_fee=0.0,
        tail=bytes(2),
    ).build()


def _templates() -> tuple[tuple[int, bytes], ...]:
    """A real payload for every command a charger sends."""
    return (
        (Command.STATUS, status().build()),
        (Command.STATUS_RESPONSE, status(state=CurrentState.CHARGING).build()),
        (Command.CHARGING_STATUS, _session_payload()),
        (Command.CHARGING_STATUS_RESPONSE, _session_payload()),
        (Command.LOGIN_ANNOUNCEMENT, INFO.build()),
        (Command.LOGIN_RESPONSE, INFO.build()),
        (Command.HEADING, Heading().build()),
        (Command.PASSWORD_ERROR, PasswordError(0).build()),
        (Command.VERSION_RESPONSE, Version("C.3252.112A008", "C.3252.112A008").build()),
        (Command.OUTPUT_CURRENT_RESPONSE, OutputCurrent(Action.GET, 16).build()),
        (Command.LANGUAGE_RESPONSE, LanguageSetting(Action.GET, 1).build()),
        (
            Command.TEMPERATURE_UNIT_RESPONSE,
            TemperatureUnitSetting(Action.GET, 1).build(),
        ),
        (Command.START_MODE_RESPONSE, StartModeSetting(Action.GET, 0).build()),
        (Command.NICKNAME_RESPONSE, Nickname(Action.GET, "Garage").build()),
        (Command.LCD_BRIGHTNESS_RESPONSE, LcdBrightness(mode=1, level=80).build()),
        (Command.SYSTEM_TIME_RESPONSE, SystemTime(Action.SET, 800_000_000).build()),
        (Command.WEEKLY_PLAN_RESPONSE, WeeklyPlan(Action.GET).build()),
        (Command.CURRENT_CHARGE_RECORD, _record_payload()),
        (Command.LOCAL_CHARGE_RECORD, _record_payload()),
        (
            Command.CHARGE_START_RESPONSE,
            ChargeStartResponse(
                1, ReservationResult(0), 1, ChargeStartError.OK, 16
            ).build(),
        ),
        (Command.CHARGE_STOP_RESPONSE, ChargeStopResponse(1, 1, 0).build()),
    )


TEMPLATES: Final = _templates()


class Provider:
    """Reads an input as a stream of choices; zeros once it is used up."""

    def __init__(self, data: bytes) -> None:
        """Read ``data`` from its start."""
        self._data = data
        self._offset = 0

    def byte(self) -> int:
        """The next byte."""
        if self._offset >= len(self._data):
            return 0
        value = self._data[self._offset]
        self._offset += 1
        return value

    def u16(self) -> int:
        """The next two bytes, big-endian."""
        return (self.byte() << 8) | self.byte()

    def take(self, count: int) -> bytes:
        """The next ``count`` bytes (fewer at the end)."""
        chunk = self._data[self._offset : self._offset + count]
        self._offset += len(chunk)
        return chunk


def _serial(provider: Provider) -> str:
    match provider.byte() % 4:
        case 0 | 1:
            return SERIAL
        case 2:
            return PROBE_SERIAL
        case _:
            return provider.take(8).ljust(8, b"\0").hex()


def _framed(provider: Provider) -> bytes:
    """One well-framed datagram, either free-form or a mutated real one."""
    if provider.byte() % 2:
        command, template = TEMPLATES[provider.byte() % len(TEMPLATES)]
        payload = bytearray(template)
        for _ in range(provider.byte() % 8):
            if payload:
                payload[provider.u16() % len(payload)] = provider.byte()
        match provider.byte() % 4:
            case 0:
                payload = payload[: provider.u16() % (len(payload) + 1)]
            case 1:
                payload += provider.take(provider.byte())
        serial = SERIAL
    else:
        if provider.byte() % 2:
            command = TEMPLATES[provider.byte() % len(TEMPLATES)][0]
        else:
            command = provider.u16()
        payload = bytearray(provider.take(provider.u16() % PAYLOAD_MAX))
        serial = _serial(provider)
    match provider.byte() % 4:
        case 0 | 1:
            password = CHARGER_PASSWORD_FIELD
        case 2:
            password = NO_PASSWORD
        case _:
            password = provider.take(6).ljust(6, b"\0")
    key_type = provider.byte() if provider.byte() % 8 == 0 else 0
    return Datagram(serial, command, bytes(payload), password, key_type).encode()


def packets(data: bytes) -> list[tuple[bytes, Address]]:
    """The packets an input stands for, with their sources."""
    provider = Provider(data)
    decoded: list[tuple[bytes, Address]] = []
    for _ in range(1 + provider.byte() % 6):
        source = SOURCES[provider.byte() % len(SOURCES)]
        match provider.byte() % 4:
            case 0:
                packet = provider.take(provider.u16() % RAW_MAX)
            case 1 | 2:
                packet = _framed(provider)
            case _:
                count = 2 + provider.byte() % 10
                packet = b"".join(_framed(provider) for _ in range(count))
                packet += provider.take(provider.byte() % 32)
        decoded.append((packet, source))
    return decoded


# --- invariants ---------------------------------------------------------------------


class InvariantError(AssertionError):
    """The harness found a violation."""


def _check(value: float | None, bounds: plausibility.Bounds, what: str) -> None:
    if not plausibility.within(value, bounds):
        raise InvariantError(f"{what} = {value!r} is outside {bounds}")


def check_state(state: ChargerState) -> None:
    """Every value of the snapshot is within the plausibility bounds."""
    limits = state.limits
    if (reading := state.status) is not None:
        _check(reading.power, limits.power, "status.power")
        _check(reading.total_energy, plausibility.ENERGY_COUNTER, "total_energy")
        _check(reading.inner_temperature, plausibility.TEMPERATURE, "inner temp")
        _check(reading.outer_temperature, plausibility.TEMPERATURE, "outer temp")
        for name in ("l1", "l2", "l3"):
            phase = getattr(reading, name)
            if phase is not None:
                _check(phase.voltage, plausibility.VOLTAGE, f"{name}.voltage")
                _check(phase.current, limits.current, f"{name}.current")
    if (session := state.session) is not None:
        _check(session.duration, plausibility.SESSION_DURATION, "session.duration")
        _check(session.session_energy, plausibility.SESSION_ENERGY, "session energy")
        _check(session.start_energy, plausibility.ENERGY_COUNTER, "start_energy")
        _check(session.current_energy, plausibility.ENERGY_COUNTER, "current_energy")
        _check(session.max_current, (0.0, float(limits.max_current)), "max_current")
        for name in ("charge_id", "user_id"):
            if not plausibility.printable(getattr(session, name)):
                raise InvariantError(f"session.{name} is not printable")
    settings = state.settings
    _check(settings.max_current, limits.setting_current, "settings.max_current")
    _check(settings.lcd_brightness, plausibility.BRIGHTNESS, "lcd_brightness")
    if settings.nickname is not None and not plausibility.plausible_nickname(
        settings.nickname
    ):
        raise InvariantError(f"nickname {settings.nickname!r} is implausible")


def check_record(state: ChargerState) -> None:
    """The last charge record is within the same bounds as a session.

    A record becomes the session event's attributes (energy, duration, who
    started and stopped it), so an implausible one is shown. The charger
    client stores records as received (``Charger._handle``; nothing in
    ``plausibility`` screens them), which is why the harness counts these
    violations instead of stopping at the first.
    """
    if (record := state.last_record) is None:
        return
    _check(record.session_energy, plausibility.SESSION_ENERGY, "record.session_energy")
    _check(record.start_energy, plausibility.ENERGY_COUNTER, "record.start_energy")
    _check(record.stop_energy, plausibility.ENERGY_COUNTER, "record.stop_energy")
    _check(record.charged_time, plausibility.SESSION_DURATION, "record.charged_time")
    for name in ("charge_id", "started_by", "stopped_by"):
        if not plausibility.printable(getattr(record, name)):
            raise InvariantError(f"record.{name} = {getattr(record, name)!r}")


class ErrorLog(logging.Handler):
    """Keeps every record at ERROR or above of the integration's loggers."""

    def __init__(self) -> None:
        """Catch from now on."""
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep it."""
        self.records.append(record)


@dataclass
class Stats:
    """What the inputs did."""

    inputs: int = 0
    packets: int = 0
    sessions: int = 0
    changed: int = 0
    """Inputs that changed the snapshot."""
    answered: int = 0
    """Inputs the charger answered (acks, heading responses, logins...)."""
    logins_lost: int = 0
    records: Counter[str] = field(default_factory=Counter)
    """Implausible charge records accepted, by the first field out of bounds."""


class Harness:
    """A logged-in session that inputs go to; renewed when an input changed it."""

    def __init__(self) -> None:
        """Open the event loop, catch errors, log the first session in."""
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(self._on_loop_exception)
        self._loop_errors: list[dict[str, Any]] = []
        self.errors = ErrorLog()
        logger = logging.getLogger("custom_components.evse_master")
        logger.addHandler(self.errors)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # INFO lines per dropped frame would be noise
        self.stats = Stats()
        self.session = self._new_session()
        self.started = time.monotonic()

    def _on_loop_exception(
        self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        self._loop_errors.append(context)

    def _new_session(self) -> Session:
        self.stats.sessions += 1
        session = self.loop.run_until_complete(logged_in())
        self.baseline = session.charger.state
        return session

    def _turn(self) -> None:
        loop = self.loop
        for _ in range(LOOP_TURNS):
            # Skipping a turn when nothing is ready (the common case) doubles
            # the inputs per second; ``_ready`` is CPython's run queue.
            if not getattr(loop, "_ready", True):
                break
            loop.call_soon(loop.stop)
            loop.run_forever()

    def run(self, data: bytes) -> None:
        """One input: its packets, the invariants after each."""
        stats = self.stats
        stats.inputs += 1
        session = self.session
        listener, charger = session.listener, session.charger
        for packet, source in packets(data):
            stats.packets += 1
            before = charger.state
            sent = len(listener.sent)
            listener.datagram_received(packet, source)
            self._turn()
            self._raise_errors()
            after = charger.state
            check_state(after)
            if after.last_record is not before.last_record:
                try:
                    check_record(after)
                except InvariantError as err:
                    stats.records[str(err).split(" ", 1)[0]] += 1
            bound = before.address is not None and before.address[0] == CHARGER[0]
            if source[0] != CHARGER[0] and before.logged_in and bound:
                self._check_foreign(before, after, listener.sent[sent:], source)
            if before.logged_in and not after.logged_in:
                stats.logins_lost += 1
        stats.answered += bool(listener.sent)
        listener.sent.clear()
        if charger.state is not self.baseline:
            # The next input starts from a fresh login (answers alone only
            # moved timestamps: the session is kept for speed).
            stats.changed += 1
            charger.shutdown()
            self._turn()
            self._raise_errors()
            self.session = self._new_session()

    def _raise_errors(self) -> None:
        if self._loop_errors:
            context = self._loop_errors[0]
            raise InvariantError(
                f"event loop: {context.get('message')}"
            ) from context.get("exception")
        if self.errors.records:
            record = self.errors.records[0]
            raise InvariantError(f"logged: {record.getMessage()}") from (
                record.exc_info[1] if record.exc_info else None
            )

    @staticmethod
    def _check_foreign(
        before: ChargerState,
        after: ChargerState,
        sent: Sequence[tuple[Datagram, Address]],
        source: Address,
    ) -> None:
        for name in WATCHED:
            if getattr(before, name) != getattr(after, name):
                raise InvariantError(f"a frame from {source} changed {name}")
        for datagram, address in sent:
            if address[0] != CHARGER[0]:
                raise InvariantError(
                    f"0x{datagram.command:04X} went to {address} while bound"
                )

    def report(self, final: bool = False) -> str:
        """A progress line."""
        stats = self.stats
        elapsed = time.monotonic() - self.started
        rate = stats.inputs / elapsed if elapsed else 0.0
        # ru_maxrss is in KiB on Linux: a leak per session would show here.
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        records = sum(stats.records.values())
        return (
            f"{'done' if final else 'progress'}: {stats.inputs} inputs, "
            f"{stats.packets} packets in {elapsed:.0f} s ({rate:,.0f} inputs/s); "
            f"{stats.changed} changed the snapshot, {stats.answered} were answered, "
            f"{stats.logins_lost} lost the session; {stats.sessions} sessions; "
            f"peak RSS {rss:.0f} MiB; snapshot invariants held; "
            f"implausible records accepted: {records}"
            + (f" {dict(stats.records.most_common())}" if records else "")
        )


def run_random(harness: Harness, runs: int, seed: int, every: int) -> None:
    """``runs`` inputs of the seeded generator; a violation saves its input."""
    rng = random.Random(seed)
    for index in range(1, runs + 1):
        data = rng.randbytes(rng.randint(0, 2048))
        try:
            harness.run(data)
        except InvariantError:
            saved = Path(f"fuzz-failure-{hashlib.sha1(data).hexdigest()}.bin")
            saved.write_bytes(data)
            print(harness.report(), flush=True)
            print(f"input {index} of seed {seed} violated an invariant: {saved}")
            raise
        if index % every == 0:
            print(harness.report(), flush=True)
    print(harness.report(final=True), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fuzzer; the exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=100_000, help="inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=int, default=100_000, help="inputs")
    parser.add_argument(
        "--replay", type=Path, metavar="FILE", help="run one saved input only"
    )
    options = parser.parse_args(argv)
    state_fields = {state_field.name for state_field in fields(ChargerState)}
    if not set(WATCHED) <= state_fields:
        parser.error(f"not snapshot fields: {set(WATCHED) - state_fields}")
    harness = Harness()
    if options.replay is not None:
        harness.run(options.replay.read_bytes())
        print(harness.report(final=True))
    else:
        run_random(harness, options.runs, options.seed, options.report)
    return 1 if harness.stats.records else 0


if __name__ == "__main__":
    sys.exit(main())
