"""HA-free asyncio implementation of the EVSE Master UDP protocol.

Nothing below this package imports Home Assistant, so it could be published on
its own. Layers: :mod:`frame` (bytes), :mod:`messages` (typed payloads),
:mod:`listener` (the shared UDP endpoint), :mod:`charger` (one charger's
session and commands) and :mod:`simulator` (a charger for tests and demos).
"""
