"""Rotation helpers (axis-angle, matrices, rigid alignment) used by the body models and the fitter.

Axis-angle vectors are ``[..., 3]`` (radians, direction = axis); rotation matrices are ``[..., 3, 3]``
acting on column vectors.
"""

from __future__ import annotations

import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, smooth (and with a correct gradient) at the zero rotation.

    Args:
        axis_angle: ``[..., 3]`` rotation vectors in radians.
    Returns:
        ``[..., 3, 3]`` rotation matrices.
    """
    if axis_angle.shape[-1] != 3:
        raise ValueError(f"axis_angle must end with a dimension of 3, got shape {tuple(axis_angle.shape)}")
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # [...,1,1]
    small = theta2 < 1e-8
    safe_theta2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe_theta2.sqrt()
    # sin(t)/t and (1-cos(t))/t^2 with their Taylor expansions near zero.
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / safe_theta2)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`axis_angle_to_matrix` (angles in ``[0, pi]``), via unit quaternions.

    Args:
        matrix: ``[..., 3, 3]`` rotation matrices.
    Returns:
        ``[..., 3]`` rotation vectors in radians.
    """
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(f"matrix must end with 3x3, got shape {tuple(matrix.shape)}")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    # Shepperd's method: build the quaternion (w, x, y, z) from its largest component for stability.
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    r = diag.clamp_min(1e-12).sqrt()  # [..., 4]: 2 * |component|
    r0, r1, r2, r3 = r.unbind(-1)
    quats = torch.stack(
        [
            torch.stack([r0 / 2, d21 / (2 * r0), d02 / (2 * r0), d10 / (2 * r0)], -1),
            torch.stack([d21 / (2 * r1), r1 / 2, s01 / (2 * r1), s02 / (2 * r1)], -1),
            torch.stack([d02 / (2 * r2), s01 / (2 * r2), r2 / 2, s12 / (2 * r2)], -1),
            torch.stack([d10 / (2 * r3), s02 / (2 * r3), s12 / (2 * r3), r3 / 2], -1),
        ],
        dim=-2,
    )  # [..., 4 cases, 4]
    best = diag.argmax(-1)
    q = quats.gather(-2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    q = q * torch.where(q[..., :1] < 0, -1.0, 1.0)  # w >= 0, so the angle lies in [0, pi]
    q = q / q.norm(dim=-1, keepdim=True)
    sin_half = q[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-8), torch.full_like(angle, 2.0))
    return q[..., 1:] * scale


def kabsch_rotation(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Rotation ``R`` minimising ``sum w |R (s - s_mean) - (t - t_mean)|^2`` (no scale, no reflection).

    Args:
        source: ``[B, N, 3]`` points.
        target: ``[B, N, 3]`` points.
        weights: optional ``[B, N]`` non-negative weights.
    Returns:
        ``[B, 3, 3]`` rotations.
    """
    if source.shape != target.shape or source.shape[-1] != 3:
        raise ValueError(f"source and target must both be [B,N,3], got {tuple(source.shape)} and {tuple(target.shape)}")
    w = torch.ones(source.shape[:-1], dtype=source.dtype, device=source.device) if weights is None else weights
    w = w[..., None]
    wsum = w.sum(-2, keepdim=True).clamp_min(1e-12)
    s = source - (w * source).sum(-2, keepdim=True) / wsum
    t = target - (w * target).sum(-2, keepdim=True) / wsum
    cov = (w * t).transpose(-1, -2) @ s  # [B,3,3]
    u, _, vh = torch.linalg.svd(cov)
    d = torch.det(u @ vh)
    fix = torch.ones_like(u[..., 0, :])
    fix[..., 2] = d
    return (u * fix[..., None, :]) @ vh


def similarity_fit(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation ``R`` and scale ``s`` minimising ``sum |s R (x - x_mean) - (y - y_mean)|^2`` (no reflection).

    Args:
        source: ``[B, N, 3]`` points ``x``.
        target: ``[B, N, 3]`` points ``y``.
    Returns:
        ``([B, 3, 3] rotations, [B] scales)``.
    """
    src_c = source - source.mean(1, keepdim=True)
    dst_c = target - target.mean(1, keepdim=True)
    u, sv, vh = torch.linalg.svd(dst_c.transpose(1, 2) @ src_c)
    fix = torch.ones_like(sv)
    fix[:, 2] = torch.sign(torch.det(u @ vh))
    rot = (u * fix[:, None]) @ vh
    scale = (sv * fix).sum(-1) / src_c.square().sum((1, 2)).clamp_min(1e-12)
    return rot, scale
