"""The schema library of the running Home Assistant.

Home Assistant replaced voluptuous with probatio (a compatible, typed engine)
in 2026.x and aliases ``voluptuous`` to it at runtime; older releases, down to
the oldest we support, validate with voluptuous itself. Config flows build
their schemas with whichever one Home Assistant uses.
"""

try:
    import probatio as vol  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Home Assistant before probatio
    import voluptuous as vol  # type: ignore[no-redef,unused-ignore]

__all__ = ["vol"]
