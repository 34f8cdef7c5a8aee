"""Diagnostics download: the charger snapshot with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import HomeAssistant

from .const import CONF_SERIAL, CONF_STATIC_HOST
from .coordinator import EvseMasterConfigEntry
from .protocol.enums import Command, Fault
from .protocol.frame import SECRET_PAYLOAD_COMMANDS

TO_REDACT = {
    CONF_PASSWORD,
    CONF_SERIAL,
    CONF_HOST,
    CONF_STATIC_HOST,
    "address",
    "last_foreign_source",
    "unique_id",
    "title",
    "charge_id",
    "user_id",
    "started_by",
    "stopped_by",
    "nickname",
}

_NO_RAW_PAYLOAD = SECRET_PAYLOAD_COMMANDS | {
    # Names and ids that the snapshot redacts would show in their raw bytes.
    Command.NICKNAME_RESPONSE,
    Command.CHARGING_STATUS,
    Command.CHARGING_STATUS_RESPONSE,
    Command.CURRENT_CHARGE_RECORD,
    Command.LOCAL_CHARGE_RECORD,
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
    """Return the entry, the charger state and what was kept out of it."""
    charger = entry.runtime_data.charger
    state = charger.state
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
    snapshot["phases"] = state.phases
    seen = charger.diagnostics
    received = {
        "dropped": dict(seen.dropped),
        "last_foreign_source": seen.last_foreign_source,
        "rejected_values": dict(seen.rejected_values),
        "last_rejected": _plain(seen.last_rejected),
        "malformed": seen.malformed,
        "logins": seen.logins,
        "relogins": seen.relogins,
        "raw_payloads": {
            f"0x{command:04X}": payload.hex(" ")
            for command, payload in sorted(seen.last_payloads.items())
            if command not in _NO_RAW_PAYLOAD
        },
    }
    return {
        "entry": async_redact_data(
            {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            TO_REDACT,
        ),
        "current_change": entry.runtime_data.current_watch.behaviour.value,
        "charger": async_redact_data(snapshot, TO_REDACT),
        "received": async_redact_data(received, TO_REDACT),
    }
