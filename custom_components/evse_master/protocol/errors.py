"""Typed errors of the protocol layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    """The charger did not answer a request in time."""

    def __init__(self, command: int) -> None:
        super().__init__(f"no answer to command 0x{command:04X}")
        self.command = command


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


class RateLimitedError(EvseMasterError):
    """A start came too soon after the previous stop (relay and contactor wear)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"charging was switched recently; retry in {retry_after:.0f} s"
        )
        self.retry_after = retry_after


class InvalidValueError(EvseMasterError, ValueError):
    """A command argument is outside what the charger accepts."""
