"""The embedded, seeded Car-or-Truck generator: side views drawn with Pillow.

Cars have a low body, a cabin and two wheels; trucks a tall cab, a long cargo
box and two or three axles. Colour, size, position, facing, background, clutter,
occlusion, blur and noise vary, and some cars are tall (vans, SUVs) and some
trucks short (pickups), so a linear head on GAP scores has real work to do.
Files follow the Kaggle layout ``{train,valid}/{Car,Truck}/*.jpeg``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES: tuple[str, ...] = ("Car", "Truck")
SPLITS: tuple[str, ...] = ("train", "valid")


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, size=3))  # type: ignore[return-value]


def _background(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, int]:
    """Sky, ground and clutter; returns the image and the ground line's row."""
    image = Image.new("RGB", (width, height), _colour(rng, 60, 256))
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.45, 0.8))
    sky_top, sky_bottom = np.array(_colour(rng, 80, 256)), np.array(_colour(rng, 80, 256))
    for row in range(horizon):
        mix = row / max(horizon - 1, 1)
        draw.line([(0, row), (width, row)], fill=tuple(int(v) for v in sky_top * (1 - mix) + sky_bottom * mix))
    draw.rectangle([0, horizon, width, height], fill=_colour(rng, 20, 200))
    for _ in range(int(rng.integers(0, 7))):
        kind = rng.integers(0, 4)
        x = int(rng.integers(-10, width))
        w = int(rng.integers(6, max(width // 3, 8)))
        h = int(rng.integers(6, max(height // 2, 8)))
        fill = _colour(rng)
        if kind == 0:  # building
            draw.rectangle([x, horizon - h, x + w, horizon], fill=fill)
        elif kind == 1:  # tree
            draw.rectangle([x + w // 2 - 2, horizon - h // 2, x + w // 2 + 2, horizon], fill=(90, 60, 30))
            draw.ellipse([x, horizon - h, x + w, horizon - h // 3], fill=fill)
        elif kind == 2:  # cloud
            y = int(rng.integers(0, max(horizon // 2, 1)))
            draw.ellipse([x, y, x + w, y + h // 3 + 3], fill=(240, 240, 240))
        else:  # pole or sign
            draw.line([(x, horizon), (x, horizon - h)], fill=fill, width=int(rng.integers(1, 4)))
    return image, horizon


def _wheel(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, rng: np.random.Generator) -> None:
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(20, 20, 20))
    hub = radius * rng.uniform(0.3, 0.55)
    draw.ellipse([cx - hub, cy - hub, cx + hub, cy + hub], fill=_colour(rng, 120, 230))


def _draw_car(draw: ImageDraw.ImageDraw, x0: float, ground: float, length: float, rng: np.random.Generator) -> None:
    tall = rng.random() < 0.15  # vans and SUVs
    body_h = length * rng.uniform(0.2, 0.3) * (1.5 if tall else 1.0)
    wheel_r = length * rng.uniform(0.09, 0.12)
    body_bottom = ground - wheel_r * 0.9
    body_top = body_bottom - body_h
    colour = _colour(rng)
    draw.rounded_rectangle([x0, body_top, x0 + length, body_bottom], radius=body_h * 0.3, fill=colour)
    cabin_h = body_h * rng.uniform(0.5, 0.9) * (0.6 if tall else 1.0)
    a, b = rng.uniform(0.15, 0.35), rng.uniform(0.65, 0.85)
    cabin = [
        (x0 + length * a, body_top),
        (x0 + length * (a + 0.1), body_top - cabin_h),
        (x0 + length * (b - 0.08), body_top - cabin_h),
        (x0 + length * b, body_top),
    ]
    draw.polygon(cabin, fill=colour)
    window = _colour(rng, 120, 240)
    inset = cabin_h * 0.2
    draw.polygon(
        [
            (cabin[0][0] + inset * 1.5, body_top - 1),
            (cabin[1][0] + inset, cabin[1][1] + inset),
            (cabin[2][0] - inset, cabin[2][1] + inset),
            (cabin[3][0] - inset * 1.5, body_top - 1),
        ],
        fill=window,
    )
    for frac in (rng.uniform(0.15, 0.25), rng.uniform(0.75, 0.85)):
        _wheel(draw, x0 + length * frac, ground - wheel_r, wheel_r, rng)


def _draw_truck(draw: ImageDraw.ImageDraw, x0: float, ground: float, length: float, rng: np.random.Generator) -> None:
    pickup = rng.random() < 0.15  # short, open cargo bed
    wheel_r = length * rng.uniform(0.06, 0.09)
    chassis = ground - wheel_r * 1.1
    cab_len = length * rng.uniform(0.2, 0.3)
    cab_h = length * rng.uniform(0.28, 0.4) * (0.7 if pickup else 1.0)
    box_h = length * rng.uniform(0.3, 0.5) * (0.35 if pickup else 1.0)
    cab_colour, box_colour = _colour(rng), _colour(rng)
    gap = length * 0.02
    box_x0 = x0 + cab_len + gap
    draw.rectangle([x0, chassis - wheel_r * 0.5, x0 + length, chassis], fill=(50, 50, 50))
    draw.rectangle([box_x0, chassis - box_h, x0 + length, chassis - wheel_r * 0.5], fill=box_colour)
    draw.rounded_rectangle([x0, chassis - cab_h, x0 + cab_len, chassis], radius=cab_len * 0.15, fill=cab_colour)
    draw.rectangle(
        [x0 + cab_len * 0.15, chassis - cab_h * 0.9, x0 + cab_len * 0.75, chassis - cab_h * 0.55],
        fill=_colour(rng, 120, 240),
    )
    axles = 2 if pickup or rng.random() < 0.5 else 3
    fronts = [x0 + cab_len * 0.5]
    rears = np.linspace(x0 + length * 0.72, x0 + length * 0.9, axles - 1)
    for cx in [*fronts, *rears]:
        _wheel(draw, cx, ground - wheel_r, wheel_r, rng)


def render_vehicle(label: str, rng: np.random.Generator) -> Image.Image:
    """Draw one random side view of a ``Car`` or ``Truck`` as an RGB image."""
    width = int(rng.integers(128, 193))
    height = round(width * rng.uniform(0.7, 0.8))
    image, horizon = _background(rng, width, height)
    draw = ImageDraw.Draw(image)
    length = width * rng.uniform(0.5, 0.85)
    x0 = rng.uniform(0, width - length)
    ground = min(height - 2.0, horizon + rng.uniform(0.1, 0.5) * (height - horizon))
    if label == "Car":
        _draw_car(draw, x0, ground, length, rng)
    elif label == "Truck":
        _draw_truck(draw, x0, ground, length, rng)
    else:
        raise ValueError(f"unknown class {label!r}; allowed: {', '.join(CLASSES)}")
    for _ in range(int(rng.integers(0, 2))):  # occluders in the foreground
        ox = int(rng.integers(0, width))
        ow, oh = int(rng.integers(4, width // 6)), int(rng.integers(4, height // 4))
        oy = int(rng.integers(height // 2, height))
        draw.rectangle([ox, oy - oh, ox + ow, oy], fill=_colour(rng))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.0))))
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0.0, rng.uniform(1.0, 6.0), size=pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def image_rng(seed: int, split: str, label: str, index: int) -> np.random.Generator:
    """An independent generator per image, so each file depends only on its own key."""
    key = [SPLITS.index(split), CLASSES.index(label), index]
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes with fixed settings (byte-identical for identical pixels)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
    return buffer.getvalue()


def generate_dataset(out_dir: str | Path, counts: dict[str, int], seed: int, quality: int = 90) -> int:
    """Write ``counts[split]`` images per class and split under ``out_dir``; return the total."""
    out_dir = Path(out_dir)
    total = 0
    for split in SPLITS:
        for label in CLASSES:
            folder = out_dir / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(counts[split]):
                image = render_vehicle(label, image_rng(seed, split, label, index))
                (folder / f"{label.lower()}_{index:05d}.jpeg").write_bytes(encode_jpeg(image, quality))
                total += 1
    return total
