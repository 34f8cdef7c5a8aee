"""Protocol constants.

The ports are module attributes read at call time, so tests can patch them.
"""

from typing import Final

LISTEN_HOST: str = "0.0.0.0"
"""Address the client endpoint binds; tests use loopback."""

LISTEN_PORT: int = 28376
"""UDP port every charger sends to; clients must listen here."""

CHARGER_FALLBACK_PORT: int = 7248
"""Charger port to use before any datagram from it has revealed its real one."""

BROADCAST_ADDRESS: Final = "255.255.255.255"

MIN_CURRENT: Final = 6
"""Lowest charging current any EVSE Master charger accepts, in amperes."""

ABSOLUTE_MAX_CURRENT: Final = 32
"""No charger of this family takes more than this, whatever it announces."""

NICKNAME_MAX_LENGTH: Final = 11
"""Longest nickname (after the ``ACP#`` prefix) that every model accepts."""

RECEIVE_BUFFER_SIZE: Final = 4096
