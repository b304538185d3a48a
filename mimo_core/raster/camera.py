"""Pinhole camera used to project the posed body mesh into an image.

Conventions (shared by every backend of :mod:`mimo_core.raster`):

* Camera space follows OpenCV: +x to the right, +y down, +z forward (into the
  scene). A point is visible when its ``z`` is positive.
* Pixel coordinates are continuous, measured from the top-left *corner* of the
  image: pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)`` and is sampled
  at its centre ``(col + 0.5, row + 0.5)``.
* Projection: ``u = fx * x / z + cx``, ``v = fy * y / z + cy``. With
  ``cx = W / 2, cy = H / 2`` the optical axis passes through the exact centre of
  the image, which is what pyrender's ``IntrinsicsCamera`` (used by HMR 2.0 /
  4D-Humans and the MIMO release) does with ``cx = W / 2``.
* Optional extrinsics map world to camera space: ``p_cam = R @ p_world + t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# HMR 2.0 / 4D-Humans: focal length of the 256x256 crop model; the full-image
# focal length is this value scaled by max(W, H) / 256.
HMR2_CROP_FOCAL = 5000.0
HMR2_CROP_SIZE = 256


@dataclass(frozen=True)
class PerspectiveCamera:
    """A pinhole camera with intrinsics in pixels and optional extrinsics.

    Attributes:
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in continuous pixel coordinates (see module doc).
        width, height: image size in pixels (> 0).
        R: optional world-to-camera rotation, ``[3,3]`` or per frame ``[B,3,3]``.
        t: optional world-to-camera translation, ``[3]`` or per frame ``[B,3]``.
        znear: points with ``z <= znear`` are treated as behind the camera.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    R: torch.Tensor | None = None
    t: torch.Tensor | None = None
    znear: float = 1e-3

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"camera focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"camera image size must be positive, got {self.width}x{self.height}")
        if self.znear <= 0:
            raise ValueError(f"camera znear must be positive, got {self.znear}")
        if self.R is not None and tuple(self.R.shape[-2:]) != (3, 3):
            raise ValueError(f"camera R must be [3,3] or [B,3,3], got {tuple(self.R.shape)}")
        if self.t is not None and self.t.shape[-1] != 3:
            raise ValueError(f"camera t must be [3] or [B,3], got {tuple(self.t.shape)}")

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the image in pixels."""
        return int(self.height), int(self.width)

    def intrinsic_matrix(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The 3x3 matrix ``K`` with ``[u*z, v*z, z] = K @ [x, y, z]``."""
        return torch.tensor(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=dtype
        )

    def world_to_camera(self, verts: torch.Tensor) -> torch.Tensor:
        """Apply the extrinsics. verts: ``[B,V,3]`` or ``[V,3]``; same shape out.

        Without ``R`` and ``t`` the input is returned unchanged (already in camera space).
        """
        _check_points(verts, "verts")
        out = verts
        if self.R is not None:
            R = self.R.to(device=verts.device, dtype=verts.dtype)
            out = out @ R.transpose(-1, -2)
        if self.t is not None:
            t = self.t.to(device=verts.device, dtype=verts.dtype)
            out = out + t.unsqueeze(-2)
        return out

    def project(self, verts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project points to pixels.

        Args:
            verts: ``[B,V,3]`` or ``[V,3]`` points (world space when ``R``/``t`` are
                set, otherwise camera space).

        Returns:
            ``(xy, depth)``: ``xy`` ``[..., V, 2]`` continuous pixel coordinates (see
            module doc), ``depth`` ``[..., V]`` camera-space ``z``. Points at
            ``z <= znear`` get ``xy`` computed with ``z`` clamped to ``znear``; callers
            must use ``depth`` to discard them.
        """
        cam = self.world_to_camera(verts)
        z = cam[..., 2]
        zc = z.clamp(min=self.znear)
        u = self.fx * cam[..., 0] / zc + self.cx
        v = self.fy * cam[..., 1] / zc + self.cy
        return torch.stack([u, v], dim=-1), z

    def unproject(self, xy: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`project` for camera-space points.

        Args:
            xy: ``[..., 2]`` pixel coordinates. depth: ``[...]`` camera ``z``.

        Returns:
            ``[..., 3]`` points in camera space (extrinsics are not undone).
        """
        x = (xy[..., 0] - self.cx) / self.fx * depth
        y = (xy[..., 1] - self.cy) / self.fy * depth
        return torch.stack([x, y, depth], dim=-1)

    def to_screen(self, verts: torch.Tensor) -> torch.Tensor:
        """``[B,V,3]``/``[V,3]`` -> ``[..., V, 3]`` holding ``(u, v, z)``: the input of the rasterisers."""
        xy, z = self.project(verts)
        return torch.cat([xy, z.unsqueeze(-1)], dim=-1)


def hmr2_full_focal(width: int, height: int) -> float:
    """HMR 2.0 full-image focal length in pixels: ``5000 / 256 * max(W, H)``."""
    return HMR2_CROP_FOCAL / HMR2_CROP_SIZE * float(max(width, height))


def full_frame_camera(width: int, height: int, focal: float | None = None) -> PerspectiveCamera:
    """Camera for a whole ``width x height`` frame, principal point at the centre.

    Args:
        width, height: image size in pixels.
        focal: focal length in pixels; ``None`` uses the HMR 2.0 / 4D-Humans
            convention ``5000 / 256 * max(W, H)``.
    """
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    f = hmr2_full_focal(width, height) if focal is None else float(focal)
    return PerspectiveCamera(fx=f, fy=f, cx=width / 2.0, cy=height / 2.0, width=int(width), height=int(height))


def cam_crop_to_full(
    cam_crop: torch.Tensor,
    box_center: torch.Tensor,
    box_size: torch.Tensor,
    image_size: torch.Tensor | tuple[int, int],
    focal: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Weak-perspective crop camera -> camera translation for the full image.

    HMR 2.0 predicts ``(s, tx, ty)`` for a square crop of side ``box_size`` pixels
    centred at ``box_center``. The body translation that reproduces the same
    projection in the full image with focal ``f`` is::

        tz = 2 f / (s * box_size)
        tx' = tx + 2 (cx_box - W/2) / (s * box_size)
        ty' = ty + 2 (cy_box - H/2) / (s * box_size)

    Args:
        cam_crop: ``[N,3]`` ``(s, tx, ty)``, ``s > 0``.
        box_center: ``[N,2]`` box centre ``(x, y)`` in pixels.
        box_size: ``[N]`` box side in pixels.
        image_size: ``(W, H)`` or ``[N,2]`` per-row ``(W, H)``.
        focal: full-image focal length in pixels (scalar or ``[N]``); ``None``
            uses :func:`hmr2_full_focal` of each row's image size.

    Returns:
        ``[N,3]`` translation ``(tx, ty, tz)`` to add to the model-space vertices
        to obtain camera-space vertices (OpenCV convention).
    """
    if cam_crop.ndim != 2 or cam_crop.shape[-1] != 3:
        raise ValueError(f"cam_crop must be [N,3] (s, tx, ty), got {tuple(cam_crop.shape)}")
    n = cam_crop.shape[0]
    if tuple(box_center.shape) != (n, 2):
        raise ValueError(f"box_center must be [{n},2], got {tuple(box_center.shape)}")
    box_size = box_size.reshape(-1).to(cam_crop)
    if box_size.shape[0] != n:
        raise ValueError(f"box_size must have {n} entries, got {tuple(box_size.shape)}")
    size = torch.as_tensor(image_size, dtype=cam_crop.dtype, device=cam_crop.device)
    size = size.reshape(-1, 2).expand(n, 2)
    w, h = size[:, 0], size[:, 1]
    if focal is None:
        f = HMR2_CROP_FOCAL / HMR2_CROP_SIZE * torch.maximum(w, h)
    else:
        f = torch.as_tensor(focal, dtype=cam_crop.dtype, device=cam_crop.device).reshape(-1).expand(n)
    bs = box_size * cam_crop[:, 0] + 1e-9
    tz = 2.0 * f / bs
    tx = 2.0 * (box_center[:, 0].to(cam_crop) - w / 2.0) / bs + cam_crop[:, 1]
    ty = 2.0 * (box_center[:, 1].to(cam_crop) - h / 2.0) / bs + cam_crop[:, 2]
    return torch.stack([tx, ty, tz], dim=-1)


def _check_points(verts: torch.Tensor, name: str) -> None:
    if not isinstance(verts, torch.Tensor) or verts.ndim not in (2, 3) or verts.shape[-1] != 3:
        shape = tuple(verts.shape) if isinstance(verts, torch.Tensor) else type(verts).__name__
        raise ValueError(f"{name} must be a [B,V,3] or [V,3] tensor, got {shape}")
