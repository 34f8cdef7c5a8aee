"""Maps protocol errors of entity actions to translated Home Assistant errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .protocol.enums import ChargeStartError, ReservationResult
from .protocol.errors import (
    ChargerNotReachableError,
    ChargeStartRejectedError,
    ChargeStopRejectedError,
    CommandRejectedError,
    EvseMasterError,
    InvalidPasswordError,
    InvalidValueError,
    RateLimitedError,
    SessionTakenError,
    SettingRejectedError,
)

_START_ERROR_KEYS = {
    ChargeStartError.NOT_PLUGGED_IN: "not_plugged_in",
    ChargeStartError.ALREADY_CHARGING: "already_charging",
    ChargeStartError.ALREADY_RESERVED: "schedule_pending",
}
_RESERVATION_KEYS = {
    ReservationResult.ALREADY_RESERVED: "schedule_pending",
    ReservationResult.ALREADY_CHARGING: "already_charging",
    ReservationResult.TIME_TOO_FAR: "start_time_too_far",
}


def translated(err: EvseMasterError) -> HomeAssistantError:
    """The translated error to raise for a protocol error."""
    key: str
    placeholders: dict[str, str] = {}
    error_type: type[HomeAssistantError] = HomeAssistantError
    match err:
        case ChargeStartRejectedError():
            response = err.response
            key = _START_ERROR_KEYS.get(
                response.error,
                _RESERVATION_KEYS.get(response.reservation_result, "start_refused"),
            )
            placeholders["reason"] = (
                response.error.name.lower()
                if response.error
                else response.reservation_result.name.lower()
            )
        case ChargeStopRejectedError():
            key = "stop_refused"
            placeholders["reason"] = str(err.response.fail_reason)
        case SettingRejectedError():
            key = "setting_refused"
            placeholders["kept"] = str(err.kept)
            placeholders["wanted"] = str(err.wanted)
        case RateLimitedError():
            key, error_type = "rate_limited", ServiceValidationError
            seconds = max(1, round(err.retry_after))
            allowed_at = dt_util.now() + timedelta(seconds=seconds)
            placeholders["seconds"] = str(seconds)
            placeholders["time"] = allowed_at.strftime("%H:%M:%S")
        case InvalidValueError():
            key, error_type = err.reason, ServiceValidationError
            placeholders.update(err.placeholders)
        case InvalidPasswordError():
            key = "authentication_failed"
        case SessionTakenError():
            key = "session_taken"
        case ChargerNotReachableError():
            key = "no_response"
        case _:
            key = "command_refused"
            placeholders["error"] = str(err)
    return error_type(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Run an action; protocol errors leave as translated exceptions.

    A refused password is not handled here: the charger client confirms it and
    the coordinator reloads the entry, whose setup starts the reauth flow.
    """
    try:
        yield
    except (
        ChargerNotReachableError,
        CommandRejectedError,
        InvalidPasswordError,
        InvalidValueError,
        RateLimitedError,
        SessionTakenError,
    ) as err:
        raise translated(err) from err
