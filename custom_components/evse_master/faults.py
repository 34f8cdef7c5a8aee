"""Repair issues for faults an owner has to act on.

While the charger reports a fault it does not charge; the issue says what to
check, grouped by what the fault points at, and goes away with the fault.
"""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .protocol.charger import ChargerState
from .protocol.enums import Fault

FAULT_GROUPS: Final[dict[str, frozenset[Fault]]] = {
    "fault_emergency_stop": frozenset({Fault.EMERGENCY_STOP}),
    "fault_electrical": frozenset(
        {
            Fault.LEAKAGE_PROTECTION,
            Fault.NOT_GROUNDED,
            Fault.SHORT_CIRCUIT,
            Fault.DIODE_SHORT_CIRCUIT,
            Fault.OVER_CURRENT,
            Fault.RELAY_STUCK_L1,
            Fault.RELAY_STUCK_L2,
            Fault.RELAY_STUCK_L3,
        }
    ),
    "fault_temperature": frozenset(
        {
            Fault.INNER_OVER_TEMPERATURE,
            Fault.OUTER_OVER_TEMPERATURE,
            Fault.NO_VENTILATION,
        }
    ),
    "fault_supply": frozenset(
        {
            Fault.OVER_VOLTAGE,
            Fault.UNDER_VOLTAGE,
            Fault.INPUT_POWER_ERROR,
            Fault.MAINS_OVERLOAD,
        }
    ),
    "fault_cable": frozenset({Fault.CC_ERROR, Fault.CP_ERROR}),
}
"""Issue translation key -> the faults whose advice it gives."""
OTHER_FAULTS: Final = "fault_other"
"""Everything else (clock, memory, metering, unnamed codes): power-cycle, report."""


def fault_issues(state: ChargerState) -> dict[str, list[str]]:
    """Issue key -> the active faults it is about, named for the issue text."""
    issues: dict[str, list[str]] = {}
    for fault in state.faults:
        # Placeholders are not translated: readable English, not option keys.
        name = (
            fault.name.lower().replace("_", " ")
            if isinstance(fault, Fault)
            else (f"code {fault}")
        )
        group = next(
            (key for key, members in FAULT_GROUPS.items() if fault in members),
            OTHER_FAULTS,
        )
        issues.setdefault(group, []).append(name)
    return issues


def _issue_id(serial: str, key: str) -> str:
    return f"{key}_{serial}"


@callback
def async_report_faults(
    hass: HomeAssistant, name: str, state: ChargerState, previous: ChargerState
) -> None:
    """Create the issues of the faults now active; delete those that cleared."""
    now = fault_issues(state)
    before = fault_issues(previous)
    for key in before.keys() - now.keys():
        ir.async_delete_issue(hass, DOMAIN, _issue_id(state.serial, key))
    for key, faults in now.items():
        if before.get(key) == faults:
            continue
        ir.async_create_issue(
            hass,
            DOMAIN,
            _issue_id(state.serial, key),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=key,
            translation_placeholders={"name": name, "faults": ", ".join(faults)},
        )


@callback
def async_clear_faults(hass: HomeAssistant, serial: str) -> None:
    """Delete every fault issue of a charger (its entry unloads)."""
    for key in (*FAULT_GROUPS, OTHER_FAULTS):
        ir.async_delete_issue(hass, DOMAIN, _issue_id(serial, key))
