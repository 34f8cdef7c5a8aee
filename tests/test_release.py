"""The release zip: exactly what Home Assistant runs, nothing for development."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
import sys
import zipfile

import pytest

from custom_components.evse_master import PLATFORMS
from scripts.build_release_zip import build, main

PACKAGE = "custom_components.evse_master"


def loaded_modules() -> set[str]:
    """Modules of the integration that Home Assistant imports to run it."""
    for name in (
        PACKAGE,
        f"{PACKAGE}.config_flow",
        f"{PACKAGE}.diagnostics",
        *(f"{PACKAGE}.{platform}" for platform in PLATFORMS),
    ):
        importlib.import_module(name)
    return {name for name in sys.modules if name.startswith(PACKAGE)}


def test_zip_holds_what_runs(tmp_path: Path) -> None:
    """Every module in the zip is one Home Assistant loads, and all of those."""
    output = tmp_path / "evse_master.zip"
    build(output, "1.2.3")
    with zipfile.ZipFile(output) as zipped:
        names = set(zipped.namelist())
        manifest = json.loads(zipped.read("manifest.json"))
    assert manifest["version"] == "1.2.3"
    assert manifest["domain"] == "evse_master"
    assert {"brand/icon.png", "translations/en.json", "icons.json"} <= names
    shipped_modules = {
        f"{PACKAGE}.{name.removesuffix('.py').replace('/', '.')}".removesuffix(
            ".__init__"
        )
        for name in names
        if name.endswith(".py")
    }
    assert shipped_modules == loaded_modules()
    assert not [name for name in names if "simulator" in name or "test" in name]
    assert not [
        name for name in names if "__pycache__" in name or name.endswith(".pyc")
    ]


def test_zip_is_reproducible(tmp_path: Path) -> None:
    """The same sources give the same bytes."""
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build(first, "1.0.0")
    build(second, "1.0.0")
    assert first.read_bytes() == second.read_bytes()


def test_version_must_look_like_one(tmp_path: Path) -> None:
    """A tag that is not a version fails the build, before anything is written."""
    with pytest.raises(ValueError, match="not a version"):
        build(tmp_path / "x.zip", "latest")
    assert not (tmp_path / "x.zip").exists()
    with pytest.raises(SystemExit):
        main(["--version", "v1", "--output", str(tmp_path / "y.zip")])
    assert main(["--output", str(tmp_path / "z.zip")]) == 0
