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
