"""Shared fixtures for every test."""

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from tests.snapshot import VersionNeutralSnapshotExtension


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/evse_master."""


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """Re-enable sockets; the plugin still only allows 127.0.0.1."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's snapshot format on every version we test.

    Registry entries' ``aliases`` differs in form between the versions (an
    empty set on 2026.2; a list holding the computed-name marker later); we set
    no aliases, so it is left out. State attribute keys: see the extension.
    """
    return snapshot.use_extension(VersionNeutralSnapshotExtension).with_defaults(
        exclude=props("aliases")
    )
