"""Actions: start a session (now or planned, with limits) and stop it.

The charging switch stays the simple on/off; these actions take what the
charger's start command offers: a current, a start time up to 24 hours ahead,
a maximum duration and a maximum energy.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import EvseMasterConfigEntry
from .helpers import translated_errors
from .schema import vol

SERVICE_START_CHARGING: Final = "start_charging"
SERVICE_STOP_CHARGING: Final = "stop_charging"
ATTR_CURRENT: Final = "current"
ATTR_START_TIME: Final = "start_time"
ATTR_MAX_DURATION: Final = "max_duration"
ATTR_MAX_ENERGY: Final = "max_energy"

_DEVICES = vol.All(cv.ensure_list, [cv.string])

STOP_SCHEMA: Final = vol.Schema({vol.Required(ATTR_DEVICE_ID): _DEVICES})
START_SCHEMA: Final = STOP_SCHEMA.extend(
    {
        # Ranges are the charger's and are checked against the charger's own
        # limits (its maximum current) with translated messages.
        vol.Optional(ATTR_CURRENT): vol.Coerce(float),
        # A date and time, or a time of day (its next occurrence).
        vol.Optional(ATTR_START_TIME): vol.Any(cv.datetime, cv.time),
        vol.Optional(ATTR_MAX_DURATION): cv.positive_time_period,
        vol.Optional(ATTR_MAX_ENERGY): vol.Coerce(float),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for every charger)."""
    hass.services.async_register(
        DOMAIN, SERVICE_START_CHARGING, _async_start_charging, schema=START_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, SERVICE_STOP_CHARGING, _async_stop_charging, schema=STOP_SCHEMA
    )


def start_moment(value: datetime | time, now: datetime) -> datetime:
    """The moment a start time means, in Home Assistant's time zone.

    A date and time without a zone is local time; a time of day is its next
    occurrence (a minute ago still counts as now, like the charger does).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt_util.get_default_time_zone())
        return value
    local_now = dt_util.as_local(now)
    moment = datetime.combine(local_now.date(), value, local_now.tzinfo)
    if moment < local_now - timedelta(minutes=1):
        moment = datetime.combine(
            local_now.date() + timedelta(days=1), value, local_now.tzinfo
        )
    return moment


def _entries(call: ServiceCall) -> list[EvseMasterConfigEntry]:
    """The loaded entries of the devices the call targets."""
    registry = dr.async_get(call.hass)
    entries: list[EvseMasterConfigEntry] = []
    for device_id in call.data[ATTR_DEVICE_ID]:
        device = registry.async_get(device_id)
        entry = next(
            (
                entry
                for entry_id in (device.config_entries if device else ())
                if (entry := call.hass.config_entries.async_get_entry(entry_id))
                and entry.domain == DOMAIN
            ),
            None,
        )
        if entry is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="device_not_found",
                translation_placeholders={"device_id": device_id},
            )
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_loaded",
                translation_placeholders={"name": entry.title},
            )
        entries.append(entry)
    return entries


async def _async_start_charging(call: ServiceCall) -> None:
    data: dict[str, Any] = call.data
    start_at = None
    if (start_time := data.get(ATTR_START_TIME)) is not None:
        start_at = start_moment(start_time, dt_util.utcnow())
    max_duration: timedelta | None = data.get(ATTR_MAX_DURATION)
    current: float | None = data.get(ATTR_CURRENT)
    max_energy: float | None = data.get(ATTR_MAX_ENERGY)
    entries = _entries(call)
    chargers = [entry.runtime_data.charger for entry in entries]
    # Check every target before starting any: one bad value starts nothing.
    async with translated_errors():
        for charger in chargers:
            charger.check_start(
                current,
                start_at=start_at,
                max_duration=max_duration,
                max_energy=max_energy,
            )
        for charger in chargers:
            await charger.start_charging(
                current,
                start_at=start_at,
                max_duration=max_duration,
                max_energy=max_energy,
            )


async def _async_stop_charging(call: ServiceCall) -> None:
    async with translated_errors():
        for entry in _entries(call):
            await entry.runtime_data.charger.stop_charging()
