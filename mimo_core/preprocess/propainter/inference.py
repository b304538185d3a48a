"""ProPainter video inpainting: the published inference procedure on arrays.

Steps (as in ProPainter's ``inference_propainter.py``):

1. Holes are dilated (cross structuring element, ``mask_dilation`` steps) for
   the flow masks and the model masks; frames are edge-padded to multiples of 8.
2. Forward/backward flows by RAFT (float32) over short clips.
3. Flow completion inside the flow masks, in sub-videos of ``subvideo_length``
   (5 frames of context on each side).
4. Image propagation along the completed flows (sub-videos of at most 100 frames,
   10 frames of context).
5. The generator (feature propagation + sparse transformer) over windows of
   ``neighbor_length`` local frames plus reference frames every ``ref_stride``
   frames; overlapping local results are averaged (running 0.5/0.5, as published).

Departures: results stay float (the published script rounds to uint8 at each
step), the padding to multiples of 8 is undone by cropping rather than
resizing, and the output keeps every pixel outside ``hole_mask`` exactly (the
dilated ring is treated as unknown by the networks but keeps its input value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .._arrays import as_frames, as_masks
from .loader import ProPainterModels

Progress = Callable[[int, int], None]


def _dilate(holes: np.ndarray, steps: int) -> np.ndarray:
    """[T,H,W] bool -> [T,H,W] float32, grown ``steps`` times by a 3x3 cross."""
    if steps <= 0:
        return holes.astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel, iterations=steps) for m in holes]).astype(np.float32)


def get_ref_index(mid: int, neighbor_ids: list[int], length: int, ref_stride: int = 10, ref_num: int = -1) -> list[int]:
    """Reference frame indices for the window around ``mid`` (published rule)."""
    refs: list[int] = []
    if ref_num == -1:
        return [i for i in range(0, length, ref_stride) if i not in neighbor_ids]
    start = max(0, mid - ref_stride * (ref_num // 2))
    end = min(length, mid + ref_stride * (ref_num // 2))
    for i in range(start, end, ref_stride):
        if i not in neighbor_ids:
            if len(refs) > ref_num:
                break
            refs.append(i)
    return refs


def _short_clip_len(width: int) -> int:
    if width <= 640:
        return 12
    if width <= 720:
        return 8
    if width <= 1280:
        return 4
    return 2


@contextmanager
def _cudnn_autotune(device: torch.device) -> Iterator[None]:
    """With TF32 turned off, let cuDNN time its convolution algorithms for the block.

    With ``torch.backends.cudnn.allow_tf32 = False`` cuDNN's heuristics pick an FFT
    convolution for RAFT and the flows take about 20x longer; timing the algorithms
    (``cudnn.benchmark``) finds a fast one. PyTorch's default (TF32 on) needs no
    timing, and timing costs memory for the trials, so the setting is left alone then.
    The setting is restored afterwards.
    """
    if device.type != "cuda" or torch.backends.cudnn.allow_tf32 or torch.backends.cudnn.benchmark:
        yield
        return
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = False  # it was off (see above)


@torch.no_grad()
def compute_flows(models: ProPainterModels, frames: torch.Tensor, raft_iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RAFT flows of frames [1,T,3,H,W] (-1..1) in clips; returns two [1,T-1,2,H,W] float32."""
    t = frames.size(1)
    clip = _short_clip_len(frames.size(-1))
    with _cudnn_autotune(frames.device):
        if t <= clip:
            return models.raft(frames.float(), iters=raft_iters)
        fwd, bwd = [], []
        for f in range(0, t, clip):
            end = min(t, f + clip)
            start = f if f == 0 else f - 1
            if end - start < 2:
                continue
            a, b = models.raft(frames[:, start:end].float(), iters=raft_iters)
            fwd.append(a)
            bwd.append(b)
    return torch.cat(fwd, dim=1), torch.cat(bwd, dim=1)


@torch.no_grad()
def complete_flows(
    models: ProPainterModels, flows: tuple[torch.Tensor, torch.Tensor], flow_masks: torch.Tensor, subvideo_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow completion in sub-videos; flows [1,T-1,2,H,W], flow_masks [1,T,1,H,W]."""
    net = models.flow_complete
    n = flows[0].size(1)
    if n <= subvideo_length:
        pred = net.forward_bidirect_flow(flows, flow_masks)
        return net.combine_flow(flows, pred, flow_masks)
    pad = 5
    out_f, out_b = [], []
    for f in range(0, n, subvideo_length):
        s, e = max(0, f - pad), min(n, f + subvideo_length + pad)
        pad_s, pad_e = f - s, e - min(n, f + subvideo_length)
        sub = (flows[0][:, s:e], flows[1][:, s:e])
        pred = net.forward_bidirect_flow(sub, flow_masks[:, s:e + 1])
        pred = net.combine_flow(sub, pred, flow_masks[:, s:e + 1])
        out_f.append(pred[0][:, pad_s:e - s - pad_e])
        out_b.append(pred[1][:, pad_s:e - s - pad_e])
    return torch.cat(out_f, dim=1), torch.cat(out_b, dim=1)


@torch.no_grad()
def propagate_images(
    models: ProPainterModels, frames: torch.Tensor, flows: tuple[torch.Tensor, torch.Tensor], masks: torch.Tensor,
    subvideo_length: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image propagation; frames [1,T,3,H,W], masks [1,T,1,H,W] -> (updated frames, updated masks)."""
    t, h, w = frames.size(1), frames.size(-2), frames.size(-1)
    masked = frames * (1 - masks)
    length = min(100, subvideo_length)
    pad = 10 if t > length else 0
    step = length if t > length else t
    upd_frames, upd_masks = [], []
    for f in range(0, t, step):
        s, e = max(0, f - pad), min(t, f + step + pad)
        pad_s, pad_e = f - s, e - min(t, f + step)
        sub_flows = (flows[0][:, s:e - 1], flows[1][:, s:e - 1])
        prop, new_masks = models.generator.img_propagation(masked[:, s:e], sub_flows, masks[:, s:e], "nearest")
        n = e - s
        sub_frames = frames[:, s:e] * (1 - masks[:, s:e]) + prop.view(1, n, 3, h, w) * masks[:, s:e]
        upd_frames.append(sub_frames[:, pad_s:n - pad_e])
        upd_masks.append(new_masks.view(1, n, 1, h, w)[:, pad_s:n - pad_e])
    return torch.cat(upd_frames, dim=1), torch.cat(upd_masks, dim=1)


def propainter_inpaint(
    frames: Any,
    hole_mask: Any,
    models: ProPainterModels,
    neighbor_length: int = 10,
    ref_stride: int = 10,
    subvideo_length: int = 80,
    raft_iters: int = 20,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
    mask_dilation: int = 4,
    hole_threshold: float = 0.5,
) -> np.ndarray:
    """Fill ``hole_mask`` in ``frames`` with ProPainter.

    Args:
        frames: [T,H,W,3] float 0..1 (or uint8).
        hole_mask: [T,H,W] 0..1; pixels > ``hole_threshold`` are holes.
        models: from :func:`load_propainter`; moved to ``device`` in place, the
            flow-completion and generator networks also cast to ``dtype`` (RAFT stays float32).
        neighbor_length / ref_stride / subvideo_length / raft_iters: published defaults.
        progress: called as ``progress(done, total)`` after each stage and window.
        mask_dilation: steps of hole growth seen by the networks (published default 4).

    Returns:
        [T,H,W,3] float32 in 0..1; pixels outside ``hole_mask`` are the input values.
    """
    if neighbor_length < 2:
        raise ValueError(f"neighbor_length must be >= 2, got {neighbor_length}")
    if ref_stride < 1 or subvideo_length < 1 or raft_iters < 1:
        raise ValueError(f"ref_stride, subvideo_length and raft_iters must be >= 1, got "
                         f"{ref_stride}, {subvideo_length}, {raft_iters}")
    clip = as_frames(frames)
    t0, h0, w0 = clip.shape[:3]
    holes = as_masks(hole_mask, (t0, h0, w0), "hole_mask") > hole_threshold
    if not holes.any():
        return clip.copy()
    # A single frame has no flow; run it as a still two-frame clip.
    work, work_holes = (np.concatenate([clip, clip]), np.concatenate([holes, holes])) if t0 == 1 else (clip, holes)
    t = work.shape[0]
    dilated = _dilate(work_holes, mask_dilation)

    dev = torch.device(device)
    models.raft.to(dev).float()
    models.flow_complete.to(dev, dtype)
    models.generator.to(dev, dtype)

    ph, pw = (-h0) % 8, (-w0) % 8
    x = torch.from_numpy(work).permute(0, 3, 1, 2).to(dev).unsqueeze(0) * 2 - 1
    m = torch.from_numpy(dilated).to(dev)[None, :, None]
    if ph or pw:
        x = F.pad(x[0], (0, pw, 0, ph), mode="replicate").unsqueeze(0)
        m = F.pad(m, (0, pw, 0, ph))
    h, w = x.shape[-2:]
    n_windows = len(range(0, t, max(1, neighbor_length // 2)))
    total, done = 3 + n_windows, 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with torch.no_grad():
        flows = compute_flows(models, x, raft_iters)
        tick()
        x, m = x.to(dtype), m.to(dtype)
        flows = (flows[0].to(dtype), flows[1].to(dtype))
        flows = complete_flows(models, flows, m, subvideo_length)
        tick()
        upd_frames, upd_masks = propagate_images(models, x, flows, m, subvideo_length)
        tick()

        stride = max(1, neighbor_length // 2)
        ref_num = subvideo_length // ref_stride if t > subvideo_length else -1
        comp: list[torch.Tensor | None] = [None] * t
        orig = (x.float() + 1) / 2
        for f in range(0, t, stride):
            nids = list(range(max(0, f - stride), min(t, f + stride + 1)))
            rids = get_ref_index(f, nids, t, ref_stride, ref_num)
            ids = nids + rids
            sel_flows = (flows[0][:, nids[:-1]], flows[1][:, nids[:-1]])
            pred = models.generator(upd_frames[:, ids], sel_flows, m[:, ids], upd_masks[:, ids], len(nids))
            pred = (pred.float().view(-1, 3, h, w) + 1) / 2
            mk = m[0, nids].float()
            for i, idx in enumerate(nids):
                img = pred[i] * mk[i] + orig[0, idx] * (1 - mk[i])
                prev = comp[idx]
                comp[idx] = img if prev is None else prev * 0.5 + img * 0.5
            tick()

    out = torch.stack([c for c in comp if c is not None])[:t0, :, :h0, :w0]
    out = out.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
    result = clip.copy()
    result[holes] = out[holes]
    return result
