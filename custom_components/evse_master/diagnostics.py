"""Diagnostics download: the charger snapshot with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import HomeAssistant

from .const import CONF_SERIAL, CONF_STATIC_HOST
from .coordinator import EvseMasterConfigEntry
from .protocol.enums import Fault

TO_REDACT = {
    CONF_PASSWORD,
    CONF_SERIAL,
    CONF_HOST,
    CONF_STATIC_HOST,
    "address",
    "unique_id",
    "title",
    "charge_id",
    "user_id",
    "started_by",
    "stopped_by",
    "nickname",
}


def _plain(value: Any) -> Any:
    """JSON-friendly copy: bytes as hex, so unexplained bytes can be decoded."""
    if isinstance(value, bytes):
        return value.hex(" ")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: EvseMasterConfigEntry
) -> dict[str, Any]:
    """Return the entry and the charger state without secrets."""
    state = entry.runtime_data.charger.state
    snapshot = _plain(asdict(state))
    if state.status is not None:
        snapshot["status"]["error_code"] = f"0x{state.status.errors:08X}"
        snapshot["status"]["unknown_values"] = {
            name: int(value)
            for name, value in (
                ("gun_state", state.status.gun_state),
                ("output_state", state.status.output_state),
                ("current_state", state.status.current_state),
            )
            if not value.known
        }
    snapshot["faults"] = [
        fault.name.lower() if isinstance(fault, Fault) else f"code_{fault}"
        for fault in state.faults
    ]
    snapshot["power"] = state.power
    return {
        "entry": async_redact_data(
            {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
            },
            TO_REDACT,
        ),
        "charger": async_redact_data(snapshot, TO_REDACT),
    }
