"""Maps protocol errors of entity actions to translated Home Assistant errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import DOMAIN
from .entity import EvseMasterEntity
from .protocol.enums import ChargeStartError
from .protocol.errors import (
    ChargerNotReachableError,
    ChargeStartRejectedError,
    ChargeStopRejectedError,
    CommandRejectedError,
    InvalidPasswordError,
    InvalidValueError,
    RateLimitedError,
)

_START_ERROR_KEYS = {
    ChargeStartError.NOT_PLUGGED_IN: "not_plugged_in",
    ChargeStartError.ALREADY_CHARGING: "already_charging",
}


def _translated(err: Exception) -> HomeAssistantError:
    """Return the translated error to raise for a protocol error."""
    key: str
    placeholders: dict[str, str] = {}
    error_type: type[HomeAssistantError] = HomeAssistantError
    match err:
        case ChargeStartRejectedError():
            key = _START_ERROR_KEYS.get(err.response.error, "start_refused")
            placeholders["reason"] = (
                err.response.error.name.lower()
                if err.response.error
                else err.response.reservation_result.name.lower()
            )
        case ChargeStopRejectedError():
            key = "stop_refused"
            placeholders["reason"] = str(err.response.fail_reason)
        case RateLimitedError():
            key, error_type = "rate_limited", ServiceValidationError
            placeholders["seconds"] = str(round(err.retry_after))
        case InvalidValueError():
            key, error_type = "invalid_value", ServiceValidationError
            placeholders["error"] = str(err)
        case InvalidPasswordError():
            key = "authentication_failed"
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
async def translated_errors(entity: EvseMasterEntity) -> AsyncIterator[None]:
    """Run an entity action; protocol errors leave as translated exceptions."""
    try:
        yield
    except InvalidPasswordError as err:
        entity.coordinator.config_entry.async_start_reauth(entity.hass)
        raise _translated(err) from err
    except (
        ChargerNotReachableError,
        CommandRejectedError,
        InvalidValueError,
        RateLimitedError,
    ) as err:
        raise _translated(err) from err
