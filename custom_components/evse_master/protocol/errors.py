"""Typed errors of the protocol layer."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .frame import Datagram
    from .messages import ChargeStartResponse, ChargeStopResponse


class EvseMasterError(Exception):
    """Base class of every error this package raises."""


class PortInUseError(EvseMasterError):
    """The client UDP port is held by another program."""

    def __init__(self, port: int) -> None:
        super().__init__(f"UDP port {port} is already in use")
        self.port = port


class ChargerNotReachableError(EvseMasterError):
    """Nothing has been heard from the charger, so there is nowhere to send."""


class ChargerTimeoutError(ChargerNotReachableError):
    """The charger did not answer a request in time.

    ``answered`` is a reply with the right id that did not fit the request
    (another value, say), when one came: then the charger was not silent.
    """

    def __init__(self, command: int, *, answered: Datagram | None = None) -> None:
        super().__init__(f"no answer to command 0x{command:04X}")
        self.command = command
        self.answered = answered


class InvalidPasswordError(EvseMasterError):
    """The charger answered with PasswordError (0x0155)."""


class CommandRejectedError(EvseMasterError):
    """The charger answered a command but did not do what was asked."""


class ChargeStartRejectedError(CommandRejectedError):
    """ChargeStartResponse with an error or an unaccepted reservation result."""

    def __init__(self, response: ChargeStartResponse) -> None:
        super().__init__(
            f"charge start refused: {response.error.name}, "
            f"reservation {response.reservation_result.name}"
        )
        self.response = response


class ChargeStopRejectedError(CommandRejectedError):
    """ChargeStopResponse with a non-zero fail reason."""

    def __init__(self, response: ChargeStopResponse) -> None:
        super().__init__(f"charge stop refused: fail reason {response.fail_reason}")
        self.response = response


class SettingRejectedError(CommandRejectedError):
    """The charger answered a setting but kept another value."""

    def __init__(self, command: int, wanted: object, kept: object) -> None:
        super().__init__(
            f"charger kept {kept} for setting 0x{command:04X} instead of {wanted}"
        )
        self.wanted = wanted
        self.kept = kept


class RateLimitedError(EvseMasterError):
    """A start came too soon after the previous stop (relay and contactor wear)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"charging was switched recently; retry in {retry_after:.0f} s"
        )
        self.retry_after = retry_after


class SessionTakenError(EvseMasterError):
    """Another client (the phone app) holds the charger's only session."""


class Refusal(StrEnum):
    """Why a command argument was refused before anything was sent."""

    CURRENT_NOT_WHOLE = "current_not_whole"
    CURRENT_OUT_OF_RANGE = "current_out_of_range"
    NOT_AN_OPTION = "not_an_option"
    NICKNAME_INVALID = "nickname_invalid"
    BRIGHTNESS_OUT_OF_RANGE = "brightness_out_of_range"
    START_TIME_NAIVE = "start_time_naive"
    START_TIME_PAST = "start_time_past"
    START_TIME_TOO_FAR = "start_time_too_far"
    DURATION_OUT_OF_RANGE = "duration_out_of_range"
    ENERGY_OUT_OF_RANGE = "energy_out_of_range"


class InvalidValueError(EvseMasterError, ValueError):
    """A command argument is outside what the charger accepts; nothing was sent.

    ``reason`` names the rule (a translation key for user interfaces) and
    ``placeholders`` its numbers, so callers need not parse the message.
    """

    def __init__(self, reason: Refusal, message: str, **placeholders: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.placeholders = {key: str(value) for key, value in placeholders.items()}
