"""Build the release zip HACS installs: the integration folder's contents.

    python scripts/build_release_zip.py --version 1.2.3 --output evse_master.zip

``manifest.json`` sits at the zip root (hacs.json: ``zip_release``), with its
version set from ``--version``. Only files Home Assistant uses go in: Python
modules, JSON and YAML, and the brand images; caches never. The release
workflow and ``tests/test_release.py`` both build it with this script.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import re
import sys
import zipfile

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "custom_components" / "evse_master"
SHIPPED_SUFFIXES = frozenset({".py", ".json", ".yaml", ".png"})
VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([.-]?[0-9A-Za-z]+)*$")


def shipped_files(package: Path = PACKAGE) -> list[Path]:
    """Files of the integration that go into the zip, relative to ``package``."""
    return sorted(
        path.relative_to(package)
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix in SHIPPED_SUFFIXES
        and "__pycache__" not in path.parts
    )


def build(output: Path, version: str | None = None, package: Path = PACKAGE) -> None:
    """Write the zip; ``version`` replaces manifest.json's when given."""
    if version is not None and not VERSION.match(version):
        raise ValueError(f"{version!r} is not a version such as 1.2.3")
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zipped:
        for relative in shipped_files(package):
            data = (package / relative).read_bytes()
            if relative == Path("manifest.json") and version is not None:
                manifest = json.loads(data)
                manifest["version"] = version
                data = (json.dumps(manifest, indent=2) + "\n").encode()
            # A fixed timestamp: the same sources give the same zip.
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, data)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="version for manifest.json (from the tag)")
    parser.add_argument("--output", type=Path, default=Path("evse_master.zip"))
    options = parser.parse_args(argv)
    try:
        build(options.output, options.version)
    except ValueError as err:
        parser.error(str(err))
    with zipfile.ZipFile(options.output) as zipped:
        for name in zipped.namelist():
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
