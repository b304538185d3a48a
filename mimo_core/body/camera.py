"""Full-frame pinhole camera convention used for fitted motions (the HMR 2.0 / 4D-Humans one).

Camera frame: OpenCV (x right, y down, z forward), pixels with the origin at the top-left corner.
"""

from __future__ import annotations

import torch


def default_focal_length(width: int, height: int) -> float:
    """Focal length in pixels, ``5000 / 256 * max(W, H)``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width={width}, height={height}")
    return 5000.0 / 256.0 * float(max(width, height))


def project_points(points: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor) -> torch.Tensor:
    """Pinhole projection.

    Args:
        points: ``[B, N, 3]`` camera-frame points in metres (z > 0 in front of the camera).
        focal: ``[B, 2]`` (fx, fy) in pixels.
        principal: ``[B, 2]`` (cx, cy) in pixels.
    Returns:
        ``[B, N, 2]`` pixel coordinates.
    """
    z = points[..., 2:3].clamp_min(1e-3)
    return points[..., :2] / z * focal[:, None, :] + principal[:, None, :]
