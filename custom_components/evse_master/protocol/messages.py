"""Typed payload models, one per command (protocol.md §5).

Every model has ``parse(payload)`` and ``build()``; for the models whose
fields cover every payload byte, ``parse(p).build() == p``. Unknown enum values
and bytes the spec does not explain are kept, never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
import struct
from typing import ClassVar, Self

from .enums import (
    THREE_PHASE_DEVICE_TYPES,
    Action,
    ChargeStartError,
    Command,
    CurrentState,
    GunState,
    Language,
    OutputState,
    ReservationResult,
    StartMode,
    StartType,
    StopReason,
    TemperatureUnit,
)
from .frame import Datagram

U16_NONE = 0xFFFF
U32_NONE = 0xFFFFFFFF
ALTERNATIVE_STATES = frozenset({18, 19})
NICKNAME_PREFIX = "ACP#"


class PayloadError(ValueError):
    """A payload is too short or otherwise cannot be decoded."""


# --- field helpers ---------------------------------------------------------


def decode_text(raw: bytes) -> str:
    """Decode a fixed-width text field: up to the first NUL, padding stripped."""
    return raw.split(b"\x00", 1)[0].rstrip(b"\xff ").decode("utf-8", "replace")


def encode_text(text: str, width: int) -> bytes:
    """Encode text as a NUL-padded field, truncated to ``width`` bytes."""
    return text.encode("ascii", "replace")[:width].ljust(width, b"\x00")


def _scaled(raw: int, divisor: int, sentinel: int) -> float | None:
    return None if raw == sentinel else raw / divisor


def _unscaled(value: float | None, divisor: int, sentinel: int) -> int:
    return sentinel if value is None else round(value * divisor)


def _optional(raw: int, sentinel: int) -> int | None:
    return None if raw == sentinel else raw


def decode_temperature(raw: int) -> float | None:
    """Temperature field (§2.9): hundredths of a degree above -200 °C."""
    return None if raw == U16_NONE else (raw - 20000) / 100


def encode_temperature(value: float | None) -> int:
    """Inverse of :func:`decode_temperature`."""
    return U16_NONE if value is None else round(value * 100) + 20000


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise PayloadError(f"{what} payload has {len(payload)} bytes, needs {size}")


# --- EM timestamps (§2.8) --------------------------------------------------

_EM_OFFSET = timedelta(hours=8)
_EPOCH = datetime(1970, 1, 1)


def datetime_to_em(moment: datetime, time_zone: tzinfo) -> int:
    """Encode a moment as the charger's Shanghai-wall-clock epoch.

    The charger shows the user's local wall-clock time, so the local time in
    ``time_zone`` is written as if it were UTC+8.
    """
    wall = moment.astimezone(time_zone).replace(tzinfo=None)
    return int((wall - _EM_OFFSET - _EPOCH).total_seconds())


def em_to_datetime(em: int, time_zone: tzinfo) -> datetime | None:
    """Decode an EM timestamp to an aware datetime; ``None`` for "no date"."""
    if em in (0, U32_NONE):
        return None
    wall = _EPOCH + timedelta(seconds=em) + _EM_OFFSET
    return wall.replace(tzinfo=time_zone).astimezone(UTC)


# --- small messages ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ByteMessage:
    """A message whose payload is empty or one byte."""

    value: int | None = None

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; bytes after the first are ignored."""
        return cls(payload[0] if payload else None)

    def build(self) -> bytes:
        """Encode."""
        return b"" if self.value is None else bytes((self.value,))


class RequestLogin(ByteMessage):
    """0x8002: log in with the password in the header; zero serial = probe."""


class LoginConfirm(ByteMessage):
    """0x8001: completes the login handshake."""


class Heading(ByteMessage):
    """0x0003: the charger's keepalive to its client."""


class HeadingResponse(ByteMessage):
    """0x8003: the client's keepalive answer."""


class PasswordError(ByteMessage):
    """0x0155: wrong password (also the answer to a discovery probe)."""


class StatusAck(ByteMessage):
    """0x8004: acknowledges a 0x0004 status push (payload ``01``)."""


class ChargingStatusAck(ByteMessage):
    """0x8005: acknowledges a 0x0005 charging status push (payload ``00``)."""


class StatusRequest(ByteMessage):
    """0x800D: asks for a 0x000D status reply (empty payload)."""


class ChargingStatusRequest(ByteMessage):
    """0x8006: asks for a 0x0006 charging status reply (payload ``00``)."""


class GetVersion(ByteMessage):
    """0x8106: asks for a 0x0106 version reply (empty payload)."""


# --- device info (0x0001 / 0x0002) -------------------------------------------

_INFO = struct.Struct(">B16s16s16sIB16s")


_INFO_LAYOUTS = (70, 118, 119, 151)
"""Device-info payload lengths with a known layout (§5.1)."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Login announcement 0x0001 and LoginResponse 0x0002 (§5.1)."""

    device_type: int
    brand: str
    model: str
    hardware_version: str
    max_power: int
    """Watts."""
    max_current: int
    """Amperes per phase: the hardware limit."""
    hotline: str = ""
    byte70: int | None = None
    """Unexplained byte of the 119/151-byte variants."""
    layout: int = 70
    """Which layout the payload used: 70, 118, 119 or 151 bytes."""
    extra: bytes = b""
    """Bytes after that layout (a 145-byte capture has 26); kept as they are."""

    @property
    def three_phase(self) -> bool:
        """Whether the charger type code is a three-phase one."""
        return self.device_type in THREE_PHASE_DEVICE_TYPES

    @property
    def phases(self) -> int:
        """Number of phases the type code stands for."""
        return 3 if self.three_phase else 1

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode the 70-, 118-, 119- or 151-byte layouts (and anything longer)."""
        _need(payload, _INFO.size, "device info")
        device_type, brand, model, hardware, power, current, hotline = (
            _INFO.unpack_from(payload)
        )
        layout = max(size for size in _INFO_LAYOUTS if size <= len(payload))
        byte70: int | None = None
        if layout == 118:
            hotline += payload[70:118]
        elif layout >= 119:
            byte70 = payload[70]
            hotline += payload[71:119]
            if layout == 151:
                brand += payload[119:135]
                model += payload[135:151]
        return cls(
            device_type=device_type,
            brand=decode_text(brand),
            model=decode_text(model),
            hardware_version=decode_text(hardware),
            max_power=power,
            max_current=current,
            hotline=decode_text(hotline),
            byte70=byte70,
            layout=layout,
            extra=payload[layout:],
        )

    def build(self) -> bytes:
        """Encode in :attr:`layout`, or the smallest layout the text fits in."""
        layout = self.layout
        if max(len(self.brand), len(self.model)) > 16:
            layout = 151
        elif self.byte70 is not None and layout < 119:
            layout = 119
        elif len(self.hotline) > 16 and layout == 70:
            layout = 118
        brand = encode_text(self.brand, 32)
        model = encode_text(self.model, 32)
        hotline = encode_text(self.hotline, 64)
        head = _INFO.pack(
            self.device_type,
            brand[:16],
            model[:16],
            encode_text(self.hardware_version, 16),
            self.max_power,
            self.max_current,
            hotline[:16],
        )
        if layout == 118:
            head += hotline[16:]
        elif layout >= 119:
            head += bytes((self.byte70 or 0,)) + hotline[16:]
            if layout == 151:
                head += brand[16:] + model[16:]
        return head + self.extra


# --- version (0x0106) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """GetVersionResponse 0x0106 (§5.2)."""

    hardware_version: str
    software_version: str
    feature_flags: int | None = None
    support_new: int | None = None

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; accepts 32 bytes and more (BS20 sends 36)."""
        _need(payload, 32, "version")
        flags = int.from_bytes(payload[32:36], "big") if len(payload) >= 36 else None
        return cls(
            hardware_version=decode_text(payload[0:16]),
            software_version=decode_text(payload[16:32]),
            feature_flags=flags,
            support_new=payload[36] if len(payload) >= 37 else None,
        )

    def build(self) -> bytes:
        """Encode."""
        out = encode_text(self.hardware_version, 16) + encode_text(
            self.software_version, 16
        )
        if self.feature_flags is not None:
            out += self.feature_flags.to_bytes(4, "big")
            if self.support_new is not None:
                out += bytes((self.support_new,))
        return out


# --- status (0x0004 / 0x000D) ---------------------------------------------------

_STATUS = struct.Struct(">BHHIIHHBBBBI")
_PHASES = struct.Struct(">HHHH")


@dataclass(frozen=True, slots=True)
class PhaseReading:
    """Voltage (V) and current (A) of one phase; ``None`` = no reading."""

    voltage: float | None
    current: float | None


@dataclass(frozen=True, slots=True)
class Status:
    """SingleACStatus 0x0004 and its polled twin 0x000D (§5.3)."""

    line_id: int
    l1: PhaseReading
    power: int | None
    """Watts as reported (L1 only on some three-phase units)."""
    total_energy: float | None
    """kWh counter; may restart from 0 after a mains loss."""
    inner_temperature: float | None
    outer_temperature: float | None
    emergency_button: int
    gun_state: GunState
    output_state: OutputState
    reported_state: CurrentState
    errors: int
    l2: PhaseReading | None = None
    l3: PhaseReading | None = None
    extra: bytes = b""
    """Bytes after the fields this layout knows (offset 25, or 33 with L2/L3)."""

    @property
    def current_state(self) -> CurrentState:
        """The state, taking newer firmware's alternative state byte into account."""
        if (
            self.l2 is not None
            and len(self.extra) > 1
            and self.extra[1] in ALTERNATIVE_STATES
        ):
            return CurrentState(self.extra[1])
        return self.reported_state

    @property
    def emergency_stop(self) -> bool:
        """Whether the emergency button is pressed (1 is the normal value)."""
        return self.emergency_button != 1

    @property
    def phases(self) -> tuple[PhaseReading, ...]:
        """Readings of the phases present: L1, and L2/L3 with a voltage (§5.3)."""
        return (
            self.l1,
            *(p for p in (self.l2, self.l3) if p is not None and p.voltage),
        )

    @property
    def phase_count(self) -> int:
        """How many phases the status shows (a zero voltage is an absent phase)."""
        return 1 + sum(1 for p in (self.l2, self.l3) if p is not None and p.voltage)

    @property
    def computed_power(self) -> float:
        """Sum of V·I over the phases with readings, in watts."""
        return sum((p.voltage or 0.0) * (p.current or 0.0) for p in self.phases)

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode 25-byte, 33-byte and longer status payloads."""
        _need(payload, _STATUS.size, "status")
        (
            line_id,
            l1_voltage,
            l1_current,
            power,
            energy,
            inner,
            outer,
            emergency,
            gun,
            output,
            state,
            errors,
        ) = _STATUS.unpack_from(payload)
        l2 = l3 = None
        if len(payload) >= _STATUS.size + _PHASES.size:
            v2, c2, v3, c3 = _PHASES.unpack_from(payload, _STATUS.size)
            l2 = _phase(v2, c2)
            l3 = _phase(v3, c3)
        known = _STATUS.size + (_PHASES.size if l2 is not None else 0)
        return cls(
            line_id=line_id,
            l1=_phase(l1_voltage, l1_current),
            power=_optional(power, U32_NONE),
            total_energy=_scaled(energy, 100, U32_NONE),
            inner_temperature=decode_temperature(inner),
            outer_temperature=decode_temperature(outer),
            emergency_button=emergency,
            gun_state=GunState(gun),
            output_state=OutputState(output),
            reported_state=CurrentState(state),
            errors=errors,
            l2=l2,
            l3=l3,
            extra=payload[known:],
        )

    def build(self) -> bytes:
        """Encode; L2/L3 (and extra bytes) only when present."""
        out = _STATUS.pack(
            self.line_id,
            _unscaled(self.l1.voltage, 10, U16_NONE),
            _unscaled(self.l1.current, 100, U16_NONE),
            U32_NONE if self.power is None else self.power,
            _unscaled(self.total_energy, 100, U32_NONE),
            encode_temperature(self.inner_temperature),
            encode_temperature(self.outer_temperature),
            self.emergency_button,
            self.gun_state,
            self.output_state,
            self.reported_state,
            self.errors,
        )
        if self.l2 is None and self.l3 is None:
            return out + self.extra
        empty = PhaseReading(None, None)
        l2, l3 = self.l2 or empty, self.l3 or empty
        return (
            out
            + _PHASES.pack(
                _unscaled(l2.voltage, 10, U16_NONE),
                _unscaled(l2.current, 100, U16_NONE),
                _unscaled(l3.voltage, 10, U16_NONE),
                _unscaled(l3.current, 100, U16_NONE),
            )
            + self.extra
        )


def _phase(voltage: int, current: int) -> PhaseReading:
    return PhaseReading(_scaled(voltage, 10, U16_NONE), _scaled(current, 100, U16_NONE))


# --- charging status (0x0005 / 0x0006) --------------------------------------------

_SESSION = struct.Struct(">BB16sBBHHHI16sBIIIIIIBH")


@dataclass(frozen=True, slots=True)
class ChargingStatus:
    """Charging status 0x0005 (push) and 0x0006 (reply to 0x8006) (§5.4).

    Describes the running session, else a planned one, else the last one.
    """

    line_id: int
    reported_state: CurrentState
    charge_id: str
    start_type: StartType
    charge_type: int
    max_duration: int | None
    """Minutes; ``None`` = unlimited."""
    max_energy: float | None
    """kWh; ``None`` = unlimited."""
    param3: int
    reservation_time: int
    """EM timestamp."""
    user_id: str
    max_current: int
    start_time: int
    """EM timestamp."""
    duration: int
    """Seconds."""
    start_energy: float
    current_energy: float
    session_energy: float
    """kWh charged in this session."""
    charge_price: float
    fee_type: int
    charge_fee: float
    extra: bytes = b""

    @property
    def current_state(self) -> CurrentState:
        """The state, taking newer firmware's alternative state byte into account."""
        if self.extra and self.extra[0] in ALTERNATIVE_STATES:
            return CurrentState(self.extra[0])
        return self.reported_state

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; needs at least 74 bytes."""
        _need(payload, _SESSION.size, "charging status")
        (
            line_id,
            state,
            charge_id,
            start_type,
            charge_type,
            max_duration,
            max_energy,
            param3,
            reservation,
            user_id,
            max_current,
            start,
            duration,
            start_energy,
            current_energy,
            session_energy,
            price,
            fee_type,
            fee,
        ) = _SESSION.unpack_from(payload)
        return cls(
            line_id=line_id,
            reported_state=CurrentState(state),
            charge_id=decode_text(charge_id),
            start_type=StartType(start_type),
            charge_type=charge_type,
            max_duration=_optional(max_duration, U16_NONE),
            max_energy=_scaled(max_energy, 100, U16_NONE),
            param3=param3,
            reservation_time=reservation,
            user_id=decode_text(user_id),
            max_current=max_current,
            start_time=start,
            duration=duration,
            start_energy=start_energy / 100,
            current_energy=current_energy / 100,
            session_energy=session_energy / 100,
            charge_price=price / 100,
            fee_type=fee_type,
            charge_fee=fee / 100,
            extra=payload[_SESSION.size :],
        )

    def build(self) -> bytes:
        """Encode."""
        return (
            _SESSION.pack(
                self.line_id,
                self.reported_state,
                encode_text(self.charge_id, 16),
                self.start_type,
                self.charge_type,
                U16_NONE if self.max_duration is None else self.max_duration,
                _unscaled(self.max_energy, 100, U16_NONE),
                self.param3,
                self.reservation_time,
                encode_text(self.user_id, 16),
                self.max_current,
                self.start_time,
                self.duration,
                round(self.start_energy * 100),
                round(self.current_energy * 100),
                round(self.session_energy * 100),
                round(self.charge_price * 100),
                self.fee_type,
                round(self.charge_fee * 100),
            )
            + self.extra
        )


# --- start / stop (0x8007/0x0007, 0x8008/0x0008) --------------------------------

_START = struct.Struct(">B16s16sBIBBHHHB")


@dataclass(frozen=True, slots=True)
class ChargeStart:
    """ChargeStart 0x8007: start now or plan a session (§5.5)."""

    line_id: int
    user_id: str
    charge_id: str
    is_reservation: bool
    start_time: int
    """EM timestamp."""
    max_current: int
    start_type: int = StartType.APP
    charge_type: int = 1
    max_duration: int | None = None
    """Minutes; ``None`` = unlimited."""
    max_energy: float | None = None
    """kWh; ``None`` = unlimited."""
    param3: int = U16_NONE
    """Must stay 0xFFFF: 0 ends the session after a few seconds."""

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode the 47-byte request."""
        _need(payload, _START.size, "charge start")
        (
            line_id,
            user_id,
            charge_id,
            reservation,
            start,
            start_type,
            charge_type,
            duration,
            energy,
            param3,
            current,
        ) = _START.unpack_from(payload)
        return cls(
            line_id=line_id,
            user_id=decode_text(user_id),
            charge_id=decode_text(charge_id),
            is_reservation=bool(reservation),
            start_time=start,
            max_current=current,
            start_type=start_type,
            charge_type=charge_type,
            max_duration=_optional(duration, U16_NONE),
            max_energy=_scaled(energy, 100, U16_NONE),
            param3=param3,
        )

    def build(self) -> bytes:
        """Encode."""
        return _START.pack(
            self.line_id,
            encode_text(self.user_id, 16),
            encode_text(self.charge_id, 16),
            int(self.is_reservation),
            self.start_time,
            self.start_type,
            self.charge_type,
            U16_NONE if self.max_duration is None else self.max_duration,
            _unscaled(self.max_energy, 100, U16_NONE),
            self.param3,
            self.max_current,
        )


@dataclass(frozen=True, slots=True)
class ChargeStartResponse:
    """ChargeStartResponse 0x0007."""

    line_id: int
    reservation_result: ReservationResult
    start_result: int
    error: ChargeStartError
    max_current: int

    @property
    def accepted(self) -> bool:
        """S1's success rule: no error and an accepted reservation result."""
        return self.error == ChargeStartError.OK and self.reservation_result.accepted

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode the 5-byte reply."""
        _need(payload, 5, "charge start response")
        return cls(
            line_id=payload[0],
            reservation_result=ReservationResult(payload[1]),
            start_result=payload[2],
            error=ChargeStartError(payload[3]),
            max_current=payload[4],
        )

    def build(self) -> bytes:
        """Encode."""
        return bytes(
            (
                self.line_id,
                self.reservation_result,
                self.start_result,
                self.error,
                self.max_current,
            )
        )


_STOP_PADDING = 30


@dataclass(frozen=True, slots=True)
class ChargeStop:
    """ChargeStop 0x8008: line id + who stops + 30 zero bytes (47 bytes)."""

    line_id: int
    user_id: str

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode the 1-, 17- or 47-byte variants."""
        _need(payload, 1, "charge stop")
        return cls(line_id=payload[0], user_id=decode_text(payload[1:17]))

    def build(self) -> bytes:
        """Encode the 47-byte form the app sends."""
        return (
            bytes((self.line_id,))
            + encode_text(self.user_id, 16)
            + bytes(_STOP_PADDING)
        )


@dataclass(frozen=True, slots=True)
class ChargeStopResponse:
    """ChargeStopResponse 0x0008: fail reason 0 = stopped."""

    line_id: int
    stop_result: int
    fail_reason: int

    @property
    def accepted(self) -> bool:
        """Whether the charger reports the stop as done."""
        return self.fail_reason == 0

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode the 3-byte reply."""
        _need(payload, 3, "charge stop response")
        return cls(payload[0], payload[1], payload[2])

    def build(self) -> bytes:
        """Encode."""
        return bytes((self.line_id, self.stop_result, self.fail_reason))


# --- charge records (0x0009 / 0x000A) and their acks ------------------------------

_RECORD = struct.Struct(">B16s16s16sBBBHHHBBIIIIIII")
_RECORD_FEES = struct.Struct(">IBH")


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """A finished session: 0x0009 (just now) or 0x000A (stored, replayed) (§5.8)."""

    line_id: int
    started_by: str
    stopped_by: str
    charge_id: str
    has_reservation: int
    start_type: StartType
    charge_type: int
    max_duration: int | None
    max_energy: float | None
    param3: int
    stop_reason: StopReason
    has_stop_charge: int
    reservation_time: int
    start_time: int
    stop_time: int
    charged_time: int
    """Seconds."""
    start_energy: float
    stop_energy: float
    session_energy: float
    charge_price: float | None = None
    fee_type: int | None = None
    charge_fee: float | None = None
    tail: bytes = field(default=b"", repr=False)
    """Power log and optional series (layout uncertain), kept raw."""

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; needs at least 88 bytes, fee fields from 95."""
        _need(payload, _RECORD.size, "charge record")
        (
            line_id,
            started_by,
            stopped_by,
            charge_id,
            has_reservation,
            start_type,
            charge_type,
            max_duration,
            max_energy,
            param3,
            stop_reason,
            has_stop,
            reservation,
            start,
            stop,
            charged_time,
            start_energy,
            stop_energy,
            session_energy,
        ) = _RECORD.unpack_from(payload)
        price = fee_type = fee = None
        tail = b""
        if len(payload) >= _RECORD.size + _RECORD_FEES.size:
            price, fee_type, fee = _RECORD_FEES.unpack_from(payload, _RECORD.size)
            tail = payload[_RECORD.size + _RECORD_FEES.size :]
        return cls(
            line_id=line_id,
            started_by=decode_text(started_by),
            stopped_by=decode_text(stopped_by),
            charge_id=decode_text(charge_id),
            has_reservation=has_reservation,
            start_type=StartType(start_type),
            charge_type=charge_type,
            max_duration=_optional(max_duration, U16_NONE),
            max_energy=_scaled(max_energy, 100, U16_NONE),
            param3=param3,
            stop_reason=StopReason(stop_reason),
            has_stop_charge=has_stop,
            reservation_time=reservation,
            start_time=start,
            stop_time=stop,
            charged_time=charged_time,
            start_energy=start_energy / 100,
            stop_energy=stop_energy / 100,
            session_energy=session_energy / 100,
            charge_price=None if price is None else price / 100,
            fee_type=fee_type,
            charge_fee=None if fee is None else fee / 100,
            tail=tail,
        )

    def build(self) -> bytes:
        """Encode."""
        out = _RECORD.pack(
            self.line_id,
            encode_text(self.started_by, 16),
            encode_text(self.stopped_by, 16),
            encode_text(self.charge_id, 16),
            self.has_reservation,
            self.start_type,
            self.charge_type,
            U16_NONE if self.max_duration is None else self.max_duration,
            _unscaled(self.max_energy, 100, U16_NONE),
            self.param3,
            self.stop_reason,
            self.has_stop_charge,
            self.reservation_time,
            self.start_time,
            self.stop_time,
            self.charged_time,
            round(self.start_energy * 100),
            round(self.stop_energy * 100),
            round(self.session_energy * 100),
        )
        price, fee_type, fee = self.charge_price, self.fee_type, self.charge_fee
        if price is None or fee_type is None or fee is None:
            return out
        return (
            out
            + _RECORD_FEES.pack(
                round(price * 100),
                fee_type,
                round(fee * 100),
            )
            + self.tail
        )


@dataclass(frozen=True, slots=True)
class ChargeRecordAck:
    """0x8009 / 0x800A: acknowledges a record so the charger stops replaying it."""

    charge_id: str
    line_id: int = 1
    status: int = 1

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode the 18-byte ack."""
        _need(payload, 18, "charge record ack")
        return cls(
            charge_id=decode_text(payload[1:17]), line_id=payload[0], status=payload[17]
        )

    def build(self) -> bytes:
        """Encode."""
        return (
            bytes((self.line_id,))
            + encode_text(self.charge_id, 16)
            + bytes((self.status,))
        )


# --- settings -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ByteSetting:
    """``[action, value]`` settings; request and reply share the layout (§5.10)."""

    action: Action
    value: int
    extra: bytes = b""

    REQUEST: ClassVar[Command]

    @classmethod
    def get(cls) -> Self:
        """The GET request (``02 00``)."""
        return cls(Action.GET, 0)

    @classmethod
    def set(cls, value: int) -> Self:
        """The SET request."""
        return cls(Action.SET, value)

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; a bare action byte reads as value 0."""
        _need(payload, 1, "setting")
        value = payload[1] if len(payload) > 1 else 0
        return cls(Action(payload[0]), value, payload[2:])

    def build(self) -> bytes:
        """Encode."""
        return bytes((self.action, self.value)) + self.extra


class OutputCurrent(ByteSetting):
    """0x8107 / 0x0107: the configured maximum current, amperes."""

    REQUEST = Command.OUTPUT_CURRENT


class LanguageSetting(ByteSetting):
    """0x810F / 0x010F: display language."""

    REQUEST = Command.LANGUAGE

    @property
    def language(self) -> Language:
        """The value as a :class:`Language`."""
        return Language(self.value)


class TemperatureUnitSetting(ByteSetting):
    """0x8112 / 0x0112: display temperature unit."""

    REQUEST = Command.TEMPERATURE_UNIT

    @property
    def unit(self) -> TemperatureUnit:
        """The value as a :class:`TemperatureUnit`."""
        return TemperatureUnit(self.value)


class StartModeSetting(ByteSetting):
    """0x810D / 0x010D: offline charge / start mode."""

    REQUEST = Command.START_MODE

    @property
    def mode(self) -> StartMode:
        """The value as a :class:`StartMode`."""
        return StartMode(self.value)


_NICKNAME_FIELD = 32


@dataclass(frozen=True, slots=True)
class Nickname:
    """0x8108 / 0x0108: the charger name (sent with an ``ACP#`` prefix)."""

    action: Action
    name: str

    REQUEST: ClassVar[Command] = Command.NICKNAME

    @classmethod
    def get(cls) -> Self:
        """The GET request (``02`` + 32 zero bytes)."""
        return cls(Action.GET, "")

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; the name field may be 16 or 32 bytes."""
        _need(payload, 1, "nickname")
        name = decode_text(payload[1 : 1 + _NICKNAME_FIELD])
        return cls(Action(payload[0]), name.removeprefix(NICKNAME_PREFIX))

    def build(self) -> bytes:
        """Encode; a non-empty name gets the ``ACP#`` prefix."""
        text = NICKNAME_PREFIX + self.name if self.name else ""
        return bytes((self.action,)) + encode_text(text, _NICKNAME_FIELD)


@dataclass(frozen=True, slots=True)
class SystemTime:
    """0x8101 / 0x0101: the charger clock as an EM timestamp."""

    action: Action
    time: int | None
    """EM timestamp; ``None`` when the payload has no time."""

    REQUEST: ClassVar[Command] = Command.SYSTEM_TIME

    @classmethod
    def get(cls) -> Self:
        """The GET request."""
        return cls(Action.GET, 0)

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode."""
        _need(payload, 1, "system time")
        time = int.from_bytes(payload[1:5], "big") if len(payload) >= 5 else None
        return cls(Action(payload[0]), time)

    def build(self) -> bytes:
        """Encode."""
        out = bytes((self.action,))
        return out if self.time is None else out + self.time.to_bytes(4, "big")


_BRIGHTNESS_GET = 1
_BRIGHTNESS_SET = 2


@dataclass(frozen=True, slots=True)
class LcdBrightness:
    """0x8162 / 0x0162 "maneuver": LCD brightness 0-100 in byte 2 (§5.10.8)."""

    mode: int
    level: int
    prefix: int = 0
    trailer: bytes = bytes(5)

    REQUEST: ClassVar[Command] = Command.LCD_BRIGHTNESS

    @classmethod
    def get(cls) -> Self:
        """The GET request ``00 01 00 01 00 00 00 00``."""
        return cls(_BRIGHTNESS_GET, 0, trailer=b"\x01" + bytes(4))

    @classmethod
    def set(cls, level: int) -> Self:
        """The SET request ``00 02 <level> 00 00 00 00 00``."""
        return cls(_BRIGHTNESS_SET, level)

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode."""
        _need(payload, 3, "LCD brightness")
        return cls(
            mode=payload[1], level=payload[2], prefix=payload[0], trailer=payload[3:]
        )

    def build(self) -> bytes:
        """Encode."""
        return bytes((self.prefix, self.mode, self.level)) + self.trailer


_PLAN_DAY = struct.Struct(">BBBHI")
PLAN_DAYS = 7
PLAN_ON = 3
PLAN_OFF = 1


@dataclass(frozen=True, slots=True)
class PlanDay:
    """One weekday of the weekly plan: a window and an energy limit (§5.10.7)."""

    state: int = PLAN_OFF
    """3 on, 1 off (the app treats anything but 1 as on)."""
    hour: int = 0
    minute: int = 0
    duration: int = 0
    """Minutes, at most 1440."""
    limit: int = U32_NONE
    """Energy limit as sent; 0xFFFFFFFF = unlimited."""

    @property
    def enabled(self) -> bool:
        """Whether this day's window is on."""
        return self.state != PLAN_OFF


@dataclass(frozen=True, slots=True)
class WeeklyPlan:
    """0x810E / 0x010E "alarm charge strategy": Monday first (§5.10.7)."""

    action: Action
    days: tuple[PlanDay, ...] = tuple(PlanDay() for _ in range(PLAN_DAYS))
    extra: bytes = b""

    REQUEST: ClassVar[Command] = Command.WEEKLY_PLAN

    @classmethod
    def get(cls) -> Self:
        """The GET request: ``02`` and 63 zero bytes, as the app pads it."""
        return cls(Action.GET, tuple(PlanDay(0, 0, 0, 0, 0) for _ in range(PLAN_DAYS)))

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Decode; a bare action byte (an EC311S accepts it) has no days."""
        _need(payload, 1, "weekly plan")
        days: list[PlanDay] = []
        offset = 1
        while len(days) < PLAN_DAYS and offset + _PLAN_DAY.size <= len(payload):
            days.append(PlanDay(*_PLAN_DAY.unpack_from(payload, offset)))
            offset += _PLAN_DAY.size
        return cls(Action(payload[0]), tuple(days), payload[offset:])

    def build(self) -> bytes:
        """Encode."""
        return (
            bytes((self.action,))
            + b"".join(
                _PLAN_DAY.pack(d.state, d.hour, d.minute, d.duration, d.limit)
                for d in self.days
            )
            + self.extra
        )


# --- dispatch -------------------------------------------------------------------

type Message = (
    ByteMessage
    | DeviceInfo
    | Version
    | Status
    | ChargingStatus
    | ChargeStart
    | ChargeStartResponse
    | ChargeStop
    | ChargeStopResponse
    | ChargeRecord
    | ChargeRecordAck
    | ByteSetting
    | Nickname
    | SystemTime
    | LcdBrightness
    | WeeklyPlan
)

type MessageType = (
    type[ByteMessage]
    | type[DeviceInfo]
    | type[Version]
    | type[Status]
    | type[ChargingStatus]
    | type[ChargeStart]
    | type[ChargeStartResponse]
    | type[ChargeStop]
    | type[ChargeStopResponse]
    | type[ChargeRecord]
    | type[ChargeRecordAck]
    | type[ByteSetting]
    | type[Nickname]
    | type[SystemTime]
    | type[LcdBrightness]
    | type[WeeklyPlan]
)

MESSAGE_TYPES: dict[int, MessageType] = {
    Command.LOGIN_ANNOUNCEMENT: DeviceInfo,
    Command.LOGIN_RESPONSE: DeviceInfo,
    Command.HEADING: Heading,
    Command.STATUS: Status,
    Command.STATUS_RESPONSE: Status,
    Command.CHARGING_STATUS: ChargingStatus,
    Command.CHARGING_STATUS_RESPONSE: ChargingStatus,
    Command.CHARGE_START_RESPONSE: ChargeStartResponse,
    Command.CHARGE_STOP_RESPONSE: ChargeStopResponse,
    Command.CURRENT_CHARGE_RECORD: ChargeRecord,
    Command.LOCAL_CHARGE_RECORD: ChargeRecord,
    Command.SYSTEM_TIME_RESPONSE: SystemTime,
    Command.VERSION_RESPONSE: Version,
    Command.OUTPUT_CURRENT_RESPONSE: OutputCurrent,
    Command.NICKNAME_RESPONSE: Nickname,
    Command.START_MODE_RESPONSE: StartModeSetting,
    Command.LANGUAGE_RESPONSE: LanguageSetting,
    Command.TEMPERATURE_UNIT_RESPONSE: TemperatureUnitSetting,
    Command.PASSWORD_ERROR: PasswordError,
    Command.LCD_BRIGHTNESS_RESPONSE: LcdBrightness,
    Command.WEEKLY_PLAN_RESPONSE: WeeklyPlan,
    Command.LOGIN_CONFIRM: LoginConfirm,
    Command.REQUEST_LOGIN: RequestLogin,
    Command.HEADING_RESPONSE: HeadingResponse,
    Command.STATUS_ACK: StatusAck,
    Command.CHARGING_STATUS_ACK: ChargingStatusAck,
    Command.CHARGING_STATUS_REQUEST: ChargingStatusRequest,
    Command.CHARGE_START: ChargeStart,
    Command.CHARGE_STOP: ChargeStop,
    Command.CURRENT_CHARGE_RECORD_ACK: ChargeRecordAck,
    Command.LOCAL_CHARGE_RECORD_ACK: ChargeRecordAck,
    Command.STATUS_REQUEST: StatusRequest,
    Command.SYSTEM_TIME: SystemTime,
    Command.GET_VERSION: GetVersion,
    Command.OUTPUT_CURRENT: OutputCurrent,
    Command.NICKNAME: Nickname,
    Command.START_MODE: StartModeSetting,
    Command.LANGUAGE: LanguageSetting,
    Command.TEMPERATURE_UNIT: TemperatureUnitSetting,
    Command.LCD_BRIGHTNESS: LcdBrightness,
    Command.WEEKLY_PLAN: WeeklyPlan,
}
"""Payload model of every command this package understands, both directions."""


def parse_message(datagram: Datagram) -> Message | None:
    """Decode a datagram's payload; ``None`` for commands without a model.

    Raises :class:`PayloadError` for a known command with a bad payload.
    """
    message_type = MESSAGE_TYPES.get(datagram.command)
    if message_type is None:
        return None
    return message_type.parse(datagram.payload)


def to_datagram(
    message: Message, command: int, serial: str, password: bytes
) -> Datagram:
    """Frame a message for sending."""
    return Datagram(
        serial=serial, command=command, payload=message.build(), password=password
    )
