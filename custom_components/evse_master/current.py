"""Whether a current change reaches the running session, and what to do if not.

Some models (Telestar EC311S, older Morec) keep a session's current until the
next start; others follow a change at once (protocol.md §5.10.1, §8). After a
change of the configured current during a session, made here or in the phone
app, the watch gives the charger :data:`const.CURRENT_SETTLE` seconds, then
compares what the session reports and what the car draws with the new limit,
and remembers per charger what it learned. With the restart policy, a charger
that applies changes only to new sessions gets its session restarted with the
new current: at most once per :data:`const.RESTART_SPACING`, and never sooner
after the stop than the relay protection allows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
import logging
from typing import TYPE_CHECKING

from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from . import const
from .const import POLICY_RESTART
from .protocol.charger import Charger, ChargerState
from .protocol.errors import EvseMasterError

if TYPE_CHECKING:
    from .coordinator import EvseMasterCoordinator

_LOGGER = logging.getLogger(__name__)

MEASURED_TOLERANCE = 1.0
"""Amperes the car may draw above a limit the session follows."""


class CurrentBehaviour(StrEnum):
    """How a charger treats a new maximum current during a session."""

    UNKNOWN = "unknown"
    LIVE = "live"
    """The running session follows it."""
    NEXT_SESSION = "next_session"
    """Only the next session uses it."""


def judge_change(
    state: ChargerState, before: int, wanted: int, drawn_before: float | None
) -> CurrentBehaviour | None:
    """What a settled session says about a change from ``before`` to ``wanted``.

    ``drawn_before`` is what the car drew on L1 when the change was made.
    ``None``: nothing to tell (the session ended, or what it shows fits both).
    """
    session = state.session
    if not state.charging or session is None:
        return None
    if session.max_current == wanted:
        return CurrentBehaviour.LIVE
    reading = state.phase(0)
    measured = reading.current if reading else None
    if (
        measured is not None
        and drawn_before is not None
        and drawn_before > wanted + MEASURED_TOLERANCE
    ):
        # The car drew more than the new limit allows: whether it still does
        # shows if the limit reached it, whatever the session reports.
        if measured <= wanted + MEASURED_TOLERANCE:
            return CurrentBehaviour.LIVE
        if measured >= drawn_before - MEASURED_TOLERANCE:
            return CurrentBehaviour.NEXT_SESSION
    if session.max_current == before:
        return CurrentBehaviour.NEXT_SESSION
    return None


class CurrentWatch:
    """One charger's current changes: learn their effect, restart if asked to."""

    def __init__(
        self, hass: HomeAssistant, coordinator: EvseMasterCoordinator, policy: str
    ) -> None:
        """Nothing learned yet; a restored value may follow (:meth:`restore`)."""
        self.hass = hass
        self._coordinator = coordinator
        self.policy = policy
        self.behaviour = CurrentBehaviour.UNKNOWN
        self._listeners: list[Callable[[], None]] = []
        self._previous = coordinator.data
        self._pending_check: CALLBACK_TYPE | None = None
        self._pending_start: CALLBACK_TYPE | None = None
        self._last_restart: datetime | None = None
        self._judged_from = 0
        self._drawn_before: float | None = None
        self._unsubscribe = coordinator.async_add_listener(self._on_update)

    @property
    def charger(self) -> Charger:
        """The charger watched."""
        return self._coordinator.charger

    @callback
    def restore(self, behaviour: CurrentBehaviour) -> None:
        """What an earlier run learned."""
        self.behaviour = behaviour

    @callback
    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` when :attr:`behaviour` changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def _on_update(self) -> None:
        previous, state = self._previous, self._coordinator.data
        self._previous = state
        before, wanted = previous.settings.max_current, state.settings.max_current
        if (
            before is None
            or wanted is None
            or before == wanted
            or not (previous.charging and state.charging)
        ):
            return
        # A second change before the first settled is judged against the
        # current the session had before either.
        if self._pending_check is None:
            session = previous.session
            reading = previous.phase(0)
            self._judged_from = session.max_current if session else before
            self._drawn_before = reading.current if reading else None
        self._cancel_check()
        judged_from, drawn_before = self._judged_from, self._drawn_before

        @callback
        def settled(_now: datetime) -> None:
            self._pending_check = None
            self._settled(judged_from, wanted, drawn_before)

        self._pending_check = async_call_later(
            self.hass, const.CURRENT_SETTLE, HassJob(settled, cancel_on_shutdown=True)
        )

    @callback
    def _settled(self, before: int, wanted: int, drawn_before: float | None) -> None:
        state = self._coordinator.data
        verdict = judge_change(state, before, wanted, drawn_before)
        if verdict is not None and verdict is not self.behaviour:
            _LOGGER.info(
                "Charger %s applies a new current %s",
                state.serial,
                "at once"
                if verdict is CurrentBehaviour.LIVE
                else "from the next session",
            )
            self.behaviour = verdict
            for listener in tuple(self._listeners):
                listener()
        if verdict is CurrentBehaviour.NEXT_SESSION and self.policy == POLICY_RESTART:
            self._restart(wanted)

    @callback
    def _restart(self, amps: int) -> None:
        now = dt_util.utcnow()
        spacing = const.RESTART_SPACING
        if self._last_restart is not None and now - self._last_restart < spacing:
            _LOGGER.info(
                "Charger %s: not restarting the session for %s A: the last"
                " restart was at %s (at most one per %s)",
                self.charger.serial,
                amps,
                self._last_restart.isoformat(),
                spacing,
            )
            return
        self._last_restart = now
        self.hass.async_create_background_task(
            self._async_restart(amps), f"evse_master restart {self.charger.serial}"
        )

    async def _async_restart(self, amps: int) -> None:
        charger = self.charger
        _LOGGER.info(
            "Charger %s applies a new current only to new sessions: restarting"
            " the session with %s A",
            charger.serial,
            amps,
        )
        try:
            await charger.stop_charging()
        except EvseMasterError as err:
            _LOGGER.warning(
                "Charger %s: the stop to apply %s A failed: %s",
                charger.serial,
                amps,
                err,
            )
            return

        @callback
        def start(_now: datetime) -> None:
            self._pending_start = None
            self.hass.async_create_background_task(
                self._async_start(amps), f"evse_master start {charger.serial}"
            )

        self._pending_start = async_call_later(
            self.hass,
            charger.restart_allowed_in(),
            HassJob(start, cancel_on_shutdown=True),
        )

    async def _async_start(self, amps: int) -> None:
        charger = self.charger
        try:
            await charger.start_charging(amps)
        except EvseMasterError as err:
            _LOGGER.warning(
                "Charger %s: the session could not be started again with %s A: %s",
                charger.serial,
                amps,
                err,
            )

    @callback
    def _cancel_check(self) -> None:
        if self._pending_check is not None:
            self._pending_check()
            self._pending_check = None

    @callback
    def close(self) -> None:
        """Stop watching; forget pending checks and starts (the entry unloads)."""
        self._unsubscribe()
        self._cancel_check()
        if self._pending_start is not None:
            self._pending_start()
            self._pending_start = None
