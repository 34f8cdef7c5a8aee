"""Snapshots that mean the same on every Home Assistant version we test."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
    HomeAssistantSnapshotSerializer,
)


class _VersionNeutralSerializer(HomeAssistantSnapshotSerializer):
    """Home Assistant's serializer with string-enum keys written as plain strings.

    Newer releases key state attributes by ``EntityStateAttribute`` members
    (``friendly_name`` then prints as the enum); the value is the same string.
    """

    @classmethod
    def _serialize(cls, data: Any, **kwargs: Any) -> str:
        if isinstance(data, dict) and any(isinstance(key, StrEnum) for key in data):
            data = type(data)(
                (str(key) if isinstance(key, StrEnum) else key, value)
                for key, value in data.items()
            )
        return super()._serialize(data, **kwargs)


class VersionNeutralSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot files, written version-neutrally."""

    serializer_class = _VersionNeutralSerializer
