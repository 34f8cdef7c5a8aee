"""Ways a simulated charger can deviate from the default, real-unit behaviour.

Each field of :class:`Quirks` switches on one behaviour seen in other
implementations (PyPI ``evsemaster``'s FakeEvse, protocol.md §11) or reported
for real units (protocol.md §3.4, §5.1, §5.3, §5.5). ``Quirks()`` is the
default charger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["NO_QUIRKS", "UNLISTED_THREE_PHASE_TYPE", "Quirks"]

type HeaderPassword = Literal["ff", "zeros", "own"]
type SettingEcho = Literal["set", "get"]

UNLISTED_THREE_PHASE_TYPE: Final = 9
"""A device type outside the three-phase list of §5.1 (S9 reads byte 70 for it)."""

_HEADER_PASSWORDS: Final = frozenset({"ff", "zeros", "own"})
_SETTING_ECHOES: Final = frozenset({"set", "get"})


@dataclass(frozen=True, slots=True)
class Quirks:
    """Behaviours a :class:`~tests.simulator.SimulatedCharger` can switch on."""

    header_password: HeaderPassword = "ff"
    """Password field of every datagram the charger sends: ``"ff"`` FF x 6
    (real units), ``"zeros"`` six 0x00, ``"own"`` the charger's own password
    as ASCII (FakeEvse's replies)."""
    setting_echo: SettingEcho = "set"
    """Action byte of the replies to SET requests of the byte settings
    (0x8107, 0x810F, 0x8112, 0x810D) and the nickname (0x8108): ``"set"``
    echoes 1; ``"get"`` answers with 2 (and the stored value), like FakeEvse."""
    unlisted_three_phase: bool = False
    """Announce and log in with device type 9, which the three-phase list of
    §5.1 lacks, while being wired and reporting as three-phase: three phases
    unless ``phases`` says otherwise, and a status with L2/L3 (33 bytes or
    more)."""
    pushes: bool = True
    """False: never push 0x0004 status or 0x0005 charging status. Polls
    (0x800D, 0x8006), headings and records are still answered and sent."""
    headings_stop_after: float | None = None
    """Seconds after a LoginConfirm after which headings to that client stop;
    the client stays the client (pushes go on, it is not dropped for missed
    heading answers). The next login heads again."""
    completed_needs_stop: bool = False
    """After a session reached Completed (state 15/17), refuse an immediate
    start (error 8 UNKNOWN_REASON) until a 0x8008 stop arrived, as the BLE
    library ``besen`` reports (§5.5); planned starts are accepted."""
    long_payloads: bool = False
    """Status payloads of 40 bytes (byte 33 = 0x03, byte 34 = 0xFF, then
    zeros, as in the Morec capture) and device info of 145 bytes (the
    119-byte layout plus 26 zero bytes)."""
    broadcast_headings: bool = False
    """Send headings for the current client to the announcement address too
    (§3.4: some firmware broadcasts them), so a client that lost the session
    still hears them."""

    def __post_init__(self) -> None:
        """Reject values the simulator cannot act on."""
        if self.header_password not in _HEADER_PASSWORDS:
            raise ValueError(f"header_password: one of {sorted(_HEADER_PASSWORDS)}")
        if self.setting_echo not in _SETTING_ECHOES:
            raise ValueError(f"setting_echo: one of {sorted(_SETTING_ECHOES)}")
        stop_after = self.headings_stop_after
        if stop_after is not None and not stop_after >= 0:  # NaN fails too
            raise ValueError("headings_stop_after must be a number >= 0")


NO_QUIRKS: Final = Quirks()
"""The default: behave like the real units the sources describe."""
