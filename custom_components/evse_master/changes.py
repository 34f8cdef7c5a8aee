"""Which parts of a charger snapshot differ between two updates.

The coordinator hands each update only to the entities that read a part that
changed. Parts are the snapshot's fields (``"status"``) and, for the records
that change often or hold several settings, their fields (``"status.power"``):
a push that moves the lifetime energy then costs one entity, not every entity
that shows something of the status.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any, Final

from .protocol.charger import ChargerSettings, ChargerState
from .protocol.messages import ChargingStatus, Status

ALL_FIELDS: Final[frozenset[str]] = frozenset(("*",))
"""An update where anything may differ (availability, a refresh): everyone."""


class _Record:
    """The fields of one dataclass, read all at once (one C call per snapshot)."""

    def __init__(self, record: type, prefix: str = "") -> None:
        self.names = tuple(field.name for field in fields(record))
        self.parts = tuple(f"{prefix}{name}" for name in self.names)
        self.values: Any = attrgetter(*self.names)


_STATE: Final = _Record(ChargerState)
_DETAILED: Final[dict[str, _Record]] = {
    top: _Record(record, f"{top}.")
    for top, record in (
        ("status", Status),
        ("session", ChargingStatus),
        ("settings", ChargerSettings),
    )
}
KNOWN_PARTS: Final[frozenset[str]] = frozenset(_STATE.parts).union(
    *(record.parts for record in _DETAILED.values())
)
"""Every name an entity may read."""


def reads(*parts: str) -> frozenset[str]:
    """What an entity shows, checked: a misspelt part would never update it."""
    unknown = set(parts) - KNOWN_PARTS
    if unknown:
        raise ValueError(f"not parts of a charger snapshot: {sorted(unknown)}")
    return frozenset(parts)


def changed_parts(previous: ChargerState, state: ChargerState) -> frozenset[str]:
    """The fields that differ, and the detailed fields inside those that do."""
    changed: list[str] = []
    for top, old, new in zip(
        _STATE.parts, _STATE.values(previous), _STATE.values(state), strict=True
    ):
        if old is new:
            continue
        changed.append(top)
        record = _DETAILED.get(top)
        if record is None:
            continue
        if old is None or new is None:
            changed.extend(record.parts)
            continue
        for part, before, after in zip(
            record.parts, record.values(old), record.values(new), strict=True
        ):
            # Every parse makes new objects: equal values count as unchanged.
            if before is not after and before != after:
                changed.append(part)
    return frozenset(changed)


# What the snapshot's derived properties read (``ChargerState``, ``Status``).
CURRENT_STATE: Final = reads("status.reported_state", "status.l2", "status.extra")
"""``current_state``: newer firmware moves the state byte behind L2/L3."""
FAULTS: Final = reads("status.errors")
PLUGGED_IN: Final = reads("status.gun_state")
CHARGING: Final = reads("status.output_state")
SESSION_ACTIVE: Final = CHARGING | CURRENT_STATE
PHASES: Final = reads("info", "status.l1", "status.l2", "status.l3")
"""``phases`` and ``phase()``: the type code and the voltages present."""
POWER: Final = PHASES | reads("status.power")
"""``power``: the field, Σ V·I and the announced limits."""
