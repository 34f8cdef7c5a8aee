"""A simulated EVSE Master charger for tests, benchmarks and ``scripts/develop``.

Not part of the integration: Home Assistant never imports it and the release
zip does not contain it.
"""

from .charger import (
    DEFAULT_PASSWORD,
    DEFAULT_SERIAL,
    DEFAULT_TIMINGS,
    MODELS,
    ChargerModel,
    SimulatedCharger,
    SimulatorTimings,
)
from .quirks import NO_QUIRKS, Quirks

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_SERIAL",
    "DEFAULT_TIMINGS",
    "MODELS",
    "NO_QUIRKS",
    "ChargerModel",
    "Quirks",
    "SimulatedCharger",
    "SimulatorTimings",
]
