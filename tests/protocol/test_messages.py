"""Tests of the payload models (protocol.md §2.7-§2.9, §5, §9)."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.evse_master.protocol import frame, messages
from custom_components.evse_master.protocol.enums import (
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
from custom_components.evse_master.protocol.frame import Datagram
from custom_components.evse_master.protocol.messages import (
    MESSAGE_TYPES,
    PLAN_ON,
    U16_NONE,
    U32_NONE,
    ByteMessage,
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
    Heading,
    HeadingResponse,
    LanguageSetting,
    LcdBrightness,
    LoginConfirm,
    Message,
    MessageType,
    Nickname,
    OutputCurrent,
    PasswordError,
    PayloadError,
    PhaseReading,
    PlanDay,
    RequestLogin,
    StartModeSetting,
    Status,
    StatusAck,
    StatusRequest,
    SystemTime,
    TemperatureUnitSetting,
    Version,
    WeeklyPlan,
)

SERIAL = "9181102751219513"
FLORENT = "4957917243506489"
PASSWORD = frame.password_field("123456")
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the project-wide fixture: pure protocol tests need no hass."""


def _roundtrip_datagram(raw: bytes) -> tuple[Datagram, Message | None]:
    datagram = frame.decode_datagram(raw)
    return datagram, messages.parse_message(datagram)


# --- §9.1 / §9.2 captured vectors ---------------------------------------------

CAPTURED: list[tuple[str, str, int, str, Message]] = [
    (
        "V1-status",
        "06010032009181102751219513ffffffffffff000401092e00000000000000024081"
        "589258920102020d000000000b7b0f02",
        Command.STATUS,
        SERIAL,
        Status(
            line_id=1,
            l1=PhaseReading(voltage=235.0, current=0.0),
            power=0,
            total_energy=1475.85,
            inner_temperature=26.74,
            outer_temperature=26.74,
            emergency_button=1,
            gun_state=GunState.CONNECTED_UNLOCKED,
            output_state=OutputState.IDLE,
            reported_state=CurrentState.READY_TO_CHARGE,
            errors=0,
        ),
    ),
    (
        "V2-heading",
        "06010019009181102751219513ffffffffffff000308800f02",
        Command.HEADING,
        SERIAL,
        Heading(None),
    ),
    (
        "V3-temperature-unit",
        "0601001b009181102751219513ffffffffffff0112020108950f02",
        Command.TEMPERATURE_UNIT_RESPONSE,
        SERIAL,
        TemperatureUnitSetting(Action.GET, TemperatureUnit.CELSIUS),
    ),
    (
        "V4-version",
        "0601003d009181102751219513ffffffffffff0106432e333235322e31313241303038"
        "0000432e333235322e31313241303038000042296d480f780f02",
        Command.VERSION_RESPONSE,
        SERIAL,
        Version("C.3252.112A008", "C.3252.112A008", feature_flags=0x42296D48),
    ),
    (
        "V5-login",
        "0601005f009181102751219513ffffffffffff000101424553454e0000000000000000"
        "00000042533230000000000000000000000000432e333235322e313132413030380000"
        "00001b80205757572e455653452e434f4d00000000122f0f02",
        Command.LOGIN_ANNOUNCEMENT,
        SERIAL,
        DeviceInfo(
            device_type=1,
            brand="BESEN",
            model="BS20",
            hardware_version="C.3252.112A008",
            max_power=7040,
            max_current=32,
            hotline="WWW.EVSE.COM",
        ),
    ),
    (
        "V6-charging-status",
        "06010063009181102751219513ffffffffffff0005010d313634393435333532383631"
        "383234390101ffffffffffff62505578383630303739373938353738393234330d6250"
        "5578000000490002407b0002408000000005000000050100641ac10f02",
        Command.CHARGING_STATUS,
        SERIAL,
        ChargingStatus(
            line_id=1,
            reported_state=CurrentState.READY_TO_CHARGE,
            charge_id="1649453528618249",
            start_type=StartType.APP,
            charge_type=1,
            max_duration=None,
            max_energy=None,
            param3=0xFFFF,
            reservation_time=0x62505578,
            user_id="8600797985789243",
            max_current=13,
            start_time=0x62505578,
            duration=73,
            start_energy=1475.79,
            current_energy=1475.84,
            session_energy=0.05,
            charge_price=0.05,
            fee_type=1,
            charge_fee=1.00,
        ),
    ),
    (
        "V7-system-time",
        "0601001e009181102751219513ffffffffffff01010162505cdc0a6f0f02",
        Command.SYSTEM_TIME_RESPONSE,
        SERIAL,
        SystemTime(Action.SET, 0x62505CDC),
    ),
    (
        "V8-charge-start-response",
        "0601001e009181102751219513ffffffffffff00070100010010089b0f02",
        Command.CHARGE_START_RESPONSE,
        SERIAL,
        ChargeStartResponse(
            line_id=1,
            reservation_result=ReservationResult.IMMEDIATE,
            start_result=1,
            error=ChargeStartError.OK,
            max_current=16,
        ),
    ),
    (
        "V9-system-time",
        "0601001e009181102751219513ffffffffffff01010162505cd40a670f02",
        Command.SYSTEM_TIME_RESPONSE,
        SERIAL,
        SystemTime(Action.SET, 0x62505CD4),
    ),
    (
        "V10-charge-stop",
        "060100480091811027512195133132333435368008013836303037393739383537383932"
        "343300000000000000000000000000000000000000000000000000000000000007cc0f02",
        Command.CHARGE_STOP,
        SERIAL,
        ChargeStop(line_id=1, user_id="8600797985789243"),
    ),
    (
        "V11-charge-stop-florent",
        "0601004800495791724350648931323334353680080138363037373134303836373836"
        "323433000000000000000000000000000000000000000000000000000000000000087d0f02",
        Command.CHARGE_STOP,
        FLORENT,
        ChargeStop(line_id=1, user_id="8607714086786243"),
    ),
    (
        "V12-charge-start",
        "0601004800918110275121951331323334353680070138363030373937393835373839"
        "323433313634393435353432313238383039360062505cdd0101ffffffffffff10130c0f02",
        Command.CHARGE_START,
        SERIAL,
        ChargeStart(
            line_id=1,
            user_id="8600797985789243",
            charge_id="1649455421288096",
            is_reservation=False,
            start_time=0x62505CDD,
            max_current=16,
            start_type=StartType.APP,
            charge_type=1,
            max_duration=None,
            max_energy=None,
            param3=0xFFFF,
        ),
    ),
    (
        "V13-charge-start-florent",
        "0601004800495791724350648931323334353680070138363037373134303836373836"
        "32343331363439343532313538323430303533006250501e0101ffffffffffff1012e30f02",
        Command.CHARGE_START,
        FLORENT,
        ChargeStart(
            line_id=1,
            user_id="8607714086786243",
            charge_id="1649452158240053",
            is_reservation=False,
            start_time=0x6250501E,
            max_current=16,
        ),
    ),
    (
        "V15-password-error",
        "0601001a008368555670377598ffffffffffff01550009bb0f02",
        Command.PASSWORD_ERROR,
        "8368555670377598",
        PasswordError(0),
    ),
    (
        "V17-login-confirm-ble",
        "0601001a0039ff221053cb1f0032323132373880010104800f02",
        Command.LOGIN_CONFIRM,
        "39ff221053cb1f00",
        LoginConfirm(1),
    ),
    (
        "V18-temperature-unit-get-ble",
        "0601001b0039ff221053cb1f003232313237388112020004940f02",
        Command.TEMPERATURE_UNIT,
        "39ff221053cb1f00",
        TemperatureUnitSetting(Action.GET, 0),
    ),
]


@pytest.mark.parametrize(
    ("raw_hex", "command", "serial", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CAPTURED],
)
def test_captured_vector(
    raw_hex: str, command: int, serial: str, expected: Message
) -> None:
    raw = bytes.fromhex(raw_hex)
    datagram, message = _roundtrip_datagram(raw)
    assert datagram.command == command
    assert datagram.serial == serial
    assert type(message) is type(expected)
    assert message == expected
    again = messages.to_datagram(
        message, datagram.command, datagram.serial, datagram.password
    )
    assert again.encode() == raw


def test_captured_status_details() -> None:
    status = CAPTURED[0][4]
    assert isinstance(status, Status)
    assert status.current_state is CurrentState.READY_TO_CHARGE
    assert not status.emergency_stop
    assert status.phases == (PhaseReading(235.0, 0.0),)
    assert status.computed_power == 0.0


def test_captured_device_info_details() -> None:
    info = CAPTURED[4][4]
    assert isinstance(info, DeviceInfo)
    assert not info.three_phase
    assert info.phases == 1
    assert info.layout == 70
    assert info.byte70 is None
    assert info.extra == b""


def test_captured_charge_start_response_accepted() -> None:
    response = CAPTURED[7][4]
    assert isinstance(response, ChargeStartResponse)
    assert response.accepted


def test_captured_temperature_unit() -> None:
    setting = CAPTURED[2][4]
    assert isinstance(setting, TemperatureUnitSetting)
    assert setting.unit is TemperatureUnit.CELSIUS


# --- §9.3 synthetic vectors ---------------------------------------------------


SYNTHETIC: list[tuple[str, Message, int, str]] = [
    (
        "request-login-00",
        RequestLogin(0),
        0x8002,
        "0601001a009181102751219513313233343536800200043b0f02",
    ),
    (
        "request-login-empty",
        RequestLogin(),
        0x8002,
        "060100190091811027512195133132333435368002043a0f02",
    ),
    (
        "login-confirm",
        LoginConfirm(0),
        0x8001,
        "0601001a009181102751219513313233343536800100043a0f02",
    ),
    (
        "heading-response",
        HeadingResponse(0),
        0x8003,
        "0601001a009181102751219513313233343536800300043c0f02",
    ),
    (
        "status-ack",
        StatusAck(1),
        0x8004,
        "0601001a009181102751219513313233343536800401043e0f02",
    ),
    (
        "charging-status-ack",
        ChargingStatusAck(0),
        0x8005,
        "0601001a009181102751219513313233343536800500043e0f02",
    ),
    (
        "status-request",
        StatusRequest(),
        0x800D,
        "06010019009181102751219513313233343536800d04450f02",
    ),
    (
        "charging-status-request",
        ChargingStatusRequest(0),
        0x8006,
        "0601001a009181102751219513313233343536800600043f0f02",
    ),
    (
        "get-version",
        GetVersion(),
        0x8106,
        "060100190091811027512195133132333435368106043f0f02",
    ),
    (
        "output-current-get",
        OutputCurrent.get(),
        0x8107,
        "0601001b0091811027512195133132333435368107020004440f02",
    ),
    (
        "output-current-set-16",
        OutputCurrent.set(16),
        0x8107,
        "0601001b0091811027512195133132333435368107011004530f02",
    ),
    (
        "temperature-unit-get",
        TemperatureUnitSetting.get(),
        0x8112,
        "0601001b00918110275121951331323334353681120200044f0f02",
    ),
    (
        "language-get",
        LanguageSetting.get(),
        0x810F,
        "0601001b009181102751219513313233343536810f0200044c0f02",
    ),
    (
        "start-mode-get",
        StartModeSetting.get(),
        0x810D,
        "0601001b009181102751219513313233343536810d0200044a0f02",
    ),
    (
        "nickname-get",
        Nickname.get(),
        0x8108,
        "0601003a009181102751219513313233343536810802" + "0" * 64 + "04640f02",
    ),
]


@pytest.mark.parametrize(
    ("message", "command", "expected_hex"),
    [pytest.param(*case[1:], id=case[0]) for case in SYNTHETIC],
)
def test_synthetic_vector(message: Message, command: int, expected_hex: str) -> None:
    datagram = messages.to_datagram(message, command, SERIAL, PASSWORD)
    raw = datagram.encode()
    assert raw.hex() == expected_hex
    assert messages.parse_message(frame.decode_datagram(raw)) == message
    if isinstance(message, ByteSetting | Nickname):
        assert command == type(message).REQUEST


def test_probe_vector() -> None:
    expected = "06010019000000000000000000000000000000800200a20f02"
    probe = Datagram(frame.PROBE_SERIAL, 0x8002, b"", frame.NO_PASSWORD)
    assert probe.encode().hex() == expected
    built = messages.to_datagram(
        RequestLogin(), Command.REQUEST_LOGIN, frame.PROBE_SERIAL, frame.NO_PASSWORD
    )
    assert built == probe


# --- §9.4 expectations --------------------------------------------------------


def test_charge_start_layout() -> None:
    start = ChargeStart(
        line_id=1,
        user_id="testuser",
        charge_id="2025010112000000",
        is_reservation=False,
        start_time=0x62505CDD,
        max_current=16,
        max_duration=120,
        max_energy=50.0,
    )
    payload = start.build()
    assert len(payload) == 47
    assert payload[0] == 1
    assert payload[1:17] == b"testuser" + bytes(8)
    assert payload[17:33] == b"2025010112000000"
    assert payload[33] == 0
    assert int.from_bytes(payload[34:38], "big") == 0x62505CDD
    assert payload[38] == StartType.APP
    assert payload[39] == 1
    assert int.from_bytes(payload[40:42], "big") == 120
    assert int.from_bytes(payload[42:44], "big") == 5000
    assert int.from_bytes(payload[44:46], "big") == 0xFFFF
    assert payload[46] == 16
    assert ChargeStart.parse(payload) == start


def test_charge_start_unlimited_and_reservation() -> None:
    start = ChargeStart(1, "u", "c", is_reservation=True, start_time=1, max_current=6)
    payload = start.build()
    assert payload[33] == 1
    assert payload[40:46] == b"\xff" * 6
    assert ChargeStart.parse(payload) == start


def test_charge_start_response_layout() -> None:
    response = ChargeStartResponse.parse(bytes([1, 2, 3, 4, 5]))
    assert response.line_id == 1
    assert response.reservation_result is ReservationResult.NOT_SUPPORTED
    assert response.start_result == 3
    assert response.error is ChargeStartError.SYSTEM_MAINTENANCE
    assert response.max_current == 5
    assert not response.accepted
    assert response.build() == bytes([1, 2, 3, 4, 5])


@pytest.mark.parametrize(
    ("reservation", "error", "accepted"),
    [
        (ReservationResult.IMMEDIATE, ChargeStartError.OK, True),
        (ReservationResult.RESERVATION_OK, ChargeStartError.OK, True),
        (ReservationResult.TIME_IN_PAST_STARTED_NOW, ChargeStartError.OK, True),
        (ReservationResult.NOT_SUPPORTED, ChargeStartError.OK, False),
        (ReservationResult.TIME_TOO_FAR, ChargeStartError.OK, False),
        (ReservationResult(99), ChargeStartError.OK, False),
        (ReservationResult.IMMEDIATE, ChargeStartError.NOT_PLUGGED_IN, False),
        (ReservationResult.IMMEDIATE, ChargeStartError(99), False),
    ],
)
def test_charge_start_response_accepted(
    reservation: ReservationResult, error: ChargeStartError, accepted: bool
) -> None:
    assert ChargeStartResponse(1, reservation, 1, error, 16).accepted is accepted


# --- EM timestamps (§2.8) -----------------------------------------------------


@pytest.mark.parametrize(
    ("unix_time", "em"),
    [
        pytest.param(1649455421, 0x62505CDD, id="V12"),
        pytest.param(1649453528, 0x62505578, id="V6"),
        pytest.param(1649452158, 0x6250501E, id="V13"),
    ],
)
def test_em_cross_check_paris_april(unix_time: int, em: int) -> None:
    # The 2022 app put the Unix time into the charge id next to the EM time.
    assert unix_time - em == 21600
    moment = datetime.fromtimestamp(unix_time, UTC)
    assert messages.em_to_datetime(em, PARIS) == moment
    assert messages.datetime_to_em(moment, PARIS) == em


@pytest.mark.parametrize(
    "zone", [PARIS, ZoneInfo("America/New_York"), UTC, timezone(timedelta(hours=5))]
)
def test_em_is_local_wall_clock(zone: tzinfo) -> None:
    # V7: 0x62505CDC shows as 2022-04-09 00:03:40 on the charger, whatever the zone.
    moment = messages.em_to_datetime(0x62505CDC, zone)
    assert moment is not None
    assert moment.tzinfo is UTC
    assert moment.astimezone(zone).replace(tzinfo=None) == datetime(
        2022, 4, 9, 0, 3, 40
    )


@pytest.mark.parametrize("em", [0, U32_NONE])
def test_em_no_date(em: int) -> None:
    assert messages.em_to_datetime(em, PARIS) is None


ZONES: list[tzinfo] = [
    UTC,
    PARIS,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Sydney"),
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute DST shift
    ZoneInfo("America/Sao_Paulo"),
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Pacific/Chatham"),
    timezone(timedelta(hours=-3, minutes=-30)),
]

moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,
).map(lambda moment: moment.replace(microsecond=0))


@given(moments, st.sampled_from(ZONES))
def test_datetime_em_round_trip(moment: datetime, zone: tzinfo) -> None:
    em = messages.datetime_to_em(moment, zone)
    assert isinstance(em, int)
    back = messages.em_to_datetime(em, zone)
    assert back is not None
    wall = moment.astimezone(zone)
    # The EM time is a wall-clock time: it always survives ...
    assert back.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None)
    # ... and so does the moment, except in the second pass of a repeated hour
    # (DST fold), where the wall clock is ambiguous and the first pass is chosen.
    assert back == wall.replace(fold=0).astimezone(UTC)
    # (Compare in UTC: PEP 495 makes == false for ambiguous inter-zone datetimes.)
    ambiguous = wall.replace(fold=1 - wall.fold).utcoffset() != wall.utcoffset()
    assert back == moment.astimezone(UTC) or (ambiguous and wall.fold == 1)


@given(st.integers(1, U32_NONE - 1), st.sampled_from(ZONES))
def test_em_datetime_round_trip(em: int, zone: tzinfo) -> None:
    moment = messages.em_to_datetime(em, zone)
    assert moment is not None
    wall = datetime(1970, 1, 1) + timedelta(seconds=em, hours=8)
    if moment.astimezone(zone).replace(tzinfo=None) == wall:
        # Not inside a DST gap (a wall time that does not exist there).
        assert messages.datetime_to_em(moment, zone) == em


@given(moments)
def test_em_is_unix_time_in_shanghai(moment: datetime) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    expected = int(moment.timestamp())
    assert messages.datetime_to_em(moment, shanghai) == expected
    assert messages.datetime_to_em(moment, timezone(timedelta(hours=8))) == expected


# --- field helpers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"BESEN\x00\x00\x00", "BESEN"),
        (b"ACP#Garage   \x00\x00", "ACP#Garage"),
        (b"WWW\xff\xff\xff", "WWW"),
        (b"AB\x00CD", "AB"),
        (b"\x00" * 16, ""),
        (b"caf\xc3\xa9", "caf\u00e9"),
        (b"bad\xfe", "bad\ufffd"),
    ],
)
def test_decode_text(raw: bytes, text: str) -> None:
    assert messages.decode_text(raw) == text


def test_encode_text() -> None:
    assert messages.encode_text("BS20", 8) == b"BS20\x00\x00\x00\x00"
    assert messages.encode_text("0123456789abcdefXYZ", 16) == b"0123456789abcdef"
    assert messages.encode_text("caf\u00e9", 5) == b"caf?\x00"
    assert messages.encode_text("", 3) == b"\x00\x00\x00"


@pytest.mark.parametrize(
    ("raw", "celsius"),
    [(0x5892, 26.74), (20000, 0.0), (0, -200.0), (0xFFFE, 455.34), (U16_NONE, None)],
)
def test_temperature(raw: int, celsius: float | None) -> None:
    assert messages.decode_temperature(raw) == celsius
    assert messages.encode_temperature(celsius) == raw


# --- derived properties and small behaviours ----------------------------------


def _status_payload(length: int, **patch: int) -> bytes:
    payload = bytearray(length)
    payload[17:21] = bytes([1, 2, 2, CurrentState.CHARGING])
    for offset, value in patch.items():
        payload[int(offset.removeprefix("b"))] = value
    return bytes(payload)


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        pytest.param(_status_payload(25), CurrentState.CHARGING, id="25"),
        pytest.param(_status_payload(33), CurrentState.CHARGING, id="33"),
        pytest.param(_status_payload(34, b33=18), CurrentState.CHARGING, id="34"),
        pytest.param(_status_payload(35, b34=18), CurrentState(18), id="35-alt-18"),
        pytest.param(_status_payload(40, b34=19), CurrentState(19), id="40-alt-19"),
        pytest.param(_status_payload(40, b34=0xFF), CurrentState.CHARGING, id="morec"),
    ],
)
def test_status_alternative_state(payload: bytes, state: CurrentState) -> None:
    status = Status.parse(payload)
    assert status.reported_state is CurrentState.CHARGING
    assert status.current_state == state
    assert status.current_state.name == state.name
    assert status.build() == payload


def test_status_phases_and_power() -> None:
    status = Status.parse(
        _status_payload(33)[:1]
        + (2300).to_bytes(2, "big")
        + (1000).to_bytes(2, "big")
        + _status_payload(33)[5:25]
        + bytes.fromhex("08fc 01f4 ffff ffff")
    )
    assert status.l1 == PhaseReading(230.0, 10.0)
    assert status.l2 == PhaseReading(230.0, 5.0)
    assert status.l3 == PhaseReading(None, None)
    assert len(status.phases) == 2  # L3 has no reading: not a phase it drives
    assert status.phase_count == 2
    assert status.computed_power == pytest.approx(230 * 10 + 230 * 5)
    assert status.extra == b""


def test_status_zero_volt_phases_are_absent() -> None:
    """A 40-byte status with L2/L3 at 0.0 V (Morec capture) is single-phase."""
    status = Status.parse(_status_payload(40, b34=0xFF))
    assert (status.l2, status.l3) == (PhaseReading(0.0, 0.0), PhaseReading(0.0, 0.0))
    assert status.phase_count == 1
    assert status.phases == (status.l1,)


@pytest.mark.parametrize("length", range(26, 33))
def test_status_between_layouts_keeps_its_bytes(length: int) -> None:
    """26 to 32 bytes: the bytes after 25 are kept and rebuilt."""
    payload = _status_payload(25) + bytes(range(1, length - 24))
    status = Status.parse(payload)
    assert status.l2 is None
    assert status.extra == payload[25:]
    assert status.build() == payload


def test_status_emergency_and_sentinels() -> None:
    payload = bytearray(_status_payload(25))
    payload[1:17] = b"\xff" * 16
    payload[17] = 0
    status = Status.parse(bytes(payload))
    assert status.emergency_stop
    assert status.l1 == PhaseReading(None, None)
    assert status.power is None
    assert status.total_energy is None
    assert status.inner_temperature is None
    assert status.outer_temperature is None
    assert status.computed_power == 0.0
    assert status.build() == bytes(payload)


def test_status_build_fills_missing_phase() -> None:
    status = Status.parse(_status_payload(25))
    with_l2 = dataclasses.replace(status, l2=PhaseReading(230.0, 1.0))
    payload = with_l2.build()
    assert len(payload) == 33
    assert payload[29:33] == b"\xff" * 4
    assert Status.parse(payload).l3 == PhaseReading(None, None)


def test_unknown_enum_values_survive() -> None:
    payload = _status_payload(25, b18=9, b19=7, b20=99)
    status = Status.parse(payload)
    assert status.gun_state == 9
    assert not status.gun_state.known
    assert status.output_state.name == "UNKNOWN_7"
    assert status.reported_state.name == "UNKNOWN_99"
    assert status.build() == payload


def test_charging_status_alternative_state() -> None:
    base = bytearray(74)
    base[1] = CurrentState.CHARGING
    status = ChargingStatus.parse(bytes(base))
    assert status.current_state is CurrentState.CHARGING
    assert ChargingStatus.parse(bytes(base) + b"\x12").current_state == 18
    assert ChargingStatus.parse(bytes(base) + b"\x05").current_state == 14


@pytest.mark.parametrize(("device_type", "phases"), [(1, 1), (12, 3), (22, 3), (9, 1)])
def test_device_info_phases(device_type: int, phases: int) -> None:
    info = DeviceInfo(device_type, "B", "M", "H", 7040, 16)
    assert info.phases == phases
    assert info.three_phase is (phases == 3)


def test_device_info_119_layout() -> None:
    head = DeviceInfo(12, "BESEN", "BS20", "HW", 10560, 16, "WWW.EVSE").build()
    assert len(head) == 70
    payload = head + b"\x05" + b".COM" + bytes(44)
    info = DeviceInfo.parse(payload)
    assert info.byte70 == 5
    assert info.hotline == "WWW.EVSE"  # NUL in the first part ends the text
    assert info.layout == 119
    rebuilt = info.build()
    assert len(rebuilt) == 119
    assert DeviceInfo.parse(rebuilt) == info


def test_device_info_145_bytes_round_trip() -> None:
    """The 145-byte capture: bytes 119-144 are kept and rebuilt as they were."""
    head = DeviceInfo(1, "EVSE", "SQW49", "HW", 7360, 32, "WWW.EVSE.COM").build()
    payload = head + b"\x00" + bytes(48) + bytes(range(26))
    info = DeviceInfo.parse(payload)
    assert (info.layout, info.extra) == (119, bytes(range(26)))
    assert info.build() == payload


def test_device_info_long_text_uses_long_layout() -> None:
    info = DeviceInfo(1, "B" * 20, "M", "H", 1, 1, "x" * 40)
    payload = info.build()
    assert len(payload) == 151
    parsed = DeviceInfo.parse(payload)
    assert (parsed.brand, parsed.hotline, parsed.byte70) == ("B" * 20, "x" * 40, 0)
    assert len(DeviceInfo(1, "B", "M", "H", 1, 1, "x" * 40).build()) == 118


def test_version_with_support_new() -> None:
    version = Version("hw", "sw", 7, 1)
    assert len(version.build()) == 37
    assert Version.parse(version.build()) == version
    assert len(Version("hw", "sw").build()) == 32
    assert Version.parse(bytes(32) + b"\x00\x00\x00") == Version("", "")


def test_charge_stop_variants() -> None:
    stop = ChargeStop(1, "emmgr")
    payload = stop.build()
    assert len(payload) == 47
    assert payload[17:] == bytes(30)
    assert ChargeStop.parse(b"\x01") == ChargeStop(1, "")
    assert ChargeStop.parse(payload[:17]) == stop


@pytest.mark.parametrize(
    ("fail_reason", "accepted"), [(0, True), (1, False), (9, False)]
)
def test_charge_stop_response(fail_reason: int, accepted: bool) -> None:
    response = ChargeStopResponse.parse(bytes([1, 1, fail_reason]))
    assert response.accepted is accepted
    assert response.build() == bytes([1, 1, fail_reason])


def test_charge_record_ack_layout() -> None:
    ack = ChargeRecordAck("2025010112000000")
    payload = ack.build()
    assert payload == b"\x01" + b"2025010112000000" + b"\x01"
    assert ChargeRecordAck.parse(payload) == ack


def test_charge_record_minimal_and_tail() -> None:
    payload = bytearray(88)
    payload[33:49] = b"2025010112000000"
    payload[50] = StartType.SCHEDULE
    payload[52:56] = b"\xff" * 4
    payload[58] = StopReason.UNPLUGGED
    payload[84:88] = (1234).to_bytes(4, "big")
    record = ChargeRecord.parse(bytes(payload))
    assert record.charge_id == "2025010112000000"
    assert record.start_type is StartType.SCHEDULE
    assert record.max_duration is None
    assert record.max_energy is None
    assert record.stop_reason is StopReason.UNPLUGGED
    assert record.session_energy == 12.34
    assert record.charge_price is None
    assert record.build() == bytes(payload)
    # 89..94 bytes: fee fields incomplete, ignored.
    assert ChargeRecord.parse(bytes(payload) + bytes(6)) == record
    with_tail = bytes(payload) + bytes.fromhex("000003e8 02 0064") + b"log"
    full = ChargeRecord.parse(with_tail)
    assert (full.charge_price, full.fee_type, full.charge_fee) == (10.0, 2, 1.0)
    assert full.tail == b"log"
    assert full.build() == with_tail


def test_settings_views() -> None:
    assert LanguageSetting.parse(b"\x02\x04").language is Language.FRENCH
    assert TemperatureUnitSetting.set(2).unit is TemperatureUnit.FAHRENHEIT
    assert StartModeSetting.parse(b"\x01\x02").mode is StartMode.APP_REQUIRED_ALT
    assert StartModeSetting.parse(b"\x01\x07").mode.name == "UNKNOWN_7"
    assert OutputCurrent.parse(b"\x02") == OutputCurrent(Action.GET, 0)
    assert OutputCurrent.parse(b"\x01\x10\x00") == OutputCurrent(
        Action.SET, 16, b"\x00"
    )


@pytest.mark.parametrize(
    "cls", [OutputCurrent, LanguageSetting, TemperatureUnitSetting, StartModeSetting]
)
def test_byte_setting_requests(cls: type[ByteSetting]) -> None:
    assert cls.get().build() == b"\x02\x00"
    assert cls.set(5).build() == b"\x01\x05"
    assert MESSAGE_TYPES[cls.REQUEST] is cls
    assert MESSAGE_TYPES[cls.REQUEST - 0x8000] is cls


@pytest.mark.parametrize("cls", [Nickname, SystemTime, LcdBrightness])
def test_other_setting_requests(
    cls: type[Nickname] | type[SystemTime] | type[LcdBrightness],
) -> None:
    assert MESSAGE_TYPES[cls.REQUEST] is cls
    assert MESSAGE_TYPES[cls.REQUEST - 0x8000] is cls


def test_nickname() -> None:
    named = Nickname(Action.SET, "Garage")
    payload = named.build()
    assert payload == b"\x01" + b"ACP#Garage".ljust(32, b"\x00")
    assert Nickname.parse(payload) == named
    # 16-byte name field, spaces as the app pads them, no prefix.
    assert Nickname.parse(b"\x02ACP#Garage     \x00") == Nickname(Action.GET, "Garage")
    assert Nickname.parse(b"\x02Garage") == Nickname(Action.GET, "Garage")
    assert Nickname.parse(b"\x02") == Nickname(Action.GET, "")


def test_system_time() -> None:
    assert SystemTime.get().build() == b"\x02\x00\x00\x00\x00"
    assert SystemTime.parse(b"\x02\x00") == SystemTime(Action.GET, None)
    assert SystemTime(Action.GET, None).build() == b"\x02"
    report = SystemTime.parse(bytes.fromhex("0062505cdc"))
    assert report == SystemTime(Action.REPORT, 0x62505CDC)


def test_lcd_brightness() -> None:
    assert LcdBrightness.get().build() == bytes.fromhex("0001000100000000")
    assert LcdBrightness.set(80).build() == bytes.fromhex("0002500000000000")
    reply = LcdBrightness.parse(bytes.fromhex("0001460000000000"))
    assert reply.level == 70
    assert reply.mode == 1


def test_byte_message() -> None:
    assert Heading.parse(b"") == Heading(None)
    assert Heading.parse(b"\x00\x01") == Heading(0)
    assert HeadingResponse(0).build() == b"\x00"
    assert HeadingResponse().build() == b""


MINIMUM_SIZES: list[tuple[MessageType, int]] = [
    (DeviceInfo, 70),
    (Version, 32),
    (Status, 25),
    (ChargingStatus, 74),
    (ChargeStart, 47),
    (ChargeStartResponse, 5),
    (ChargeStop, 1),
    (ChargeStopResponse, 3),
    (ChargeRecord, 88),
    (ChargeRecordAck, 18),
    (OutputCurrent, 1),
    (LanguageSetting, 1),
    (TemperatureUnitSetting, 1),
    (StartModeSetting, 1),
    (Nickname, 1),
    (SystemTime, 1),
    (LcdBrightness, 3),
    (WeeklyPlan, 1),
]


@pytest.mark.parametrize(
    ("cls", "size"), [pytest.param(c, n, id=c.__name__) for c, n in MINIMUM_SIZES]
)
def test_short_payload_rejected(cls: MessageType, size: int) -> None:
    for length in range(size):
        with pytest.raises(PayloadError, match=f"needs {size}"):
            cls.parse(bytes(length))
    assert isinstance(cls.parse(bytes(size)), cls)


def test_every_model_has_a_minimum_size_case() -> None:
    models = set(MESSAGE_TYPES.values())
    byte_messages = {cls for cls in models if issubclass(cls, ByteMessage)}
    assert models - byte_messages == {cls for cls, _ in MINIMUM_SIZES}


def test_parse_message_dispatch() -> None:
    heading = Datagram(SERIAL, Command.HEADING)
    assert messages.parse_message(heading) == Heading(None)
    assert messages.parse_message(Datagram(SERIAL, 0x7777, b"\x01")) is None
    assert messages.parse_message(Datagram(SERIAL, Command.WIFI_INFO_RESPONSE)) is None
    with pytest.raises(PayloadError):
        messages.parse_message(Datagram(SERIAL, Command.STATUS, b"\x01"))


def test_unknown_command_in_packet() -> None:
    status_hex, heading_hex = CAPTURED[0][1], CAPTURED[1][1]
    unknown = Datagram(SERIAL, 0x0777, b"\x01\x02").encode()
    packet = bytes.fromhex(status_hex) + unknown + bytes.fromhex(heading_hex)
    parsed = [messages.parse_message(d) for d in frame.split_packet(packet)]
    assert parsed == [CAPTURED[0][4], None, Heading(None)]


# --- strategies ---------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
serials = st.binary(min_size=8, max_size=8).map(bytes.hex)
passwords = st.sampled_from([PASSWORD, frame.NO_PASSWORD, frame.CHARGER_PASSWORD_FIELD])


def text(width: int) -> st.SearchStrategy[str]:
    """Printable ASCII that survives a fixed-width field of ``width`` bytes."""
    printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
    return st.text(printable, max_size=width).map(str.strip)


def scaled(raw: st.SearchStrategy[int], divisor: int) -> st.SearchStrategy[float]:
    """Floats computed exactly as the parser computes them."""
    return raw.map(lambda value: value / divisor)


def optional_scaled(bits: int, divisor: int) -> st.SearchStrategy[float | None]:
    """``None`` or a scaled value whose raw form is not the sentinel."""
    return st.none() | scaled(st.integers(0, (1 << bits) - 2), divisor)


def optional_int(bits: int) -> st.SearchStrategy[int | None]:
    """``None`` or an integer that is not the all-ones sentinel."""
    return st.none() | st.integers(0, (1 << bits) - 2)


temperatures = st.none() | st.integers(0, 0xFFFE).map(lambda raw: (raw - 20000) / 100)


def byte_messages(cls: type[ByteMessage]) -> st.SearchStrategy[ByteMessage]:
    """Any instance of a one-byte message."""
    return st.builds(cls, st.none() | u8)


@st.composite
def device_infos(draw: st.DrawFn, layout: int) -> DeviceInfo:
    """Device info that parses back from the 70-, 118-, 119- or 151-byte layout."""
    wide = layout == 151
    return DeviceInfo(
        device_type=draw(u8),
        brand=draw(text(32 if wide else 16)),
        model=draw(text(32 if wide else 16)),
        hardware_version=draw(text(16)),
        max_power=draw(u32),
        max_current=draw(u8),
        hotline=draw(text(16 if layout == 70 else 64)),
        byte70=draw(u8) if layout >= 119 else None,
        layout=layout,
        # Longer extras would make the payload look like the next layout.
        extra=draw(st.binary(max_size={70: 47, 118: 0, 119: 31, 151: 30}[layout])),
    )


@st.composite
def versions(draw: st.DrawFn) -> Version:
    """Version replies of 32, 36 and 37 bytes."""
    flags = draw(st.none() | u32)
    return Version(
        hardware_version=draw(text(16)),
        software_version=draw(text(16)),
        feature_flags=flags,
        support_new=None if flags is None else draw(st.none() | u8),
    )


phases = st.builds(PhaseReading, optional_scaled(16, 10), optional_scaled(16, 100))


@st.composite
def statuses(draw: st.DrawFn, three_phase: bool) -> Status:
    """Status of 25 bytes, or of 33 bytes and more."""
    return Status(
        line_id=draw(u8),
        l1=draw(phases),
        power=draw(optional_int(32)),
        total_energy=draw(optional_scaled(32, 100)),
        inner_temperature=draw(temperatures),
        outer_temperature=draw(temperatures),
        emergency_button=draw(u8),
        gun_state=GunState(draw(u8)),
        output_state=OutputState(draw(u8)),
        reported_state=CurrentState(draw(u8)),
        errors=draw(u32),
        l2=draw(phases) if three_phase else None,
        l3=draw(phases) if three_phase else None,
        # Up to 7 extra bytes keep a 25-byte status short of the L2/L3 layout.
        extra=draw(st.binary(max_size=12 if three_phase else 7)),
    )


@st.composite
def charging_statuses(draw: st.DrawFn) -> ChargingStatus:
    """Charging status of 74 bytes and more."""
    return ChargingStatus(
        line_id=draw(u8),
        reported_state=CurrentState(draw(u8)),
        charge_id=draw(text(16)),
        start_type=StartType(draw(u8)),
        charge_type=draw(u8),
        max_duration=draw(optional_int(16)),
        max_energy=draw(optional_scaled(16, 100)),
        param3=draw(u16),
        reservation_time=draw(u32),
        user_id=draw(text(16)),
        max_current=draw(u8),
        start_time=draw(u32),
        duration=draw(u32),
        start_energy=draw(scaled(u32, 100)),
        current_energy=draw(scaled(u32, 100)),
        session_energy=draw(scaled(u32, 100)),
        charge_price=draw(scaled(u32, 100)),
        fee_type=draw(u8),
        charge_fee=draw(scaled(u16, 100)),
        extra=draw(st.binary(max_size=8)),
    )


@st.composite
def charge_starts(draw: st.DrawFn) -> ChargeStart:
    """ChargeStart requests."""
    return ChargeStart(
        line_id=draw(u8),
        user_id=draw(text(16)),
        charge_id=draw(text(16)),
        is_reservation=draw(st.booleans()),
        start_time=draw(u32),
        max_current=draw(u8),
        start_type=draw(u8),
        charge_type=draw(u8),
        max_duration=draw(optional_int(16)),
        max_energy=draw(optional_scaled(16, 100)),
        param3=draw(u16),
    )


charge_start_responses = st.builds(
    ChargeStartResponse,
    u8,
    u8.map(ReservationResult),
    u8,
    u8.map(ChargeStartError),
    u8,
)
charge_stops = st.builds(ChargeStop, u8, text(16))
charge_stop_responses = st.builds(ChargeStopResponse, u8, u8, u8)
charge_record_acks = st.builds(ChargeRecordAck, text(16), u8, u8)


@st.composite
def charge_records(draw: st.DrawFn, fees: bool) -> ChargeRecord:
    """Charge records of 88 bytes, or with fee fields and a raw tail."""
    return ChargeRecord(
        line_id=draw(u8),
        started_by=draw(text(16)),
        stopped_by=draw(text(16)),
        charge_id=draw(text(16)),
        has_reservation=draw(u8),
        start_type=StartType(draw(u8)),
        charge_type=draw(u8),
        max_duration=draw(optional_int(16)),
        max_energy=draw(optional_scaled(16, 100)),
        param3=draw(u16),
        stop_reason=StopReason(draw(u8)),
        has_stop_charge=draw(u8),
        reservation_time=draw(u32),
        start_time=draw(u32),
        stop_time=draw(u32),
        charged_time=draw(u32),
        start_energy=draw(scaled(u32, 100)),
        stop_energy=draw(scaled(u32, 100)),
        session_energy=draw(scaled(u32, 100)),
        charge_price=draw(scaled(u32, 100)) if fees else None,
        fee_type=draw(u8) if fees else None,
        charge_fee=draw(scaled(u16, 100)) if fees else None,
        tail=draw(st.binary(max_size=120)) if fees else b"",
    )


def byte_settings(cls: type[ByteSetting]) -> st.SearchStrategy[ByteSetting]:
    """``[action, value, extra...]`` settings."""
    return st.builds(cls, u8.map(Action), u8, st.binary(max_size=4))


nicknames = st.builds(
    Nickname,
    u8.map(Action),
    text(28).filter(lambda name: not name.startswith(messages.NICKNAME_PREFIX)),
)
system_times = st.builds(SystemTime, u8.map(Action), st.none() | u32)
lcd_brightnesses = st.builds(LcdBrightness, u8, u8, u8, st.binary(max_size=8))
weekly_plans = st.builds(
    WeeklyPlan,
    u8.map(Action),
    st.lists(st.builds(PlanDay, u8, u8, u8, u16, u32), min_size=7, max_size=7).map(
        tuple
    ),
    st.binary(max_size=8),
)


def test_weekly_plan_get_and_reply() -> None:
    """GET is 02 and 63 zero bytes; a reply of 7 days round-trips."""
    assert WeeklyPlan.get().build() == b"\x02" + bytes(63)
    day = PlanDay(PLAN_ON, 1, 30, 240, 0xFFFFFFFF)
    reply = WeeklyPlan(Action.GET, (day,) + (PlanDay(),) * 6)
    payload = reply.build()
    assert len(payload) == 64
    parsed = WeeklyPlan.parse(payload)
    assert parsed == reply
    assert parsed.days[0].enabled
    assert not parsed.days[1].enabled
    assert WeeklyPlan.parse(b"\x02").days == ()


def _model_cases() -> list[tuple[str, MessageType, st.SearchStrategy[Message]]]:
    cases: list[tuple[str, MessageType, st.SearchStrategy[Message]]] = [
        ("DeviceInfo-70", DeviceInfo, device_infos(70)),
        ("DeviceInfo-118", DeviceInfo, device_infos(118)),
        ("DeviceInfo-119", DeviceInfo, device_infos(119)),
        ("DeviceInfo-119", DeviceInfo, device_infos(119)),
        ("DeviceInfo-151", DeviceInfo, device_infos(151)),
        ("Version", Version, versions()),
        ("Status-25", Status, statuses(three_phase=False)),
        ("Status-33+", Status, statuses(three_phase=True)),
        ("ChargingStatus", ChargingStatus, charging_statuses()),
        ("ChargeStart", ChargeStart, charge_starts()),
        ("ChargeStartResponse", ChargeStartResponse, charge_start_responses),
        ("ChargeStop", ChargeStop, charge_stops),
        ("ChargeStopResponse", ChargeStopResponse, charge_stop_responses),
        ("ChargeRecord-88", ChargeRecord, charge_records(fees=False)),
        ("ChargeRecord-fees", ChargeRecord, charge_records(fees=True)),
        ("ChargeRecordAck", ChargeRecordAck, charge_record_acks),
        ("Nickname", Nickname, nicknames),
        ("SystemTime", SystemTime, system_times),
        ("LcdBrightness", LcdBrightness, lcd_brightnesses),
        ("WeeklyPlan", WeeklyPlan, weekly_plans),
    ]
    for cls in sorted(set(MESSAGE_TYPES.values()), key=lambda c: c.__name__):
        if issubclass(cls, ByteMessage):
            cases.append((cls.__name__, cls, byte_messages(cls)))
        elif issubclass(cls, ByteSetting):
            cases.append((cls.__name__, cls, byte_settings(cls)))
    return cases


MODEL_CASES = _model_cases()
COMMANDS: dict[MessageType, list[int]] = {}
for _command, _cls in MESSAGE_TYPES.items():
    COMMANDS.setdefault(_cls, []).append(_command)


def test_every_model_has_a_strategy() -> None:
    assert {cls for _, cls, _ in MODEL_CASES} == set(MESSAGE_TYPES.values())


@pytest.mark.parametrize(
    ("cls", "models"), [pytest.param(c, s, id=i) for i, c, s in MODEL_CASES]
)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_model_round_trip(
    cls: MessageType, models: st.SearchStrategy[Message], data: st.DataObject
) -> None:
    message = data.draw(models, label="message")
    assert type(message) is cls
    assert cls.parse(message.build()) == message
    command = data.draw(st.sampled_from(COMMANDS[cls]), label="command")
    serial = data.draw(serials, label="serial")
    password = data.draw(passwords, label="password")
    datagram = messages.to_datagram(message, command, serial, password)
    assert datagram == Datagram(serial, command, message.build(), password)
    decoded = frame.decode_datagram(datagram.encode())
    assert decoded == datagram
    assert messages.parse_message(decoded) == message


# --- byte-exact round trips: parse(p).build() == p ----------------------------


def raw(size: int) -> st.SearchStrategy[bytes]:
    """Any ``size`` bytes."""
    return st.binary(min_size=size, max_size=size)


def field(width: int) -> st.SearchStrategy[bytes]:
    """A fixed-width text field as a well-behaved sender writes it."""
    return text(width).map(lambda value: messages.encode_text(value, width))


def joined(*parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Concatenation of the parts."""
    return st.tuples(*parts).map(b"".join)


@st.composite
def device_info_payloads(draw: st.DrawFn, layout: int) -> bytes:
    """70-, 118- or 151-byte device info with well-formed text fields."""
    wide = layout == 151
    brand = messages.encode_text(draw(text(32 if wide else 16)), 32)
    model = messages.encode_text(draw(text(32 if wide else 16)), 32)
    hotline = messages.encode_text(draw(text(16 if layout == 70 else 64)), 64)
    head = (
        draw(raw(1))
        + brand[:16]
        + model[:16]
        + draw(field(16))
        + draw(raw(5))
        + hotline[:16]
    )
    if layout == 70:
        return head
    if layout == 118:
        return head + hotline[16:]
    return head + draw(raw(1)) + hotline[16:] + brand[16:] + model[16:]


@st.composite
def nickname_payloads(draw: st.DrawFn) -> bytes:
    """Nickname request or reply with a 32-byte ``ACP#`` field."""
    name = draw(text(28).filter(lambda n: not n.startswith(messages.NICKNAME_PREFIX)))
    prefixed = messages.NICKNAME_PREFIX + name if name else ""
    return draw(raw(1)) + messages.encode_text(prefixed, 32)


EXACT_CASES: list[tuple[str, MessageType, st.SearchStrategy[bytes]]] = [
    ("DeviceInfo-70", DeviceInfo, device_info_payloads(70)),
    ("DeviceInfo-118", DeviceInfo, device_info_payloads(118)),
    ("DeviceInfo-151", DeviceInfo, device_info_payloads(151)),
    ("Version-32", Version, joined(field(16), field(16))),
    ("Version-36", Version, joined(field(16), field(16), raw(4))),
    ("Version-37", Version, joined(field(16), field(16), raw(5))),
    ("Status-25", Status, raw(25)),
    ("Status-33+", Status, st.binary(min_size=33, max_size=60)),
    (
        "ChargingStatus",
        ChargingStatus,
        joined(
            raw(2),
            field(16),
            raw(12),
            field(16),
            raw(28),
            st.binary(max_size=8),
        ),
    ),
    (
        "ChargeStart",
        ChargeStart,
        joined(
            raw(1), field(16), field(16), st.sampled_from([b"\x00", b"\x01"]), raw(13)
        ),
    ),
    ("ChargeStartResponse", ChargeStartResponse, raw(5)),
    ("ChargeStop", ChargeStop, joined(raw(1), field(16), st.just(bytes(30)))),
    ("ChargeStopResponse", ChargeStopResponse, raw(3)),
    (
        "ChargeRecord-88",
        ChargeRecord,
        joined(raw(1), field(16), field(16), field(16), raw(39)),
    ),
    (
        "ChargeRecord-fees",
        ChargeRecord,
        joined(
            raw(1), field(16), field(16), field(16), raw(46), st.binary(max_size=120)
        ),
    ),
    ("ChargeRecordAck", ChargeRecordAck, joined(raw(1), field(16), raw(1))),
    ("Nickname", Nickname, nickname_payloads()),
    ("SystemTime-5", SystemTime, raw(5)),
    ("SystemTime-1", SystemTime, raw(1)),
    ("LcdBrightness", LcdBrightness, st.binary(min_size=3, max_size=12)),
    *[
        (cls.__name__, cls, st.binary(min_size=2, max_size=6))
        for cls in (OutputCurrent, LanguageSetting, TemperatureUnitSetting)
    ],
    ("StartModeSetting", StartModeSetting, st.binary(min_size=2, max_size=6)),
    *[
        (cls.__name__, cls, st.binary(max_size=1))
        for cls in (RequestLogin, Heading, PasswordError, StatusAck)
    ],
]


@pytest.mark.parametrize(
    ("cls", "payloads"), [pytest.param(c, s, id=i) for i, c, s in EXACT_CASES]
)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_payload_round_trip_exact(
    cls: MessageType, payloads: st.SearchStrategy[bytes], data: st.DataObject
) -> None:
    payload = data.draw(payloads, label="payload")
    assert cls.parse(payload).build() == payload


# --- robustness ---------------------------------------------------------------

commands = st.sampled_from(sorted(MESSAGE_TYPES)) | u16


@given(commands, st.binary(max_size=200))
def test_parse_message_raises_only_payload_error(command: int, payload: bytes) -> None:
    _check_parse(Datagram(SERIAL, command, payload))


def _check_parse(datagram: Datagram) -> None:
    try:
        message = messages.parse_message(datagram)
    except PayloadError:
        assert datagram.command in MESSAGE_TYPES
        return
    if datagram.command in MESSAGE_TYPES:
        assert isinstance(message, MESSAGE_TYPES[datagram.command])
    else:
        assert message is None


Mutation = Callable[[bytes], bytes]


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    """Truncate, flip, insert or delete bytes at a position chosen later."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    where = draw(st.floats(0, 1))
    value = draw(u8)
    junk = draw(st.binary(min_size=1, max_size=30))

    def apply(packet: bytes) -> bytes:
        index = int(where * len(packet))
        if kind == "truncate":
            return packet[:index]
        if kind == "insert":
            return packet[:index] + junk + packet[index:]
        if not packet or index == len(packet):
            return packet
        if kind == "flip":
            return packet[:index] + bytes([value]) + packet[index + 1 :]
        return packet[:index] + packet[index + 1 :]

    return apply


@st.composite
def damaged_packets(draw: st.DrawFn) -> bytes:
    """Packets of valid datagrams (random payloads), then randomly damaged."""
    parts = draw(
        st.lists(
            st.builds(Datagram, serials, commands, st.binary(max_size=160), passwords),
            max_size=4,
        )
    )
    packet = b"".join(part.encode() for part in parts)
    for mutate in draw(st.lists(mutations(), max_size=3)):
        packet = mutate(packet)
    return packet


@settings(deadline=None)
@given(damaged_packets() | st.binary(max_size=300))
def test_split_and_parse_never_raise_unexpectedly(packet: bytes) -> None:
    for datagram in frame.split_packet(packet):
        _check_parse(datagram)
