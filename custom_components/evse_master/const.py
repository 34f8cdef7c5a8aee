"""Constants of the EVSE Master integration."""

from datetime import timedelta
import logging
from typing import Final

from .protocol.charger import ChargerTimings

DOMAIN: Final = "evse_master"
LOGGER = logging.getLogger(__package__)

CONF_SERIAL: Final = "serial"
CONF_PORT: Final = "port"
"""Last-known charger source port (entry data, with CONF_HOST)."""
CONF_STATIC_HOST: Final = "static_host"
"""Charger IP pinned by the user for networks where broadcasts don't arrive."""
CONF_BRAND: Final = "brand"
CONF_MODEL: Final = "model"
"""Brand and model in discovery data (from the announcement); not entry data."""

SETUP_TIMEOUT: Final = 10.0
"""Seconds setup waits for the first login before it retries in the background."""

SETTINGS_REFRESH_INTERVAL: Final = timedelta(minutes=5)
"""How often settings are re-read, to notice changes made in the phone app."""

DISCOVERY_WAIT: Final = 2.0
"""Seconds the user step waits for the first charger to answer the probe."""
CONNECT_WAIT: Final = 10.0
"""Seconds the config flow waits to hear from a typed serial and log in."""

CHARGER_TIMINGS = ChargerTimings()
"""Session timings of every charger; tests shrink them."""

# Options (the options flow).
CONF_ACK_RECORDS: Final = "ack_records"
"""Acknowledge charge records: they stop replaying, and vanish from the app."""
CONF_RELAY_PROTECTION: Final = "relay_protection"
"""Seconds from a stop to the next start (relays and the car's contactors)."""
CONF_CURRENT_POLICY: Final = "current_policy"
"""What a new current does on a charger that applies it only to new sessions."""
POLICY_WAIT: Final = "wait"
POLICY_RESTART: Final = "restart"
CURRENT_POLICIES: Final = (POLICY_WAIT, POLICY_RESTART)
RELAY_PROTECTION_RANGE: Final = (10, 3600)
"""Seconds the relay protection may be set to."""

CURRENT_SETTLE: Final = 30.0
"""Seconds a current change gets to show in the session before it is judged."""
RESTART_SPACING: Final = timedelta(minutes=15)
"""At most one session restart to apply a current in this long."""
RECORD_WAIT: Final = 30.0
"""Seconds a finished session waits for the charger's record before its event."""
