"""Which datagrams a charger session believes (design.md, "Trust").

The protocol has no authentication: anyone on the LAN can send a frame with a
known serial. This module is the whole policy for what such a frame may change
and whether it is answered; the listener and the charger only apply it.

1. A charger frame is one whose command id says so (below 0x8000); the header
   password field does not decide it. Frames with a non-zero key type
   (encrypted, §2.1) are never read.
2. The session is bound to one address. Frames from the bound IP are believed;
   a new source port on that IP is followed.
3. The address moves only through an announcement while no session is up (or
   after the bound address fell silent past the heading timeout), or through
   the answer to our own RequestLogin. Everything else from another IP is
   dropped, counted and never answered.
4. LoginResponse and PasswordError count only as the answer to our
   outstanding RequestLogin, from the IP it went to, before its deadline.
5. Headings count only from the bound IP while logged in, and only then are
   they answered; a heading while logged out proves nothing (the charger
   logs in again instead of answering it).
6. Only believed frames are answered, so answers (which carry the password)
   only ever go to the session's address.
7. When frames with the charger's serial keep coming from another IP
   (:data:`IMPOSTOR_FRAMES` within :data:`IMPOSTOR_WINDOW`), the owner is told:
   another device on the network claims to be this charger.

What the values inside a believed frame may be is :mod:`plausibility`'s job.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .enums import Command
from .frame import CLIENT_COMMAND_BASE, Datagram

type Address = tuple[str, int]


class Drop(StrEnum):
    """Why a datagram was not believed (the diagnostics counter's key)."""

    ENCRYPTED = "encrypted"
    """Non-zero key type: a payload we cannot read."""
    CLIENT_FRAME = "client_frame"
    """A client command id: another client's frame or an echo."""
    FOREIGN = "foreign"
    """From an IP other than the session's."""
    UNSOLICITED = "unsolicited"
    """A login answer nobody asked for, or from where nobody asked."""


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the policy needs to know about one charger's session."""

    bound: Address | None
    """Where the session lives; ``None`` before anything was believed."""
    logged_in: bool
    bound_silent_for: float
    """Seconds since the bound address last sent something we believed."""
    heading_timeout: float
    login_target: Address | None
    """Where our outstanding RequestLogin went, while its answer is due."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's answer for one datagram."""

    drop: Drop | None = None
    rebind: bool = False
    """Believe it and move the session's address to its source."""

    @property
    def believed(self) -> bool:
        """Whether the frame may change anything."""
        return self.drop is None


BELIEVED = Verdict()
BELIEVED_REBIND = Verdict(rebind=True)
_LOGIN_ANSWERS = frozenset({Command.LOGIN_RESPONSE, Command.PASSWORD_ERROR})


def judge(datagram: Datagram, source: Address, session: SessionView) -> Verdict:
    """Decide what a datagram from ``source`` may do to ``session``."""
    if datagram.key_type:
        return Verdict(Drop.ENCRYPTED)
    command = datagram.command
    if command >= CLIENT_COMMAND_BASE:
        return Verdict(Drop.CLIENT_FRAME)
    bound = session.bound
    if command in _LOGIN_ANSWERS:
        target = session.login_target
        if target is None or source[0] != target[0]:
            return Verdict(Drop.UNSOLICITED)
        return BELIEVED if source == bound else BELIEVED_REBIND
    if bound is not None and source[0] == bound[0]:
        return BELIEVED if source[1] == bound[1] else BELIEVED_REBIND
    if command == Command.LOGIN_ANNOUNCEMENT and (
        bound is None
        or not session.logged_in
        or session.bound_silent_for > session.heading_timeout
    ):
        return BELIEVED_REBIND
    return Verdict(Drop.FOREIGN)


def answered(command: int, session: SessionView) -> bool:
    """Whether a believed frame gets its answer (heading response or ack)."""
    return command != Command.HEADING or session.logged_in


IMPOSTOR_FRAMES: Final = 10
IMPOSTOR_WINDOW: Final = 300.0
"""Seconds within which that many foreign frames make an impostor."""
IMPOSTOR_QUIET: Final = 3600.0
"""Seconds without foreign frames after which the impostor is forgotten."""


class ImpostorWatch:
    """Counts frames from other IPs that carry a charger's serial."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self._times: deque[float] = deque(maxlen=IMPOSTOR_FRAMES)

    def foreign(self, now: float) -> bool:
        """Count one; whether they now come often enough to tell the owner."""
        self._times.append(now)
        return (
            len(self._times) == IMPOSTOR_FRAMES
            and now - self._times[0] <= IMPOSTOR_WINDOW
        )

    def quiet(self, now: float) -> bool:
        """Whether no foreign frame came for :data:`IMPOSTOR_QUIET` seconds."""
        return not self._times or now - self._times[-1] >= IMPOSTOR_QUIET
