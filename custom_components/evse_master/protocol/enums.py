"""Protocol enumerations (protocol.md §6).

Every enum keeps values it does not know: ``CurrentState(99)`` is a pseudo
member named ``UNKNOWN_99`` whose value is still 99, so a new firmware never
makes parsing fail and the raw value survives for diagnostics.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Self


class TolerantIntEnum(IntEnum):
    """IntEnum that turns unknown integers into ``UNKNOWN_<n>`` pseudo members."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        """Whether the value is one the protocol documents."""
        # By membership, not by name: ChargeStartError.UNKNOWN_REASON is documented.
        return self._name_ in type(self)._member_map_

    @classmethod
    def of(cls, value: int) -> Self:
        """Return the member for ``value`` (a pseudo member when unknown)."""
        return cls(value)


class Command(TolerantIntEnum):
    """Command ids (§4); ``→d`` ids are the ``d→`` id plus 0x8000."""

    LOGIN_ANNOUNCEMENT = 0x0001
    LOGIN_RESPONSE = 0x0002
    HEADING = 0x0003
    STATUS = 0x0004
    CHARGING_STATUS = 0x0005
    CHARGING_STATUS_RESPONSE = 0x0006
    CHARGE_START_RESPONSE = 0x0007
    CHARGE_STOP_RESPONSE = 0x0008
    CURRENT_CHARGE_RECORD = 0x0009
    LOCAL_CHARGE_RECORD = 0x000A
    STATUS_RESPONSE = 0x000D
    SYSTEM_TIME_RESPONSE = 0x0101
    VERSION_RESPONSE = 0x0106
    OUTPUT_CURRENT_RESPONSE = 0x0107
    NICKNAME_RESPONSE = 0x0108
    WIFI_INFO_RESPONSE = 0x010A
    START_MODE_RESPONSE = 0x010D
    WEEKLY_PLAN_RESPONSE = 0x010E
    LANGUAGE_RESPONSE = 0x010F
    TEMPERATURE_UNIT_RESPONSE = 0x0112
    PASSWORD_ERROR = 0x0155
    LCD_BRIGHTNESS_RESPONSE = 0x0162

    LOGIN_CONFIRM = 0x8001
    REQUEST_LOGIN = 0x8002
    HEADING_RESPONSE = 0x8003
    STATUS_ACK = 0x8004
    CHARGING_STATUS_ACK = 0x8005
    CHARGING_STATUS_REQUEST = 0x8006
    CHARGE_START = 0x8007
    CHARGE_STOP = 0x8008
    CURRENT_CHARGE_RECORD_ACK = 0x8009
    LOCAL_CHARGE_RECORD_ACK = 0x800A
    STATUS_REQUEST = 0x800D
    SYSTEM_TIME = 0x8101
    GET_VERSION = 0x8106
    OUTPUT_CURRENT = 0x8107
    NICKNAME = 0x8108
    WIFI_INFO = 0x810A
    START_MODE = 0x810D
    WEEKLY_PLAN = 0x810E
    LANGUAGE = 0x810F
    TEMPERATURE_UNIT = 0x8112
    LCD_BRIGHTNESS = 0x8162


class CurrentState(TolerantIntEnum):
    """Charger state (status byte 20, charging-status byte 1)."""

    EVSE_FAULT = 1
    CHARGING_FAULT_2 = 2
    CHARGING_FAULT_3 = 3
    WAITING_FOR_SWIPE = 10
    WAITING_FOR_BUTTON = 11
    NOT_CONNECTED = 12
    READY_TO_CHARGE = 13
    CHARGING = 14
    COMPLETED = 15
    COMPLETED_FULL_CHARGE = 17
    CHARGING_RESERVATION = 20


class GunState(TolerantIntEnum):
    """Plug state (status byte 18)."""

    UNKNOWN = 0
    DISCONNECTED = 1
    CONNECTED_UNLOCKED = 2
    NEGOTIATING = 3
    CONNECTED_LOCKED = 4


class OutputState(TolerantIntEnum):
    """Relay state (status byte 19)."""

    CHARGING = 1
    IDLE = 2


class Fault(IntEnum):
    """Fault codes of the error bitfield (§6.4); code n is bit (31 - n)."""

    RELAY_STUCK_L1 = 0
    RELAY_STUCK_L2 = 1
    RELAY_STUCK_L3 = 2
    OFFLINE = 3
    CC_ERROR = 4
    CP_ERROR = 5
    EMERGENCY_STOP = 6
    INNER_OVER_TEMPERATURE = 7
    OUTER_OVER_TEMPERATURE = 8
    UNKNOWN_ERROR = 9
    LEAKAGE_PROTECTION = 10
    SHORT_CIRCUIT = 11
    OVER_CURRENT = 12
    NOT_GROUNDED = 13
    OVER_VOLTAGE = 14
    UNDER_VOLTAGE = 15
    NO_VENTILATION = 24
    INPUT_POWER_ERROR = 25
    MAINS_OVERLOAD = 26
    DIODE_SHORT_CIRCUIT = 27
    RTC_FAILURE = 28
    FLASH_FAILURE = 29
    EEPROM_FAILURE = 30
    METERING_FAILURE = 31


def decode_faults(errors: int) -> tuple[Fault | int, ...]:
    """Every fault code set in a status error field, most significant bit first.

    Codes without a name (16-23) are returned as plain integers.
    """
    faults: list[Fault | int] = []
    for code in range(32):
        if errors & (0x80000000 >> code):
            faults.append(Fault(code) if code in Fault._value2member_map_ else code)
    return tuple(faults)


def encode_faults(faults: tuple[Fault | int, ...] | list[Fault | int]) -> int:
    """Inverse of :func:`decode_faults`."""
    value = 0
    for code in faults:
        value |= 0x80000000 >> int(code)
    return value


class ChargeStartError(TolerantIntEnum):
    """Error reason of a ChargeStartResponse (§6.5)."""

    OK = 0
    NOT_PLUGGED_IN = 1
    SYSTEM_ERROR = 2
    ALREADY_CHARGING = 3
    SYSTEM_MAINTENANCE = 4
    INCORRECT_FEE = 5
    INCORRECT_POWER_OR_ENERGY = 6
    INCORRECT_TIME = 7
    UNKNOWN_REASON = 8
    ALREADY_RESERVED = 20


class ReservationResult(TolerantIntEnum):
    """Reservation result of a ChargeStartResponse (§6.6)."""

    IMMEDIATE = 0
    RESERVATION_OK = 1
    NOT_SUPPORTED = 2
    TIME_TOO_FAR = 3
    TIME_IN_PAST_STARTED_NOW = 4
    SYSTEM_ERROR = 5
    ALREADY_RESERVED = 6
    ALREADY_CHARGING = 7
    INCORRECT_FEE = 8
    INCORRECT_POWER = 9
    INCORRECT_TIME = 10

    @property
    def accepted(self) -> bool:
        """Whether the charger took the start (now or as a reservation)."""
        return self in (
            ReservationResult.IMMEDIATE,
            ReservationResult.RESERVATION_OK,
            ReservationResult.TIME_IN_PAST_STARTED_NOW,
        )


class StartType(TolerantIntEnum):
    """Who or what started a session (§6.7)."""

    APP = 1
    PLUG_AND_CHARGE = 3
    SCHEDULE = 4


class ChargeType(TolerantIntEnum):
    """Charge type byte of ChargeStart."""

    NORMAL = 1
    SINGLE_PHASE = 11


class StopReason(TolerantIntEnum):
    """Why a recorded session ended (§6.8; overlapping lists, app names)."""

    RESERVATION_CANCELLED = 0
    RESERVATION_NO_CAR = 1
    STOPPED_BY_APP = 11
    STOPPED_BY_CARD = 12
    FULL = 13
    AUTO_STOP = 14
    ENERGY_LIMIT = 15
    TIME_LIMIT = 16
    UNPLUGGED = 17
    POWER_FAILURE = 18
    FAULT_OVER_CURRENT = 19
    FAULT_SHORT_CIRCUIT = 20
    FAULT_BOARD_OVER_TEMPERATURE = 21
    FAULT_PLUG_OVER_TEMPERATURE = 22
    FAULT_EMERGENCY_STOP = 23
    STOPPED_BY_BUTTON = 24
    MAX_DURATION = 30
    MAX_ENERGY = 31
    MAX_COST = 32
    POWER_LOSS = 255


class Language(TolerantIntEnum):
    """Display language codes (§6.9)."""

    ENGLISH = 1
    ITALIAN = 2
    GERMAN = 3
    FRENCH = 4
    SPANISH = 5
    HEBREW = 6
    POLISH = 7
    TURKISH = 8
    CHINESE = 9


class TemperatureUnit(TolerantIntEnum):
    """Display temperature unit (§6.10); readings are always Celsius."""

    CELSIUS = 1
    FAHRENHEIT = 2


class StartMode(TolerantIntEnum):
    """Offline-charge setting 0x810D (§5.10.5).

    0 lets a session start without the app (button, card, plug and charge);
    other values require the app. 2 has been seen on units set to app-only.
    """

    OFFLINE_ALLOWED = 0
    APP_REQUIRED = 1
    APP_REQUIRED_ALT = 2


class Action(TolerantIntEnum):
    """First byte of setting requests and replies (§6.12)."""

    REPORT = 0
    SET = 1
    GET = 2


THREE_PHASE_DEVICE_TYPES = frozenset({10, 11, 12, 13, 14, 15, 22, 23, 24, 25})
