"""Pure-PyTorch z-buffered triangle rasteriser (CPU and GPU, batched over frames).

How it works:

1. Vertex positions are snapped to a fixed-point grid of ``1 / 2**SUBPIXEL_BITS``
   pixel (like GPU rasterisers) so that edge functions are computed exactly in
   int64: neighbouring triangles share edges without cracks or double coverage.
2. Every (frame, triangle) pair lists the pixel centres inside its bounding box;
   all of these candidates are enumerated as one flat range that is processed in
   chunks of ``chunk_elements`` (so memory stays bounded whatever the triangle
   sizes), and each candidate is tested against the three edge functions.
3. Covered candidates write a packed int64 key ``(depth bits << 32) | face index``
   into the z-buffer with ``scatter_reduce(..., "amin")``: the nearest surface
   wins, ties go to the lower face index, and the result does not depend on the
   draw order or on the chunk size.
4. Barycentrics of the winning triangle are recomputed once per covered pixel and
   made perspective-correct.

Coverage rule: a pixel ``(col, row)`` is covered when its centre
``(col + 0.5, row + 0.5)`` lies inside the triangle; a centre exactly on an edge
counts only for top and left edges (the Direct3D / OpenGL top-left rule), so a
pixel on an edge shared by two triangles is drawn exactly once.

Limits: triangles with a vertex at ``depth <= min_depth`` are dropped rather than
clipped, as are triangles with a vertex farther than ``GUARD_BAND_PX`` pixels from
the origin (both only happen for geometry crossing the camera plane).
"""

from __future__ import annotations

import torch

from .types import Rasterization, check_cull, check_screen_inputs

SUBPIXEL_BITS = 8
GUARD_BAND_PX = float(1 << 20)
DEFAULT_CHUNK_ELEMENTS = 1 << 20
_EMPTY_KEY = torch.iinfo(torch.int64).max
_FACE_BITS = 32


def _edge(ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor, px: torch.Tensor, py: torch.Tensor):
    """Edge function of the directed edge a->b at p (twice the signed area of a, b, p)."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _ceil_div(a: torch.Tensor, b: int) -> torch.Tensor:
    return -torch.div(-a, b, rounding_mode="floor")


@torch.no_grad()
def rasterize_torch(
    verts_px: torch.Tensor,
    faces: torch.Tensor,
    height: int,
    width: int,
    *,
    cull: str = "none",
    min_depth: float = 1e-6,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> Rasterization:
    """Rasterise triangles given in pixel space.

    Args:
        verts_px: ``[B,V,3]`` or ``[V,3]`` float: continuous pixel ``x``, pixel ``y``
            (origin at the top-left image corner, pixel centres at ``+0.5``) and
            camera depth ``z`` (> 0 in front of the camera).
        faces: ``[F,3]`` integer vertex indices (shared by all frames).
        height, width: output size in pixels.
        cull: ``"none"`` draws both sides (default); ``"back"`` drops back-facing
            triangles, ``"front"`` front-facing ones. A triangle is front-facing
            when its vertices run counter-clockwise as seen on screen (right-hand
            normal towards the camera: the SMPL / OpenGL convention); in y-down
            pixel coordinates its signed area is negative.
        min_depth: triangles with any vertex at ``z <= min_depth`` are dropped.
        chunk_elements: candidate pixels processed at once (memory bound); the
            output does not depend on it.

    Returns:
        :class:`Rasterization` on the device of ``verts_px``.
    """
    verts_px = check_screen_inputs(verts_px, faces, height, width)
    check_cull(cull)
    if chunk_elements <= 0:
        raise ValueError(f"chunk_elements must be positive, got {chunk_elements}")
    height, width = int(height), int(width)
    device = verts_px.device
    faces = faces.to(device=device, dtype=torch.int64)
    n_frames = verts_px.shape[0]
    n_pix = height * width
    sub = 1 << SUBPIXEL_BITS
    half = sub // 2

    xy = verts_px[..., :2].double()
    z = verts_px[..., 2].double()
    finite = torch.isfinite(xy).all(-1) & torch.isfinite(z) & (xy.abs() <= GUARD_BAND_PX).all(-1)
    q = torch.where(finite.unsqueeze(-1), xy * sub, torch.zeros_like(xy)).round().long()  # [B,V,2]
    vert_ok = finite & (z > min_depth)

    # Per (frame, face) data: [B,F,3] vertex coordinates.
    qx = q[..., 0][:, faces]
    qy = q[..., 1][:, faces]
    ok = vert_ok[:, faces].all(-1)
    area2 = _edge(qx[..., 0], qy[..., 0], qx[..., 1], qy[..., 1], qx[..., 2], qy[..., 2])
    ok &= area2 != 0
    if cull == "back":
        ok &= area2 < 0
    elif cull == "front":
        ok &= area2 > 0
    # Pixel-centre bounding box: columns c with c*sub + half in [min qx, max qx].
    c0 = _ceil_div(qx.amin(-1) - half, sub).clamp(min=0)
    c1 = torch.div(qx.amax(-1) - half, sub, rounding_mode="floor").clamp(max=width - 1)
    r0 = _ceil_div(qy.amin(-1) - half, sub).clamp(min=0)
    r1 = torch.div(qy.amax(-1) - half, sub, rounding_mode="floor").clamp(max=height - 1)
    ok &= (c0 <= c1) & (r0 <= r1)

    frame_idx, face_idx = ok.nonzero(as_tuple=True)
    zbuf = torch.full((n_frames * n_pix,), _EMPTY_KEY, dtype=torch.int64, device=device)
    if frame_idx.numel():
        _fill_zbuffer(
            zbuf,
            frame_idx,
            face_idx,
            qx[frame_idx, face_idx],
            qy[frame_idx, face_idx],
            z[frame_idx.unsqueeze(-1), faces[face_idx]],
            area2[frame_idx, face_idx],
            c0[frame_idx, face_idx],
            c1[frame_idx, face_idx],
            r0[frame_idx, face_idx],
            r1[frame_idx, face_idx],
            width,
            n_pix,
            chunk_elements,
        )
    return _resolve(zbuf, q, z, faces, n_frames, height, width)


def _edge_coefficients(ax, ay, bx, by, sign):
    """Integer plane ``w(col, row) = A col + B row + C`` of the edge a->b at pixel centres.

    ``w > 0`` exactly when the centre ``(col + 0.5, row + 0.5)`` is on the inner side
    of the edge, or on the edge itself when the top-left rule accepts it. With
    edge functions multiplied by ``sign`` (positive inside), the interior lies
    towards +x of a "left" edge and towards +y (below, y is down) of a horizontal
    "top" edge.
    """
    sub = 1 << SUBPIXEL_BITS
    half = sub // 2
    a = -(by - ay) * sign  # d w / d x
    b = (bx - ax) * sign  # d w / d y
    c = ((by - ay) * ax - (bx - ax) * ay) * sign
    accept = (a > 0) | ((a == 0) & (b > 0))  # left edge, or horizontal top edge
    return a * sub, b * sub, c + (a + b) * half + accept.long()


def _fill_zbuffer(
    zbuf, frame_idx, face_idx, qx, qy, zt, area2, c0, c1, r0, r1, width, n_pix, chunk_elements
) -> None:
    """Enumerate candidate pixels of the listed triangles and z-test them into ``zbuf``."""
    device = zbuf.device
    bw = c1 - c0 + 1
    counts = bw * (r1 - r0 + 1)
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1])
    sign = torch.sign(area2)
    x0, x1, x2 = qx.unbind(-1)
    y0, y1, y2 = qy.unbind(-1)
    # Edge i is opposite vertex i: 1->2, 2->0, 0->1.
    table = torch.stack(
        [
            *_edge_coefficients(x1, y1, x2, y2, sign),
            *_edge_coefficients(x2, y2, x0, y0, sign),
            *_edge_coefficients(x0, y0, x1, y1, sign),
            c0,
            r0,
            bw,
            ends - counts,
            frame_idx * n_pix,
        ],
        dim=-1,
    )  # [N,14] int64
    inv_z = (1.0 / zt).float()  # [N,3]
    area_f = area2.abs().float()
    for s in range(0, total, chunk_elements):
        k = torch.arange(s, min(s + chunk_elements, total), device=device, dtype=torch.int64)
        t = torch.searchsorted(ends, k, right=True)
        tab = table[t]
        local = k - tab[:, 12]
        w_t = tab[:, 11]
        row_off = torch.div(local, w_t, rounding_mode="floor")
        col = tab[:, 9] + (local - row_off * w_t)
        row = tab[:, 10] + row_off
        e0 = tab[:, 0] * col + tab[:, 1] * row + tab[:, 2]
        e1 = tab[:, 3] * col + tab[:, 4] * row + tab[:, 5]
        e2 = tab[:, 6] * col + tab[:, 7] * row + tab[:, 8]
        sel = ((e0 > 0) & (e1 > 0) & (e2 > 0)).nonzero(as_tuple=True)[0]
        if sel.numel() == 0:
            continue
        t = t[sel]
        e = torch.stack([e0[sel], e1[sel], e2[sel]], dim=-1).float()
        inv_depth = (e * inv_z[t]).sum(-1) / area_f[t]
        depth = (1.0 / inv_depth).clamp(min=1e-30)
        key = (depth.view(torch.int32).long() << _FACE_BITS) | face_idx[t]
        pix = tab[sel, 13] + row[sel] * width + col[sel]
        zbuf.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)


def _resolve(zbuf, q, z, faces, n_frames, height, width) -> Rasterization:
    """Turn the packed z-buffer into face ids, barycentrics and depth."""
    device = zbuf.device
    n_pix = height * width
    sub = 1 << SUBPIXEL_BITS
    half = sub // 2
    face_id = torch.full((n_frames * n_pix,), -1, dtype=torch.int64, device=device)
    bary = torch.zeros(n_frames * n_pix, 3, dtype=torch.float32, device=device)
    depth = torch.zeros(n_frames * n_pix, dtype=torch.float32, device=device)
    pix = (zbuf != _EMPTY_KEY).nonzero(as_tuple=True)[0]
    if pix.numel():
        f = zbuf[pix] & ((1 << _FACE_BITS) - 1)
        b = torch.div(pix, n_pix, rounding_mode="floor")
        rem = pix - b * n_pix
        row = torch.div(rem, width, rounding_mode="floor")
        px = (rem - row * width) * sub + half
        py = row * sub + half
        vid = faces[f]  # [N,3]
        qx = q[b.unsqueeze(-1), vid, 0]
        qy = q[b.unsqueeze(-1), vid, 1]
        zt = z[b.unsqueeze(-1), vid]
        e = torch.stack(
            [
                _edge(qx[:, 1], qy[:, 1], qx[:, 2], qy[:, 2], px, py),
                _edge(qx[:, 2], qy[:, 2], qx[:, 0], qy[:, 0], px, py),
                _edge(qx[:, 0], qy[:, 0], qx[:, 1], qy[:, 1], px, py),
            ],
            dim=-1,
        ).double()
        screen = e / e.sum(-1, keepdim=True)  # screen-space barycentrics
        persp = screen / zt
        inv_depth = persp.sum(-1, keepdim=True)
        face_id[pix] = f
        bary[pix] = (persp / inv_depth).float()
        depth[pix] = (1.0 / inv_depth.squeeze(-1)).float()
    return Rasterization(
        face_id=face_id.view(n_frames, height, width),
        bary=bary.view(n_frames, height, width, 3),
        depth=depth.view(n_frames, height, width),
        faces=faces,
    )
