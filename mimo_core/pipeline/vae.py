"""Video <-> latent conversion through an image VAE (SD ``AutoencoderKL``), in frame chunks.

Frames are ``[T, H, W, 3]`` floats in 0..1 (the ComfyUI ``IMAGE`` layout); latents are
``[1, C, T, H/f, W/f]`` already multiplied by the VAE's ``scaling_factor`` (0.18215 for
SD1.5), ``f`` the VAE's downsampling factor (8 for SD). Only ``chunk_size`` frames are on
the VAE's device at a time, in the VAE's dtype (fp16 / bf16 VAEs work unchanged);
results come back as float32 on the input's device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ChunkProgress = Callable[[int, int], None]  # (frames done, frames total)


def _vae_device_dtype(vae: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    param = next(vae.parameters())
    return param.device, param.dtype


def _scale_shift(vae: torch.nn.Module) -> tuple[float, float]:
    config = vae.config
    scale = float(getattr(config, "scaling_factor", None) or 1.0)
    shift = float(getattr(config, "shift_factor", None) or 0.0)
    return scale, shift


def vae_downscale(vae: torch.nn.Module) -> int:
    """Spatial downsampling factor of an ``AutoencoderKL`` (8 for SD1.5's VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _check_chunk(chunk_size: int) -> int:
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


@torch.no_grad()
def encode_video(
    vae: torch.nn.Module,
    frames: torch.Tensor,
    chunk_size: int = 8,
    *,
    sample: bool = False,
    generator: torch.Generator | None = None,
    progress: ChunkProgress | None = None,
) -> torch.Tensor:
    """Encode frames to scaled latents.

    Args:
        vae: a diffusers ``AutoencoderKL`` (any device / dtype).
        frames: ``[T, H, W, 3]`` float in 0..1; H and W multiples of :func:`vae_downscale`.
        chunk_size: frames per VAE call.
        sample: draw from the latent distribution instead of taking its mean (MIMO uses the mean).
        generator: randomness for ``sample``.
        progress: ``progress(done, total)`` after each chunk.

    Returns:
        ``[1, C, T, H/f, W/f]`` float32 latents on ``frames.device``, times ``scaling_factor``.
    """
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T,H,W,3], got shape {tuple(frames.shape)}")
    factor = vae_downscale(vae)
    if frames.shape[1] % factor or frames.shape[2] % factor:
        raise ValueError(
            f"frame size {tuple(frames.shape[1:3])} is not a multiple of the VAE factor {factor}; "
            "use fit_to_multiple first"
        )
    chunk_size = _check_chunk(chunk_size)
    device, dtype = _vae_device_dtype(vae)
    scale, shift = _scale_shift(vae)
    total = frames.shape[0]
    chunks = []
    for start in range(0, total, chunk_size):
        x = frames[start:start + chunk_size].to(device=device, dtype=dtype).permute(0, 3, 1, 2) * 2 - 1
        dist = vae.encode(x).latent_dist
        z = dist.sample(generator) if sample else dist.mean
        chunks.append(((z.float() - shift) * scale).to(frames.device))
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    return torch.cat(chunks).permute(1, 0, 2, 3).unsqueeze(0)


@torch.no_grad()
def decode_video(
    vae: torch.nn.Module,
    latents: torch.Tensor,
    chunk_size: int = 8,
    *,
    progress: ChunkProgress | None = None,
) -> torch.Tensor:
    """Decode scaled latents to frames.

    Args:
        vae: a diffusers ``AutoencoderKL``.
        latents: ``[1, C, T, h, w]`` or ``[C, T, h, w]`` latents times ``scaling_factor``.
        chunk_size: frames per VAE call.
        progress: ``progress(done, total)`` after each chunk.

    Returns:
        ``[T, h*f, w*f, 3]`` float32 frames in 0..1 on ``latents.device``.
    """
    if latents.dim() == 5:
        if latents.shape[0] != 1:
            raise ValueError(f"decode_video takes one video (batch 1), got latents of shape {tuple(latents.shape)}")
        latents = latents[0]
    if latents.dim() != 4:
        raise ValueError(f"latents must be [1,C,T,h,w] or [C,T,h,w], got shape {tuple(latents.shape)}")
    chunk_size = _check_chunk(chunk_size)
    device, dtype = _vae_device_dtype(vae)
    scale, shift = _scale_shift(vae)
    total = latents.shape[1]
    frames: torch.Tensor | None = None  # filled chunk by chunk: no second full-length copy
    for start in range(0, total, chunk_size):
        z = latents[:, start:start + chunk_size].permute(1, 0, 2, 3).float() / scale + shift
        image = vae.decode(z.to(device=device, dtype=dtype)).sample
        chunk = ((image.float() + 1) / 2).clamp_(0, 1).permute(0, 2, 3, 1)
        if frames is None:
            frames = torch.empty((total, *chunk.shape[1:]), dtype=torch.float32, device=latents.device)
        frames[start:start + chunk.shape[0]] = chunk
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    assert frames is not None
    return frames


FIT_MODES = ("pad", "crop")


@dataclass(frozen=True)
class FitInfo:
    """How :func:`fit_to_multiple` changed the frame size, for :func:`restore_size`."""

    height: int
    width: int
    top: int
    left: int
    mode: str


def fit_to_multiple(frames: torch.Tensor, multiple: int = 8, mode: str = "pad") -> tuple[torch.Tensor, FitInfo]:
    """Make H and W multiples of ``multiple`` (8 for the VAE, 64 for the SD UNet).

    ``"pad"`` repeats the bottom row and right column (edge padding) up to the next
    multiple, losing nothing; ``"crop"`` cuts the centre down to the previous multiple
    (a side shorter than ``multiple`` is an error).

    Args:
        frames: ``[T, H, W, C]``, any dtype.

    Returns:
        The fitted frames ``[T, H', W', C]`` and a :class:`FitInfo` for :func:`restore_size`.
    """
    if frames.dim() != 4:
        raise ValueError(f"frames must be [T,H,W,C], got shape {tuple(frames.shape)}")
    if mode not in FIT_MODES:
        raise ValueError(f"fit mode {mode!r} is unknown; expected one of {FIT_MODES}")
    if int(multiple) < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    _, h, w, _ = frames.shape
    if mode == "pad":
        new_h, new_w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
        info = FitInfo(h, w, 0, 0, mode)
        if (new_h, new_w) == (h, w):
            return frames, info
        x = frames.permute(0, 3, 1, 2)
        work = x if x.is_floating_point() else x.float()
        padded = F.pad(work, (0, new_w - w, 0, new_h - h), mode="replicate").to(x.dtype)
        return padded.permute(0, 2, 3, 1), info
    new_h, new_w = h // multiple * multiple, w // multiple * multiple
    if new_h == 0 or new_w == 0:
        raise ValueError(f"frame size {(h, w)} is smaller than multiple {multiple}; cannot crop")
    top, left = (h - new_h) // 2, (w - new_w) // 2
    return frames[:, top:top + new_h, left:left + new_w], FitInfo(h, w, top, left, mode)


def restore_size(frames: torch.Tensor, info: FitInfo) -> torch.Tensor:
    """Undo :func:`fit_to_multiple`: crop the padding off, or edge-pad a centre crop back out.

    Exact for ``"pad"``; for ``"crop"`` the cut borders are gone and are filled by
    repeating the outermost kept pixels.
    """
    if info.mode == "pad":
        return frames[:, : info.height, : info.width]
    _, h, w, _ = frames.shape
    x = frames.permute(0, 3, 1, 2)
    work = x if x.is_floating_point() else x.float()
    pads = (info.left, info.width - w - info.left, info.top, info.height - h - info.top)
    return F.pad(work, pads, mode="replicate").to(x.dtype).permute(0, 2, 3, 1)
