"""Start Home Assistant like ``hass``, on Python 3.13.0 and 3.13.1 too.

Home Assistant 2026.2 refuses to start below Python 3.13.2 (a check in
``homeassistant.__main__`` only; nothing else depends on the patch release).
This dev-only launcher replaces that one check with ``>= 3.13`` and then runs
Home Assistant's own ``main()`` with the same arguments ``hass`` takes:

    .venv/bin/python scripts/hass_launch.py -c .dev/config --skip-pip

Used by ``scripts/develop``; never part of the integration.
"""

from __future__ import annotations

import sys

from homeassistant import __main__ as ha_main

MINIMUM_PYTHON = (3, 13)


def _validate_python() -> None:
    """Accept every Python 3.13 patch release (and newer)."""
    if sys.version_info[:2] < MINIMUM_PYTHON:
        print(
            "Home Assistant needs at least Python "
            f"{MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]}",
            file=sys.stderr,
        )
        sys.exit(1)


def main() -> int:
    """Run Home Assistant with the relaxed Python check."""
    ha_main.validate_python = _validate_python
    return ha_main.main()


if __name__ == "__main__":
    sys.exit(main())
