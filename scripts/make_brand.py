#!/usr/bin/env python3
"""Draw the integration's brand images into custom_components/evse_master/brand/.

The mark is a rounded square with a vertical green gradient and the face of a
Type 2 (IEC 62196-2) charging plug in white: a circle with a flat top and the
2-3-2 pin pattern cut out. The logo is the mark followed by the wordmark
"EVSE Master" ("EVSE" heavy, "Master" in the brand green); dark_logo is the
same with light text for dark themes. The icon needs no dark variant: its
background is opaque.

Everything is drawn without anti-aliasing at 4x the @2x size (8x the 1x
size), then box-averaged down, which anti-aliases every edge the same way.
The wordmark uses Pillow's built-in Aileron font (``ImageFont.load_default``),
so no system font is needed.

Usage (from the repository root)::

    .venv/bin/python scripts/make_brand.py          # (re)write the PNGs
    .venv/bin/python scripts/make_brand.py --check  # exit 1 if they are stale

``--check`` compares decoded pixels, not file bytes: the PNG bytes depend on
the zlib build Pillow links against, the pixels only on the pinned Pillow.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
import io
import math
from pathlib import Path
import sys

from PIL import Image, ImageChops, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BRAND_DIR = ROOT / "custom_components" / "evse_master" / "brand"

type RGB = tuple[int, int, int]
type Point = tuple[float, float]

ICON_SIZE = 256  # icon.png; icon@2x.png is twice this
LOGO_HEIGHT = 256  # logo.png; logo@2x.png is twice this
SUPERSAMPLE = 4  # drawing scale relative to each @2x image

GRADIENT_TOP: RGB = (46, 204, 128)
GRADIENT_BOTTOM: RGB = (10, 130, 108)
FACE: RGB = (255, 255, 255)
CORNER_RADIUS = 0.225  # of the mark's side


@dataclass(frozen=True, kw_only=True)
class WordmarkColors:
    """Colours of the two words of the wordmark."""

    evse: RGB
    master: RGB


LIGHT_THEME = WordmarkColors(evse=(31, 41, 55), master=(13, 150, 104))
DARK_THEME = WordmarkColors(evse=(243, 244, 246), master=(52, 211, 153))


class Canvas:
    """An RGB colour plane plus an alpha plane, painted layer by layer.

    Keeping alpha separate avoids the dark fringes that blending a colour into
    transparent black would give; the planes are joined at the end.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.color = Image.new("RGB", (width, height), FACE)
        self.alpha = Image.new("L", (width, height), 0)

    def new_mask(self) -> Image.Image:
        """Return an empty mask the size of the canvas."""
        return Image.new("L", (self.width, self.height), 0)

    def paint(self, fill: Image.Image | RGB, mask: Image.Image) -> None:
        """Paint a solid colour or an RGB image where ``mask`` is set."""
        layer = (
            fill
            if isinstance(fill, Image.Image)
            else Image.new("RGB", self.color.size, fill)
        )
        self.color = Image.composite(layer, self.color, mask)
        self.alpha = ImageChops.lighter(self.alpha, mask)

    def image(self) -> Image.Image:
        """Return the painted RGBA image."""
        result = self.color.copy()
        result.putalpha(self.alpha)
        return result


def vertical_gradient(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    """Return an RGB image fading from ``top`` to ``bottom``."""
    column = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(height - 1, 1)
        column.putpixel(
            (0, y),
            (
                round(top[0] + (bottom[0] - top[0]) * t),
                round(top[1] + (bottom[1] - top[1]) * t),
                round(top[2] + (bottom[2] - top[2]) * t),
            ),
        )
    return column.resize((width, height), Image.Resampling.NEAREST)


def arc(
    center: Point, radius: float, start: float, end: float, steps: int
) -> list[Point]:
    """Return points on a circle from angle ``start`` to ``end`` (radians, y down)."""
    cx, cy = center
    return [
        (
            cx + radius * math.cos(start + (end - start) * i / steps),
            cy + radius * math.sin(start + (end - start) * i / steps),
        )
        for i in range(steps + 1)
    ]


def plug_face(
    center: Point, radius: float, flat: float, rounding: float
) -> list[Point]:
    """Outline of a Type 2 plug face: a circle cut flat ``flat`` above its centre.

    The two corners where the flat top meets the circle are rounded with radius
    ``rounding``. Returns a closed polygon, clockwise on screen.
    """
    cx, cy = center
    corner_y = cy - flat + rounding
    corner_dx = math.sqrt((radius - rounding) ** 2 - (corner_y - cy) ** 2)
    right_angle = math.atan2(
        corner_y - cy, corner_dx
    )  # where the right corner meets the circle
    left_angle = math.pi - right_angle
    steps = 720
    return [
        *arc(
            (cx + corner_dx, corner_y), rounding, -math.pi / 2, right_angle, steps // 8
        ),
        *arc(center, radius, right_angle, left_angle, steps),
        *arc(
            (cx - corner_dx, corner_y),
            rounding,
            left_angle,
            3 * math.pi / 2,
            steps // 8,
        ),
    ]


# Pins of the face, in units of the face radius from its centre: (x, y, radius).
# Top row: the two small signal pins; then three and two power pins.
PINS: Sequence[tuple[float, float, float]] = (
    (-0.29, -0.36, 0.10),
    (0.29, -0.36, 0.10),
    (-0.56, 0.06, 0.155),
    (0.0, 0.06, 0.155),
    (0.56, 0.06, 0.155),
    (-0.30, 0.53, 0.155),
    (0.30, 0.53, 0.155),
)
FACE_RADIUS = 0.36  # of the mark's side
FACE_FLAT = 0.66  # flat top, above the centre, in face radii
FACE_ROUNDING = 0.2  # corner rounding, in face radii


def paint_mark(canvas: Canvas, left: float, size: float) -> None:
    """Paint the square mark of side ``size`` with its left edge at ``left``."""
    box = (left, 0.0, left + size - 1, size - 1)
    background = canvas.new_mask()
    ImageDraw.Draw(background).rounded_rectangle(
        box, radius=CORNER_RADIUS * size, fill=255
    )
    gradient = Image.new("RGB", canvas.color.size, GRADIENT_TOP)
    gradient.paste(
        vertical_gradient(round(size), canvas.height, GRADIENT_TOP, GRADIENT_BOTTOM),
        (round(left), 0),
    )
    canvas.paint(gradient, background)

    radius = FACE_RADIUS * size
    # Centre the face's bounding box (flat top to bottom of the circle).
    center = (left + size / 2, size / 2 - radius * (1 - FACE_FLAT) / 2)
    face = canvas.new_mask()
    draw = ImageDraw.Draw(face)
    draw.polygon(
        plug_face(center, radius, FACE_FLAT * radius, FACE_ROUNDING * radius), fill=255
    )
    for x, y, r in PINS:
        px, py = center[0] + x * radius, center[1] + y * radius
        draw.ellipse(
            (px - r * radius, py - r * radius, px + r * radius, py + r * radius), fill=0
        )
    canvas.paint(FACE, face)


def wordmark_font(height: int) -> ImageFont.FreeTypeFont:
    """Return the wordmark font sized for a logo ``height`` pixels high."""
    font = ImageFont.load_default(round(height * 0.56))
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise SystemExit("Pillow was built without FreeType; cannot draw the wordmark")
    return font


def draw_word(
    mask: Image.Image,
    font: ImageFont.FreeTypeFont,
    origin: Point,
    word: str,
    *,
    weight: int,
    tracking: float,
) -> float:
    """Draw ``word`` glyph by glyph on ``mask``; return the x after its last glyph.

    ``weight`` thickens the glyphs by stroking them; each glyph then advances
    by twice that more, so the letters keep their gaps.
    """
    draw = ImageDraw.Draw(mask)
    x, baseline = origin
    for char in word:
        draw.text(
            (x + weight, baseline),
            char,
            font=font,
            fill=255,
            anchor="ls",
            stroke_width=weight,
            stroke_fill=255,
        )
        x += font.getlength(char) + 2 * weight + tracking
    return x - tracking


def word_width(
    font: ImageFont.FreeTypeFont, word: str, *, weight: int, tracking: float
) -> float:
    """Return the width ``draw_word`` gives ``word``."""
    return sum(font.getlength(char) + 2 * weight + tracking for char in word) - tracking


def render_icon(size: int) -> Image.Image:
    """Return the square icon, ``size`` pixels wide, drawn at ``SUPERSAMPLE``x."""
    scale = size * SUPERSAMPLE
    canvas = Canvas(scale, scale)
    paint_mark(canvas, 0, scale)
    return downsample(canvas.image(), SUPERSAMPLE)


def render_logo(height: int, colors: WordmarkColors) -> Image.Image:
    """Return the logo (mark + wordmark), ``height`` pixels high."""
    scale = height * SUPERSAMPLE
    font = wordmark_font(scale)
    heavy = round(scale * 0.018)
    medium = round(scale * 0.006)
    tracking = scale * 0.006
    gap = scale * 0.2
    space = scale * 0.15
    evse_width = word_width(font, "EVSE", weight=heavy, tracking=tracking)
    master_width = word_width(font, "Master", weight=medium, tracking=tracking)
    width = math.ceil(scale + gap + evse_width + space + master_width) + scale // 8
    canvas = Canvas(width, scale)
    paint_mark(canvas, 0, scale)

    # Centre the capitals vertically on the mark.
    cap_top = font.getbbox("E", anchor="ls")[1]
    baseline = (scale - cap_top) / 2
    evse = canvas.new_mask()
    end = draw_word(
        evse, font, (scale + gap, baseline), "EVSE", weight=heavy, tracking=tracking
    )
    canvas.paint(colors.evse, evse)
    master = canvas.new_mask()
    draw_word(
        master,
        font,
        (end + space, baseline),
        "Master",
        weight=medium,
        tracking=tracking,
    )
    canvas.paint(colors.master, master)
    # Trim to a width that stays whole in the @2x and the 1x image.
    return downsample(trim(canvas.image(), 2 * SUPERSAMPLE), SUPERSAMPLE)


def trim(image: Image.Image, multiple: int) -> Image.Image:
    """Crop transparent columns on the right, keeping the width a ``multiple``."""
    bbox = image.getchannel("A").getbbox()
    if bbox is None:
        return image
    right = min(math.ceil(bbox[2] / multiple) * multiple, image.width)
    return image.crop((0, 0, right, image.height))


def downsample(image: Image.Image, factor: int) -> Image.Image:
    """Box-average ``image`` down by an integer ``factor`` (alpha-premultiplied)."""
    return image.resize(
        (image.width // factor, image.height // factor), Image.Resampling.BOX
    )


def half(image: Image.Image) -> Image.Image:
    """Return the 1x image from its @2x rendering."""
    return downsample(image, 2)


def png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as an optimised PNG without metadata."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def build() -> dict[str, Image.Image]:
    """Return every brand image by file name."""
    icon_2x = render_icon(2 * ICON_SIZE)
    images = {"icon@2x.png": icon_2x, "icon.png": half(icon_2x)}
    for prefix, colors in (("", LIGHT_THEME), ("dark_", DARK_THEME)):
        logo_2x = render_logo(2 * LOGO_HEIGHT, colors)
        images[f"{prefix}logo@2x.png"] = logo_2x
        images[f"{prefix}logo.png"] = half(logo_2x)
    return images


def same_pixels(path: Path, image: Image.Image) -> bool:
    """Return whether the PNG at ``path`` decodes to exactly ``image``."""
    if not path.is_file():
        return False
    with Image.open(path) as stored:
        same_shape: bool = stored.mode == image.mode and stored.size == image.size
        return same_shape and stored.tobytes() == image.tobytes()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the brand images, or with ``--check`` verify they are current."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--check", action="store_true", help="only verify the committed images"
    )
    args = parser.parse_args(argv)
    images = build()
    if args.check:
        stale = [
            name
            for name, image in images.items()
            if not same_pixels(BRAND_DIR / name, image)
        ]
        for name in stale:
            path = BRAND_DIR.relative_to(ROOT) / name
            print(f"stale: {path} (run scripts/make_brand.py)")
        return 1 if stale else 0
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        (BRAND_DIR / name).write_bytes(png_bytes(image))
        print(
            f"wrote {BRAND_DIR.relative_to(ROOT) / name} {image.width}x{image.height}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
