"""HA-free asyncio implementation of the EVSE Master UDP protocol.

Nothing below this package imports Home Assistant, so it could be published on
its own. Layers: :mod:`frame` (bytes), :mod:`messages` (typed payloads),
:mod:`listener` (the shared UDP endpoint) and :mod:`charger` (one charger's
session and commands). The simulated charger used by the tests and demos lives
in ``tests/simulator``, outside what Home Assistant installs.
"""
