"""Flat textured objects (rectangles, discs) that pass between the camera and the person.

An occluder is a sprite moving on a straight line across the clip. All occluders of a clip lie
nearer to the camera than any point of the person, so wherever an occluder is drawn it hides the
person: its mask is exactly the occlusion mask. Overlapping occluders are drawn far to near.
Drawing uses no anti-aliasing, so masks are exact (0 or 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .textures import procedural_texture


@dataclass
class Occluder:
    """One moving sprite.

    shape: ``'rect'`` or ``'disc'``.
    size: ``(half_width, half_height)`` pixels (a disc uses them as ellipse radii).
    start, end: centre ``(x, y)`` in pixels at the first and last frame.
    depth: distance from the camera in metres (only its order matters for drawing).
    texture: ``[2*hh+1, 2*hw+1, 3]`` float32 RGB 0..1, moves with the sprite.
    """

    shape: str
    size: tuple[int, int]
    start: tuple[float, float]
    end: tuple[float, float]
    depth: float
    texture: np.ndarray

    def centre(self, frame: int, frames: int) -> tuple[int, int]:
        a = 0.0 if frames <= 1 else frame / (frames - 1)
        x = self.start[0] + a * (self.end[0] - self.start[0])
        y = self.start[1] + a * (self.end[1] - self.start[1])
        return int(round(x)), int(round(y))

    def local_mask(self) -> np.ndarray:
        """``[2*hh+1, 2*hw+1]`` bool footprint of the sprite."""
        hw, hh = self.size
        m = np.zeros((2 * hh + 1, 2 * hw + 1), np.uint8)
        if self.shape == "rect":
            m[:] = 1
        else:
            cv2.ellipse(m, (hw, hh), (hw, hh), 0, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8)
        return m.astype(bool)


def sample_occluders(
    rng: np.random.Generator,
    height: int,
    width: int,
    near_depth: float,
    count: int | None = None,
    target: tuple[float, float] | None = None,
) -> list[Occluder]:
    """Draw 0-2 occluders that cross the frame in front of the person.

    Args:
        rng: random source.
        height, width: frame size in pixels.
        near_depth: depth of the person's nearest point; occluders are placed at 30-80 % of it.
        count: number of occluders; ``None`` draws 0 (35 %), 1 (45 %) or 2 (20 %).
        target: ``(x, y)`` pixels, usually the person's centre: 60 % of the paths pass through it
            half-way through the clip.
    """
    if count is None:
        count = int(rng.choice([0, 1, 2], p=[0.35, 0.45, 0.2]))
    out = []
    for _ in range(count):
        shape = "rect" if rng.random() < 0.6 else "disc"
        hw = max(1, int(rng.uniform(0.06, 0.2) * width))
        hh = max(1, int(rng.uniform(0.06, 0.3) * height))
        if rng.random() < 0.3:  # a post: thin and tall
            hw, hh = max(1, hw // 3), max(hh, int(0.4 * height))
        texture, _ = procedural_texture(rng, 2 * hh + 1, 2 * hw + 1)
        y0, y1 = rng.uniform(0.2, 0.9, 2) * height
        if rng.random() < 0.5:  # left to right or back
            xs = (-hw, width + hw) if rng.random() < 0.5 else (width + hw, -hw)
        else:  # enters partly, drifts
            xs = tuple(rng.uniform(0.0, 1.0, 2) * width)
        if target is not None and rng.random() < 0.6:  # shift the path so its midpoint hits the target
            dx = target[0] + rng.normal(0, 0.05 * width) - (xs[0] + xs[1]) / 2
            dy = target[1] + rng.normal(0, 0.1 * height) - (y0 + y1) / 2
            xs, y0, y1 = (xs[0] + dx, xs[1] + dx), y0 + dy, y1 + dy
        out.append(
            Occluder(shape=shape, size=(hw, hh), start=(float(xs[0]), float(y0)), end=(float(xs[1]), float(y1)),
                     depth=float(near_depth * rng.uniform(0.3, 0.8)), texture=texture)
        )  # fmt: skip
    return out


def draw_occluders(occluders: list[Occluder], frame: int, frames: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Render the occluders of one frame.

    Returns:
        ``(rgb [H,W,3] float32 0..1 (0 outside), mask [H,W] bool)``.
    """
    rgb = np.zeros((height, width, 3), np.float32)
    mask = np.zeros((height, width), bool)
    for occ in sorted(occluders, key=lambda o: -o.depth):  # far to near
        cx, cy = occ.centre(frame, frames)
        hw, hh = occ.size
        local = occ.local_mask()
        x0, y0 = cx - hw, cy - hh
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + 2 * hw + 1, width), min(y0 + 2 * hh + 1, height)
        if fx0 >= fx1 or fy0 >= fy1:
            continue
        sub = local[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        tex = occ.texture[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        region_rgb = rgb[fy0:fy1, fx0:fx1]
        region_rgb[sub] = tex[sub]
        mask[fy0:fy1, fx0:fx1] |= sub
    return rgb, mask
