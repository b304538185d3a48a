"""Procedural image textures for synthetic backgrounds, occluders and clothing.

Every function takes a ``numpy.random.Generator`` so a clip is a pure function of its seed.
Images are ``[H,W,3] float32`` RGB in 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

TEXTURE_KINDS = ("gradient", "noise", "checker", "shapes", "stripes")


def random_colour(rng: np.random.Generator, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """``[3] float32`` RGB drawn uniformly in ``lo..hi``."""
    return rng.uniform(lo, hi, 3).astype(np.float32)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int = 6, channels: int = 3) -> np.ndarray:
    """Value noise: a random ``cells x cells`` grid upsampled bicubically -> ``[H,W,C]`` float32 in 0..1."""
    grid = rng.uniform(0.0, 1.0, (cells, cells, channels)).astype(np.float32)
    out = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out.reshape(height, width, channels), 0.0, 1.0)


def gradient_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Linear gradient between two colours along a random direction."""
    a, b = random_colour(rng), random_colour(rng)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    proj = np.cos(angle) * xx / max(width - 1, 1) + np.sin(angle) * yy / max(height - 1, 1)
    proj = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
    return (a * (1 - proj[..., None]) + b * proj[..., None]).astype(np.float32)


def noise_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two colours mixed by smooth noise, plus a little fine grain."""
    a, b = random_colour(rng), random_colour(rng)
    t = smooth_noise(rng, height, width, cells=int(rng.integers(3, 10)), channels=1)
    grain = rng.normal(0.0, 0.02, (height, width, 1)).astype(np.float32)
    return np.clip(a * (1 - t) + b * t + grain, 0.0, 1.0).astype(np.float32)


def checker_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Checkerboard of two colours with a random cell size and offset."""
    a, b = random_colour(rng), random_colour(rng)
    cell = max(2, int(rng.uniform(0.05, 0.2) * max(height, width)))
    oy, ox = (int(v) for v in rng.integers(0, cell, 2))
    yy, xx = np.mgrid[0:height, 0:width]
    parity = (((yy + oy) // cell + (xx + ox) // cell) % 2).astype(np.float32)[..., None]
    return (a * (1 - parity) + b * parity).astype(np.float32)


def stripes_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Parallel stripes of two colours at a random angle and period."""
    a, b = random_colour(rng), random_colour(rng)
    angle = rng.uniform(0, np.pi)
    period = max(3.0, rng.uniform(0.04, 0.2) * max(height, width))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (np.cos(angle) * xx + np.sin(angle) * yy) / period
    s = (np.floor(phase) % 2).astype(np.float32)[..., None]
    return (a * (1 - s) + b * s).astype(np.float32)


def shapes_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A noisy base covered with random filled rectangles and ellipses."""
    img = noise_texture(rng, height, width)
    scale = max(height, width)
    for _ in range(int(rng.integers(4, 12))):
        colour = tuple(float(c) for c in random_colour(rng))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        rx, ry = (max(1, int(v * scale)) for v in rng.uniform(0.03, 0.2, 2))
        if rng.random() < 0.5:
            cv2.rectangle(img, (cx - rx, cy - ry), (cx + rx, cy + ry), colour, thickness=-1)
        else:
            cv2.ellipse(img, (cx, cy), (rx, ry), float(rng.uniform(0, 180)), 0, 360, colour, thickness=-1)
    return img


_MAKERS = {
    "gradient": gradient_texture,
    "noise": noise_texture,
    "checker": checker_texture,
    "shapes": shapes_texture,
    "stripes": stripes_texture,
}


def procedural_texture(
    rng: np.random.Generator, height: int, width: int, kind: str | None = None
) -> tuple[np.ndarray, str]:
    """A random texture.

    Args:
        rng: random source.
        height, width: size in pixels (>= 1).
        kind: one of :data:`TEXTURE_KINDS`; ``None`` picks one at random.
    Returns:
        ``(image [H,W,3] float32 in 0..1, kind)``.
    """
    if height < 1 or width < 1:
        raise ValueError(f"texture size must be positive, got {height}x{width}")
    if kind is None:
        kind = str(rng.choice(TEXTURE_KINDS))
    if kind not in _MAKERS:
        raise ValueError(f"unknown texture kind {kind!r}; expected one of {TEXTURE_KINDS}")
    return _MAKERS[kind](rng, height, width), kind
