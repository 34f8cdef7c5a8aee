"""Fixtures of the peer tests (PyPI ``evsemaster`` 3.0.0, see ``support``)."""

import sys

from tests.components.conftest import (  # noqa: F401 (fixtures used here)
    entity_registry_enabled_by_default,
    listen_port,
    only_platforms,
    platforms,
    probe_targets,
)

if sys.version_info < (3, 14):
    # evsemaster 3.0.0 requires Python >= 3.14, so the oldest leg (Python 3.13)
    # cannot install it: collect nothing here. Everything in this directory
    # needs it, and it must not be imported on that leg.
    collect_ignore_glob = ["*"]
else:
    # Unconditional on Python 3.14: without evsemaster this fails loudly.
    from tests.peer.support import (  # noqa: F401 (fixtures used by the tests)
        charger_timings,
        fake_entry,
        fake_entry_options,
        fake_evse,
        fake_integration,
        fake_options,
        peer_listener,
        peer_waits,
        start_fake,
    )
