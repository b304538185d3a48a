"""Clothing-like per-vertex colours for a synthetic character.

Regions come from the canonical (zero-pose) body of the character: normalised height
``h = (y - y_min) / (y_max - y_min)`` (0 = soles, 1 = top of the head) and the sideways
distance ``|x|`` relative to the body height. Shirt (with random sleeve length), trousers or
shorts, shoes, skin and hair each get a colour; shirt and trousers may carry a pattern
(stripes or noise over the body surface).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .textures import random_colour

SKIN_TONES = np.array(
    [[0.96, 0.80, 0.69], [0.90, 0.72, 0.56], [0.78, 0.57, 0.44], [0.62, 0.43, 0.30], [0.45, 0.30, 0.20],
     [0.33, 0.22, 0.15]],
    np.float32,
)  # fmt: skip
HAIR_COLOURS = np.array(
    [[0.08, 0.06, 0.05], [0.25, 0.15, 0.08], [0.55, 0.38, 0.20], [0.85, 0.72, 0.45], [0.60, 0.60, 0.60]],
    np.float32,
)  # fmt: skip

# Region boundaries, as fractions of the standing height (Anny's average body).
NECK_H = 0.855
WAIST_H = 0.55
KNEE_H = 0.30
SHOE_H = 0.045
ARM_X = 0.105  # |x| / height beyond which a vertex above the waist is on an arm
HAND_X = 0.265  # |x| / height beyond which it is on the hand


@dataclass
class Outfit:
    """The sampled look of a character (colours RGB 0..1)."""

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    shirt_alt: np.ndarray
    trousers: np.ndarray
    trousers_alt: np.ndarray
    shoes: np.ndarray
    sleeve_end: float  # |x| / height where sleeves end (ARM_X = sleeveless, HAND_X = long)
    shorts: bool
    shirt_pattern: str  # 'plain' | 'hstripes' | 'vstripes' | 'noise'
    trousers_pattern: str  # 'plain' | 'noise'
    stripe_period: float  # metres
    bald: bool


def sample_outfit(rng: np.random.Generator) -> Outfit:
    """Draw a random outfit."""
    return Outfit(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05),
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))].copy(),
        shirt=random_colour(rng),
        shirt_alt=random_colour(rng),
        trousers=random_colour(rng, 0.05, 0.7),
        trousers_alt=random_colour(rng, 0.05, 0.7),
        shoes=random_colour(rng, 0.02, 0.5),
        sleeve_end=float(rng.uniform(ARM_X, HAND_X)),
        shorts=bool(rng.random() < 0.25),
        shirt_pattern=str(rng.choice(["plain", "hstripes", "vstripes", "noise"])),
        trousers_pattern=str(rng.choice(["plain", "plain", "noise"])),
        stripe_period=float(rng.uniform(0.04, 0.15)),
        bald=bool(rng.random() < 0.15),
    )


def _surface_noise(points: np.ndarray, rng: np.random.Generator, waves: int = 6) -> np.ndarray:
    """Smooth noise over 3D points: a sum of random plane waves -> ``[V]`` in 0..1."""
    dirs = rng.normal(size=(waves, 3)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    freq = rng.uniform(5.0, 25.0, waves).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, waves).astype(np.float32)
    s = np.sin(points @ dirs.T * freq + phase).mean(1)
    return np.clip(0.5 + s, 0.0, 1.0)


def clothing_colours(rest_vertices: np.ndarray, outfit: Outfit, rng: np.random.Generator) -> np.ndarray:
    """Per-vertex albedo of a dressed character.

    Args:
        rest_vertices: ``[V,3]`` the character's canonical zero-pose vertices (metres, Y up, facing +Z,
            left at +X; see :mod:`mimo_core.body.base`).
        outfit: colours and cut (:func:`sample_outfit`).
        rng: random source for the patterns.
    Returns:
        ``[V,3] float32`` RGB in 0..1.
    """
    v = np.asarray(rest_vertices, np.float32)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"rest_vertices must be [V,3], got {v.shape}")
    y_min, y_max = float(v[:, 1].min()), float(v[:, 1].max())
    height = max(y_max - y_min, 1e-6)
    h = (v[:, 1] - y_min) / height
    side = np.abs(v[:, 0]) / height
    colours = np.empty_like(v)
    colours[:] = outfit.skin

    # shirt: torso and sleeves
    shirt_alt = np.zeros(len(v), bool)
    if outfit.shirt_pattern == "hstripes":
        shirt_alt = (np.floor(v[:, 1] / outfit.stripe_period) % 2).astype(bool)
    elif outfit.shirt_pattern == "vstripes":
        shirt_alt = (np.floor(v[:, 0] / outfit.stripe_period) % 2).astype(bool)
    shirt = (h > WAIST_H) & (h <= NECK_H) & (side < outfit.sleeve_end)
    if outfit.shirt_pattern == "noise":
        t = _surface_noise(v, rng)[:, None]
        colours[shirt] = (outfit.shirt * (1 - t) + outfit.shirt_alt * t)[shirt]
    else:
        colours[shirt & ~shirt_alt] = outfit.shirt
        colours[shirt & shirt_alt] = outfit.shirt_alt

    # trousers or shorts
    legs = (h <= WAIST_H) & (h > SHOE_H) & (side < ARM_X * 1.6)
    if outfit.shorts:
        legs &= h > KNEE_H
    if outfit.trousers_pattern == "noise":
        t = _surface_noise(v, rng)[:, None]
        colours[legs] = (outfit.trousers * (1 - t) + outfit.trousers_alt * t)[legs]
    else:
        colours[legs] = outfit.trousers
    colours[h <= SHOE_H] = outfit.shoes

    # hair: top and back of the head
    if not outfit.bald:
        head = h > NECK_H + 0.02
        z_mid = float(np.median(v[head, 2])) if head.any() else 0.0
        hair = head & ((h > 0.955) | ((v[:, 2] < z_mid) & (h > 0.9)))
        colours[hair] = outfit.hair
    return np.clip(colours, 0.0, 1.0).astype(np.float32)
