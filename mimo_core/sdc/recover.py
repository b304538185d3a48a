"""Recover the sdc colour table from an official template (``vid.mp4`` + ``sdc.mp4``).

Given the posed body of every template frame (a body fit of ``vid.mp4`` in the release's camera)
and the frames of ``sdc.mp4``, each pixel's colour is a known linear mix of vertex colours:
``pixel = gain * mean_over_samples(sum_k bary_k * colour[vertex_k])`` (black where a sample misses
the body), exactly the model of :func:`mimo_core.sdc.render_sdc`. All pixels of all frames give a
sparse least-squares problem in the ``V x 3`` unknowns, solved by iteratively reweighted least
squares (Huber weights: compression ringing and fit misalignment are down-weighted) with a weak
smoothness term over mesh edges. The alignment of fit and template is checked per frame by the
silhouette IoU of the rendered body against the non-black pixels of ``sdc.mp4``. Vertices never
seen take the colour of their nearest seen neighbours on the mesh and are flagged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from ..raster import rasterize
from .renderer import SDC_GAIN, hide_vertices, sample_offsets, sdc_camera

logger = logging.getLogger("mimo")


@dataclass
class SdcRecovery:
    """A recovered colour table and how well each vertex was observed.

    Attributes:
        table: ``[V,3]`` float32 table colours in 0..1 (rendered colour / gain, clipped).
        rendered: ``[V,3]`` float32 solved rendered colours (what a pixel on the vertex shows), 0..1.
        seen: ``[V]`` bool, vertex observed with at least ``min_weight`` pixel weight.
        filled: ``[V]`` bool, not seen: colour copied from the nearest seen neighbours.
        pixel_weight: ``[V]`` float, sum of the vertex's weights over all used pixels (~pixels covered).
        frames_seen: ``[V]`` int, frames in which the vertex covers at least 0.05 pixel.
        residual: ``[V]`` float, weighted RMS colour residual (0..1 units) of the pixels it touches.
        clipped: ``[V]`` bool, table colour above 1 before clipping (the gain does not explain it).
        silhouette_iou: ``[T]`` float, IoU of the rendered body vs the template's non-black pixels.
        info: summary numbers (share seen, pixels used, iterations ...).
    """

    table: np.ndarray
    rendered: np.ndarray
    seen: np.ndarray
    filled: np.ndarray
    pixel_weight: np.ndarray
    frames_seen: np.ndarray
    residual: np.ndarray
    clipped: np.ndarray
    silhouette_iou: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def share_seen(self) -> float:
        """Fraction of vertices observed."""
        return float(self.seen.mean())


@dataclass
class _Observations:
    rows: list[np.ndarray] = field(default_factory=list)  # [N, K] vertex ids
    weights: list[np.ndarray] = field(default_factory=list)  # [N, K] mixing weights
    colours: list[np.ndarray] = field(default_factory=list)  # [N, 3] observed colours
    frame: list[np.ndarray] = field(default_factory=list)  # [N] frame index


def _as_frames(frames: Any) -> np.ndarray:
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"sdc_frames must be [T,H,W,3] RGB, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32)


def _collect(
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    frames: np.ndarray,
    focal: float | None,
    samples: int,
    hidden_vertices: torch.Tensor | None,
    background_threshold: float,
    max_pixels_per_frame: int | None,
    chunk_size: int,
    seed: int,
    backend: str | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[_Observations, np.ndarray]:
    """Rasterise every frame and gather the per-pixel linear model; returns observations and IoUs."""
    n_frames, height, width = frames.shape[:3]
    camera = sdc_camera((width, height), focal)
    offsets = sample_offsets(samples)
    faces = torch.as_tensor(faces, dtype=torch.long)
    faces_np = faces.numpy()
    rng = np.random.default_rng(seed)
    obs = _Observations()
    ious = np.zeros(n_frames, dtype=np.float64)
    for start in range(0, n_frames, chunk_size):
        stop = min(start + chunk_size, n_frames)
        hidden = None
        if hidden_vertices is not None:
            hv = torch.as_tensor(hidden_vertices)
            hidden = hv if hv.ndim == 1 else hv[start:stop]
        verts = hide_vertices(vertices_cam[start:stop].detach().float().cpu(), hidden)
        screen = camera.to_screen(verts)
        face_ids, barys = [], []
        for dx, dy in offsets:
            rast = rasterize(screen - torch.tensor([dx, dy, 0.0]), faces, height, width, backend=backend,
                             cull="back", min_depth=camera.znear)
            face_ids.append(rast.face_id.cpu().numpy())
            barys.append(rast.bary.cpu().numpy())
        fid = np.stack(face_ids, -1)  # [B,H,W,S]
        bary = np.stack(barys, -2)  # [B,H,W,S,3]
        coverage = (fid >= 0).mean(-1)  # [B,H,W]
        for b in range(stop - start):
            t = start + b
            body = coverage[b] >= 0.5
            template = frames[t].max(-1) > background_threshold
            union = np.logical_or(body, template).sum()
            ious[t] = np.logical_and(body, template).sum() / union if union else 1.0
            pix = np.flatnonzero(coverage[b].reshape(-1) > 0)
            if max_pixels_per_frame is not None and pix.size > max_pixels_per_frame:
                pix = np.sort(rng.choice(pix, size=max_pixels_per_frame, replace=False))
            f = fid[b].reshape(-1, len(offsets))[pix]  # [N,S]
            w = bary[b].reshape(-1, len(offsets), 3)[pix]  # [N,S,3]
            hit = f >= 0
            vid = faces_np[np.where(hit, f, 0)]  # [N,S,3]
            w = np.where(hit[..., None], w, 0.0) / len(offsets)
            obs.rows.append(vid.reshape(len(pix), -1).astype(np.int64))
            obs.weights.append(w.reshape(len(pix), -1).astype(np.float64))
            obs.colours.append(frames[t].reshape(-1, 3)[pix].astype(np.float64))
            obs.frame.append(np.full(len(pix), t, dtype=np.int64))
        if progress is not None:
            progress(stop, n_frames)
    return obs, ious


def _edge_laplacian(faces: np.ndarray, n_verts: int) -> sp.csr_matrix:
    """Graph Laplacian ``L = D - A`` of the mesh edges."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_verts, n_verts))
    adj = (adj + adj.T).tocsr()
    adj.data[:] = 1.0
    return (sp.diags(np.asarray(adj.sum(1)).ravel()) - adj).tocsr()


def fill_unseen(values: np.ndarray, seen: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Give unseen vertices the mean value of their nearest seen neighbours (ring by ring over edges).

    Args:
        values: ``[V,C]``; rows of unseen vertices are ignored.
        seen: ``[V]`` bool.
        faces: ``[F,3]`` mesh faces.
    Returns:
        ``[V,C]`` with every vertex connected to a seen one filled (others keep the mean seen value).
    """
    n = values.shape[0]
    out = values.astype(np.float64).copy()
    known = seen.astype(bool).copy()
    if not known.any():
        return out
    lap = _edge_laplacian(faces, n)
    adj = (sp.diags(lap.diagonal()) - lap).tocsr()
    while not known.all():
        k = known.astype(np.float64)
        count = adj @ k
        total = adj @ (out * k[:, None])
        new = (~known) & (count > 0)
        if not new.any():
            out[~known] = out[known].mean(0)
            break
        out[new] = total[new] / count[new, None]
        known |= new
    return out


def recover_colour_table(
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    sdc_frames: Any,
    focal: float | None = None,
    *,
    gain: float = SDC_GAIN,
    samples: int = 4,
    hidden_vertices: torch.Tensor | None = None,
    background_threshold: float = 8.0 / 255.0,
    min_weight: float = 0.5,
    min_iou: float = 0.6,
    huber_delta: float = 3.0 / 255.0,
    smoothness: float = 1e-4,
    iterations: int = 4,
    max_pixels_per_frame: int | None = 60000,
    chunk_size: int = 8,
    seed: int = 0,
    backend: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SdcRecovery:
    """Solve the per-vertex colour table that explains a template's sdc frames.

    Args:
        vertices_cam: ``[T,V,3]`` posed body of each template frame, OpenCV camera frame, metres,
            in the release's camera (see :func:`mimo_core.sdc.render_sdc`).
        faces: ``[F,3]`` mesh faces.
        sdc_frames: ``[T,H,W,3]`` frames of ``sdc.mp4`` (float 0..1 or uint8, numpy or torch).
        focal: focal length in pixels; ``None`` = ``5000/256*max(W,H)``.
        gain: rendered / table factor (0.3, see :mod:`mimo_core.sdc.renderer`).
        samples: samples per pixel of the forward model (4 = the release's MSAA).
        hidden_vertices: ``[V]`` / ``[T,V]`` bool vertices not drawn in the template (missing hands).
        background_threshold: a template pixel is body when its brightest channel exceeds this (0..1;
            the default leaves room for codec ringing around the silhouette in ``sdc.mp4``).
        min_weight: summed pixel weight a vertex needs to count as seen.
        min_iou: frames whose silhouette IoU is below this are left out of the solve (a failed
            body fit would teach wrong colours); they are listed in ``info["frames_excluded"]``.
        huber_delta: residual (0..1, RGB norm) above which a pixel's weight decays as ``delta / r``.
        smoothness: weight of the edge-difference term (keeps weakly seen vertices well posed).
        iterations: reweighting rounds (1 = plain least squares).
        max_pixels_per_frame: random subset of body pixels used per frame (bounds memory); None = all.
        chunk_size: frames rasterised at once.
        seed: seed of the pixel subset.
        backend, progress: raster backend; ``progress(done, total)`` over frames.

    Returns:
        :class:`SdcRecovery`.
    """
    if not isinstance(vertices_cam, torch.Tensor) or vertices_cam.ndim != 3 or vertices_cam.shape[-1] != 3:
        raise ValueError("vertices_cam must be a [T,V,3] tensor of posed vertices")
    frames = _as_frames(sdc_frames)
    if frames.shape[0] != vertices_cam.shape[0]:
        raise ValueError(
            f"{vertices_cam.shape[0]} posed frames but {frames.shape[0]} sdc frames: give one body per template frame"
        )
    if not gain > 0:
        raise ValueError(f"gain must be positive, got {gain}")
    n_verts = vertices_cam.shape[1]
    faces_np = torch.as_tensor(faces, dtype=torch.long).cpu().numpy()
    obs, ious = _collect(vertices_cam, faces, frames, focal, samples, hidden_vertices, background_threshold,
                         max_pixels_per_frame, chunk_size, seed, backend, progress)
    rows = np.concatenate(obs.rows) if obs.rows else np.zeros((0, 3), np.int64)
    weights = np.concatenate(obs.weights) if obs.weights else np.zeros((0, 3))
    colours = np.concatenate(obs.colours) if obs.colours else np.zeros((0, 3))
    frame_of = np.concatenate(obs.frame) if obs.frame else np.zeros(0, np.int64)
    excluded = np.flatnonzero(ious < min_iou)
    if excluded.size:
        keep = ~np.isin(frame_of, excluded)
        rows, weights, colours, frame_of = rows[keep], weights[keep], colours[keep], frame_of[keep]
        logger.warning("sdc recovery: %d frames left out, silhouette IoU below %.2f: %s",
                       excluded.size, min_iou, excluded.tolist())
    n_pix = rows.shape[0]
    a = sp.csr_matrix(
        (weights.ravel(), (np.repeat(np.arange(n_pix), rows.shape[1]), rows.ravel())), shape=(n_pix, n_verts)
    )
    a.sum_duplicates()
    pixel_weight = np.asarray(a.sum(0)).ravel()
    # frames in which each vertex covers at least 0.05 pixel
    per_frame = sp.csr_matrix((np.ones(n_pix), (frame_of, np.arange(n_pix))), shape=(frames.shape[0], n_pix)) @ a
    per_frame = per_frame.tocsr()
    frames_seen = np.asarray((per_frame >= 0.05).sum(0)).ravel().astype(np.int64)
    seen = pixel_weight >= min_weight

    lap = _edge_laplacian(faces_np, n_verts)
    scale = max(float(np.median(pixel_weight[seen])) if seen.any() else 1.0, 1e-6)
    reg = smoothness * scale * lap + 1e-9 * scale * sp.identity(n_verts)
    robust = np.ones(n_pix)
    x = np.zeros((n_verts, 3))
    for _ in range(max(1, iterations)):
        aw = sp.diags(robust) @ a
        lhs = (a.T @ aw + reg).tocsc()
        rhs = aw.T @ colours
        x = np.asarray(spla.splu(lhs).solve(np.asarray(rhs)))
        res = np.linalg.norm(a @ x - colours, axis=1)
        robust = np.where(res > huber_delta, huber_delta / np.maximum(res, 1e-12), 1.0)
    res = np.linalg.norm(a @ x - colours, axis=1)
    sq = a.T @ (robust * res**2)
    wsum = a.T @ robust
    residual = np.sqrt(np.asarray(sq).ravel() / np.maximum(np.asarray(wsum).ravel(), 1e-12))

    filled_values = fill_unseen(x, seen, faces_np)
    rendered = np.clip(filled_values, 0.0, 1.0)
    table_raw = filled_values / gain
    clipped = seen & (table_raw.max(1) > 1.0 + 2.0 / 255.0)
    table = np.clip(table_raw, 0.0, 1.0).astype(np.float32)
    info = {
        "pixels_used": int(n_pix),
        "frames_excluded": excluded.tolist(),
        "share_seen": float(seen.mean()),
        "vertices_filled": int((~seen).sum()),
        "iou_mean": float(ious.mean()) if ious.size else 0.0,
        "iou_min": float(ious.min()) if ious.size else 0.0,
        "max_template_value": float(frames.max()) if frames.size else 0.0,
        "max_expected_value": float(gain),
        "clipped_vertices": int(clipped.sum()),
        "median_residual": float(np.median(res)) if n_pix else 0.0,
    }
    if info["max_template_value"] > gain + 8.0 / 255.0:
        logger.warning(
            "sdc template has values up to %.3f but the gain %.2f allows at most %.3f: "
            "the template was not rendered with this gain; %d vertex colours were clipped",
            info["max_template_value"], gain, gain, info["clipped_vertices"],
        )
    return SdcRecovery(
        table=table, rendered=rendered.astype(np.float32), seen=seen, filled=~seen,
        pixel_weight=pixel_weight.astype(np.float32), frames_seen=frames_seen,
        residual=residual.astype(np.float32), clipped=clipped, silhouette_iou=ious.astype(np.float32), info=info,
    )


def psnr(a: Any, b: Any) -> float:
    """PSNR in dB of two ``[...,3]`` images / videos in 0..1 (inf when equal)."""
    x = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).float()
    y = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b).float()
    mse = float(((x - y) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))


def recover_from_template(
    template_dir: str | Path,
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    **kwargs: Any,
) -> SdcRecovery:
    """Read ``sdc.mp4`` of an official template folder and run :func:`recover_colour_table`.

    ``vertices_cam`` must hold one posed body per frame of ``sdc.mp4`` (the first ``T`` frames are
    used when the video is longer). Extra keyword arguments go to :func:`recover_colour_table`.
    """
    from ..video_io import read_video

    path = Path(template_dir) / "sdc.mp4"
    if not path.is_file():
        raise FileNotFoundError(f"template folder {template_dir} has no sdc.mp4")
    frames = read_video(path, max_frames=int(vertices_cam.shape[0]))
    if frames.shape[0] < vertices_cam.shape[0]:
        raise ValueError(f"{path} has {frames.shape[0]} frames, fewer than the {vertices_cam.shape[0]} posed frames")
    return recover_colour_table(vertices_cam, faces, frames, **kwargs)


def vertices_from_motion(motion_path: str | Path, body_model_file: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed vertices ``[T,V,3]`` and faces ``[F,3]`` of a saved :class:`~mimo_core.body.MotionSequence`.

    Args:
        motion_path: a motion ``.safetensors`` (e.g. a body fit of the template's ``vid.mp4``).
        body_model_file: SMPL / SMPL-H model file when the motion is for ``smpl`` / ``smplh``.
    """
    from ..body import MotionSequence, load_body_model

    motion = MotionSequence.load(motion_path)
    model = load_body_model(motion.body_model, body_model_file)
    return motion.vertices(model), model.faces
