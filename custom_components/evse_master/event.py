"""Charging sessions as events: ``session_started`` and ``session_finished``.

Each session fires each event once, keyed by the charge id the charger gives
it; the ids already reported survive restarts. A finished session is reported
from the charger's record (stop reason, energy, times); a charger that sends
no record within :data:`const.RECORD_WAIT` gets its event from the last
charging status instead. Sessions that ran while Home Assistant was down
arrive as records the charger replays after the login: they fire both events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.event import (
    EventEntity,
    EventEntityDescription,
    EventExtraStoredData,
)
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from . import const
from .changes import reads
from .coordinator import EvseMasterConfigEntry, EvseMasterCoordinator
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .protocol.charger import ChargerState
from .protocol.enums import CurrentState, StopReason
from .protocol.messages import ChargeRecord, ChargingStatus

PARALLEL_UPDATES = 0

SESSION_STARTED = "session_started"
SESSION_FINISHED = "session_finished"
REMEMBERED_SESSIONS = 50
"""Charge ids kept to tell a replayed record from a new session."""
_RUNNING = (CurrentState.CHARGING,)


@dataclass(frozen=True, kw_only=True)
class EvseMasterEventDescription(EventEntityDescription, EvseMasterEntityDescription):
    """An event entity of the charger."""


SESSION = EvseMasterEventDescription(
    key="session",
    translation_key="session",
    event_types=[SESSION_STARTED, SESSION_FINISHED],
    reads=reads("session", "last_record"),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the session event entity."""
    async_add_entities(
        [EvseMasterSessionEvent(entry.runtime_data.coordinator, SESSION)]
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _key(charge_id: str, start_time: int) -> str:
    """What tells sessions apart: the charge id, else the start time.

    Sessions started at the charger (by plug or card) may have no charge id.
    """
    return charge_id or (f"started_{start_time}" if start_time else "")


def _seen(keys: deque[str], key: str) -> bool:
    """Whether ``key`` was reported; a key seen again becomes the newest.

    A charger replays its oldest unacknowledged record for ever: refreshing
    it keeps it remembered however many sessions follow.
    """
    if key not in keys:
        return False
    keys.remove(key)
    keys.append(key)
    return True


def _stop_reason(reason: StopReason) -> str:
    return reason.name.lower() if reason.known else f"code_{int(reason)}"


class _SessionsStoredData(EventExtraStoredData):
    """The last event, plus the charge ids already reported."""

    def __init__(
        self,
        last_event_type: str | None,
        last_event_attributes: dict[str, Any] | None,
        started: list[str],
        finished: list[str],
    ) -> None:
        super().__init__(last_event_type, last_event_attributes)
        self.started = started
        self.finished = finished

    def as_dict(self) -> dict[str, Any]:
        """Serializable form."""
        return {**super().as_dict(), "started": self.started, "finished": self.finished}

    @classmethod
    def ids(cls, restored: dict[str, Any], key: str) -> list[str]:
        """Charge ids stored under ``key`` (nothing usable: none)."""
        value = restored.get(key)
        if not isinstance(value, list):
            return []
        return [item for item in value if isinstance(item, str)][-REMEMBERED_SESSIONS:]


class EvseMasterSessionEvent(EvseMasterEntity, EventEntity):
    """Fires once when a session starts and once when it is finished."""

    entity_description: EvseMasterEventDescription

    def __init__(
        self,
        coordinator: EvseMasterCoordinator,
        description: EvseMasterEventDescription,
    ) -> None:
        """Nothing reported yet; restored ids follow when added."""
        super().__init__(coordinator, description)
        self._started: deque[str] = deque(maxlen=REMEMBERED_SESSIONS)
        self._finished: deque[str] = deque(maxlen=REMEMBERED_SESSIONS)
        self._stopped: dict[str, ChargingStatus] = {}
        """Last status of each session that stopped and waits for its record."""
        self._fallbacks: dict[str, CALLBACK_TYPE] = {}
        self._last_record: ChargeRecord | None = None
        """The record last handed back as reported (once per record received)."""

    async def async_added_to_hass(self) -> None:
        """Restore the reported ids, then look at what the charger says now."""
        last = await self.async_get_last_extra_data()
        if last is not None:
            restored = last.as_dict()
            self._started.extend(_SessionsStoredData.ids(restored, "started"))
            self._finished.extend(_SessionsStoredData.ids(restored, "finished"))
        await super().async_added_to_hass()
        # Not now: until the entity is added, its state writes (the events)
        # are dropped, and records replayed at the login are waiting already.
        handle = self.hass.loop.call_soon(self._handle_coordinator_update)
        self.async_on_remove(handle.cancel)

    async def async_will_remove_from_hass(self) -> None:
        """Forget pending fallbacks."""
        self._cancel_fallbacks()
        await super().async_will_remove_from_hass()

    @property
    def extra_restore_state_data(self) -> _SessionsStoredData:
        """The last event and the ids already reported."""
        data = super().extra_restore_state_data
        return _SessionsStoredData(
            data.last_event_type,
            data.last_event_attributes,
            list(self._started),
            list(self._finished),
        )

    @property
    def available(self) -> bool:
        """Events are history: the entity stays while the charger is away."""
        return True

    @callback
    def _handle_coordinator_update(self) -> None:
        self._follow(self.coordinator.data)

    @callback
    def _follow(self, state: ChargerState) -> None:
        session = state.session
        if session is not None and (key := _key(session.charge_id, session.start_time)):
            if session.current_state in _RUNNING:
                self._forget_wait(key)  # not over after all (a pause, a late push)
                if not _seen(self._started, key):
                    self._fire_started(key, self._session_details(session))
            elif key in self._started and key not in self._finished:
                # Reported as started (maybe before a restart), over now.
                self._schedule_fallback(key, session)
        record = state.last_record
        if record is self._last_record:
            return  # other fields changed; the charger re-acknowledges replays
        self._last_record = record
        if record is not None and (key := _key(record.charge_id, record.start_time)):
            if not _seen(self._finished, key):
                if not _seen(self._started, key):
                    self._fire_started(key, self._record_start(record))
                self._fire_finished(key, self._record_details(record))
            # Also one reported before a restart: the new client never acknowledged it.
            self.coordinator.charger.record_reported(record)

    def _fire_started(self, key: str, details: dict[str, Any]) -> None:
        self._started.append(key)
        self._fire(SESSION_STARTED, details)

    def _fire_finished(self, key: str, details: dict[str, Any]) -> None:
        self._finished.append(key)
        self._forget_wait(key)
        self._fire(SESSION_FINISHED, details)

    def _fire(self, event_type: str, details: dict[str, Any]) -> None:
        self._trigger_event(event_type, details)
        self.async_write_ha_state()

    @callback
    def _schedule_fallback(self, key: str, session: ChargingStatus) -> None:
        """A session ended without its record so far: wait for it, then report.

        Each session waits on its own: the next one may start (and stop)
        before the wait of the last one is over.
        """
        self._stopped[key] = session
        if key in self._fallbacks:
            return

        @callback
        def report(_now: object) -> None:
            self._fallbacks.pop(key, None)
            stopped = self._stopped.pop(key, None)
            if stopped is not None and not _seen(self._finished, key):
                details = self._session_details(stopped)
                details["end"] = dt_util.utcnow().isoformat()
                details["stop_reason"] = None
                self._fire_finished(key, details)

        self._fallbacks[key] = async_call_later(
            self.hass, const.RECORD_WAIT, HassJob(report, cancel_on_shutdown=True)
        )

    def _forget_wait(self, key: str) -> None:
        self._stopped.pop(key, None)
        if (cancel := self._fallbacks.pop(key, None)) is not None:
            cancel()

    def _cancel_fallbacks(self) -> None:
        for cancel in self._fallbacks.values():
            cancel()
        self._fallbacks.clear()
        self._stopped.clear()

    # --- what the events carry ---------------------------------------------------

    def _time(self, em: int) -> str | None:
        return _iso(self.coordinator.charger.em_to_datetime(em))

    def _session_details(self, session: ChargingStatus) -> dict[str, Any]:
        return {
            "charge_id": session.charge_id,
            "start": self._time(session.start_time),
            "current": session.max_current,
            "energy": session.session_energy,
            "duration": session.duration // 60,
            "max_duration": session.max_duration,
            "max_energy": session.max_energy,
        }

    def _record_start(self, record: ChargeRecord) -> dict[str, Any]:
        return {
            "charge_id": record.charge_id,
            "start": self._time(record.start_time),
            "current": None,
            "max_duration": record.max_duration,
            "max_energy": record.max_energy,
        }

    def _record_details(self, record: ChargeRecord) -> dict[str, Any]:
        return {
            "charge_id": record.charge_id,
            "start": self._time(record.start_time),
            "end": self._time(record.stop_time),
            "energy": record.session_energy,
            "duration": record.charged_time // 60,
            "stop_reason": _stop_reason(record.stop_reason),
            "max_duration": record.max_duration,
            "max_energy": record.max_energy,
        }
