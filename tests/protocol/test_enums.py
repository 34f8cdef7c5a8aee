"""Tests of the protocol enumerations (protocol.md §4, §6)."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.evse_master.protocol import enums
from custom_components.evse_master.protocol.enums import (
    Action,
    Command,
    CurrentState,
    Fault,
    GunState,
    ReservationResult,
    TolerantIntEnum,
    decode_faults,
    encode_faults,
)

TOLERANT_ENUMS: list[type[TolerantIntEnum]] = [
    Command,
    enums.CurrentState,
    enums.GunState,
    enums.OutputState,
    enums.ChargeStartError,
    enums.ReservationResult,
    enums.StartType,
    enums.ChargeType,
    enums.StopReason,
    enums.Language,
    enums.TemperatureUnit,
    enums.StartMode,
    enums.Action,
]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the project-wide fixture: pure protocol tests need no hass."""


def test_every_tolerant_enum_is_listed() -> None:
    defined = {
        value
        for value in vars(enums).values()
        if isinstance(value, type)
        and issubclass(value, TolerantIntEnum)
        and value is not TolerantIntEnum
    }
    assert defined == set(TOLERANT_ENUMS)


def _unknown_value(cls: type[TolerantIntEnum]) -> int:
    return next(v for v in range(250, 0x10000) if v not in cls._value2member_map_)


@pytest.mark.parametrize("cls", TOLERANT_ENUMS, ids=lambda cls: cls.__name__)
def test_unknown_values_become_pseudo_members(cls: type[TolerantIntEnum]) -> None:
    value = _unknown_value(cls)
    member = cls(value)
    assert isinstance(member, cls)
    assert member == value
    assert int(member) == value
    assert member.value == value
    assert member.name == f"UNKNOWN_{value}"
    assert not member.known
    assert cls.of(value) == member
    assert repr(member) == f"<{cls.__name__}.UNKNOWN_{value}: {value}>"
    assert hash(member) == hash(value)
    assert member not in list(cls)  # pseudo members do not join the enum


@pytest.mark.parametrize("cls", TOLERANT_ENUMS, ids=lambda cls: cls.__name__)
def test_known_values(cls: type[TolerantIntEnum]) -> None:
    for member in cls:
        assert member.known
        assert cls(member.value) is member
        assert cls.of(int(member)) is member


@pytest.mark.parametrize("cls", TOLERANT_ENUMS, ids=lambda cls: cls.__name__)
def test_non_integers_still_rejected(cls: type[TolerantIntEnum]) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        cls("13")  # type: ignore[arg-type]


@given(st.sampled_from(TOLERANT_ENUMS), st.integers(0, 0xFFFF))
def test_any_value_keeps_its_integer(cls: type[TolerantIntEnum], value: int) -> None:
    member = cls(value)
    assert member == value
    assert member.known is (value in cls._value2member_map_)
    assert member.name == cls(value).name


def test_documented_member_named_unknown_is_known() -> None:
    assert enums.ChargeStartError.UNKNOWN_REASON.known
    assert enums.ChargeStartError(8) is enums.ChargeStartError.UNKNOWN_REASON
    assert GunState.UNKNOWN.known
    assert GunState(0) is GunState.UNKNOWN


def test_documented_values() -> None:
    assert CurrentState.READY_TO_CHARGE.value == 13
    assert CurrentState.CHARGING.value == 14
    assert CurrentState.CHARGING_RESERVATION.value == 20
    assert GunState.CONNECTED_LOCKED.value == 4
    assert enums.OutputState.IDLE.value == 2
    assert enums.Language.CHINESE.value == 9
    assert enums.TemperatureUnit.FAHRENHEIT.value == 2
    assert enums.StopReason.POWER_LOSS.value == 255
    assert enums.StartMode.OFFLINE_ALLOWED.value == 0
    assert (Action.REPORT, Action.SET, Action.GET) == (0, 1, 2)
    assert enums.ChargeType.SINGLE_PHASE.value == 11
    assert enums.ChargeStartError.ALREADY_RESERVED.value == 20


# --- faults (§6.4: code n is mask 0x80000000 >> n) ----------------------------


@pytest.mark.parametrize(
    ("errors", "faults"),
    [
        (0, ()),
        (0x80000000, (Fault.RELAY_STUCK_L1,)),
        (0x40000000, (Fault.RELAY_STUCK_L2,)),
        (0x00000001, (Fault.METERING_FAILURE,)),
        (0x02000000, (Fault.EMERGENCY_STOP,)),
        (0x00010000, (Fault.UNDER_VOLTAGE,)),
        (0x00008000, (16,)),
        (0x00000100, (23,)),
        (0x00000080, (Fault.NO_VENTILATION,)),
        (0x82008001, (Fault.RELAY_STUCK_L1, Fault.EMERGENCY_STOP, 16, Fault(31))),
    ],
)
def test_decode_faults(errors: int, faults: tuple[Fault | int, ...]) -> None:
    decoded = decode_faults(errors)
    assert decoded == faults
    assert [type(code) for code in decoded] == [type(code) for code in faults]
    assert encode_faults(decoded) == errors


def test_decode_all_faults() -> None:
    decoded = decode_faults(0xFFFFFFFF)
    assert decoded == tuple(range(32))
    assert all(isinstance(code, Fault) for code in decoded[:16] + decoded[24:])
    assert all(type(code) is int for code in decoded[16:24])


def test_fault_codes_are_documented() -> None:
    assert {int(fault) for fault in Fault} == set(range(16)) | set(range(24, 32))


def test_encode_faults_accepts_lists_and_duplicates() -> None:
    assert encode_faults([Fault.OFFLINE, 20, Fault.OFFLINE]) == 0x10000800
    assert encode_faults(()) == 0


@given(st.integers(0, 0xFFFFFFFF))
def test_encode_inverts_decode(errors: int) -> None:
    faults = decode_faults(errors)
    assert encode_faults(faults) == errors
    assert list(faults) == sorted(faults)
    assert len(faults) == errors.bit_count()


@given(st.lists(st.integers(0, 31)))
def test_decode_inverts_encode(codes: list[int]) -> None:
    assert decode_faults(encode_faults(codes)) == tuple(sorted(set(codes)))


# --- reservation results (§6.6) -----------------------------------------------


@pytest.mark.parametrize("result", list(ReservationResult), ids=lambda r: r.name)
def test_reservation_accepted(result: ReservationResult) -> None:
    assert result.accepted is (result in {0, 1, 4})


def test_unknown_reservation_not_accepted() -> None:
    assert not ReservationResult(99).accepted


# --- command ids (§4) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("request_id", "reply"),
    [
        (Command.REQUEST_LOGIN, Command.LOGIN_RESPONSE),
        (Command.HEADING_RESPONSE, Command.HEADING),
        (Command.STATUS_ACK, Command.STATUS),
        (Command.CHARGING_STATUS_ACK, Command.CHARGING_STATUS),
        (Command.CHARGING_STATUS_REQUEST, Command.CHARGING_STATUS_RESPONSE),
        (Command.CHARGE_START, Command.CHARGE_START_RESPONSE),
        (Command.CHARGE_STOP, Command.CHARGE_STOP_RESPONSE),
        (Command.CURRENT_CHARGE_RECORD_ACK, Command.CURRENT_CHARGE_RECORD),
        (Command.LOCAL_CHARGE_RECORD_ACK, Command.LOCAL_CHARGE_RECORD),
        (Command.STATUS_REQUEST, Command.STATUS_RESPONSE),
        (Command.SYSTEM_TIME, Command.SYSTEM_TIME_RESPONSE),
        (Command.GET_VERSION, Command.VERSION_RESPONSE),
        (Command.OUTPUT_CURRENT, Command.OUTPUT_CURRENT_RESPONSE),
        (Command.NICKNAME, Command.NICKNAME_RESPONSE),
        (Command.WIFI_INFO, Command.WIFI_INFO_RESPONSE),
        (Command.START_MODE, Command.START_MODE_RESPONSE),
        (Command.LANGUAGE, Command.LANGUAGE_RESPONSE),
        (Command.TEMPERATURE_UNIT, Command.TEMPERATURE_UNIT_RESPONSE),
        (Command.LCD_BRIGHTNESS, Command.LCD_BRIGHTNESS_RESPONSE),
    ],
    ids=lambda command: command.name,
)
def test_request_is_reply_plus_0x8000(request_id: Command, reply: Command) -> None:
    assert request_id == reply + 0x8000
    assert Command(reply + 0x8000) is request_id


def test_settings_pairs_by_name() -> None:
    for command in Command:
        if command.name.endswith("_RESPONSE") and 0x0100 <= command < 0x8000:
            request_name = command.name.removesuffix("_RESPONSE")
            if request_name == "VERSION":
                request_name = "GET_VERSION"
            assert Command[request_name] == command + 0x8000, command.name


def test_command_directions() -> None:
    assert Command.LOGIN_CONFIRM.value == 0x8001
    assert Command.PASSWORD_ERROR.value == 0x0155
    assert Command.of(0x0155) is Command.PASSWORD_ERROR
    assert not Command(0x8150).known  # firmware update: deliberately unmodelled


@pytest.mark.parametrize(("device_type", "three_phase"), [(1, False), (9, False)])
def test_single_phase_types(device_type: int, three_phase: bool) -> None:
    assert (device_type in enums.THREE_PHASE_DEVICE_TYPES) is three_phase


def test_three_phase_types() -> None:
    assert frozenset({10, 11, 12, 13, 14, 15, 22, 23, 24, 25}) == (
        enums.THREE_PHASE_DEVICE_TYPES
    )
