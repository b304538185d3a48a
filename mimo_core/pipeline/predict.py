"""Build the sampler's ``predict`` closure from a plain denoiser call.

MIMO's denoising UNet takes 8 input channels: the 4 noisy latent channels followed by
the 4 VAE latent channels of the inpainted scene video, which are noise-free and sliced
to the same frames as the window. Per-frame features (pose encoder output) are sliced
the same way. :func:`make_predict` does that slicing and concatenation generically, so
the model wrapper only sees ready window inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from .sampler import PredictFn

# model_fn(model_input [B, C_in, t, h, w], t, frame_indices, conditional, frame_features) -> [B, C, t, h, w];
# conditional: True / False for one branch, None for both stacked on the batch axis (uncond first).
ModelFn = Callable[[torch.Tensor, torch.Tensor, list[int], "bool | None", Mapping[str, torch.Tensor]], torch.Tensor]


def _slice_frames(name: str, value: torch.Tensor, frames: Sequence[int], dim: int = 2) -> torch.Tensor:
    if value.dim() <= dim:
        raise ValueError(f"{name} must have frames along dim {dim}, got shape {tuple(value.shape)}")
    return value[(slice(None),) * dim + (list(frames),)]


def make_predict(
    model_fn: ModelFn,
    cond_latents: torch.Tensor | None = None,
    *,
    uncond_cond_latents: torch.Tensor | None = None,
    frame_features: Mapping[str, torch.Tensor] | None = None,
    batch_cfg: bool = False,
) -> PredictFn:
    """A :class:`~mimo_core.pipeline.sampler.PredictFn` that concatenates noise-free latents to the noisy ones.

    Args:
        model_fn: ``model_fn(model_input, t, frame_indices, conditional, frame_features)``
            returning the prediction ``[B, C, t, h, w]`` (C = noisy latent channels).
            ``model_input`` is ``[noisy (C) | cond_latents window (C_c)]`` on channels;
            ``conditional`` False asks for the unconditional branch (e.g. zero CLIP
            embedding and the unconditional reference features), and ``frame_features``
            holds each entry of ``frame_features`` sliced to the window's frames. With
            ``batch_cfg`` the model gets both branches stacked on the batch axis
            (uncond first) with ``conditional`` None and must return both the same way.
        cond_latents: ``[B, C_c, T, h, w]`` noise-free latents for the whole video (MIMO: scene
            latents, C_c = 4), or None for no concatenation.
        uncond_cond_latents: the latents to concatenate on the unconditional branch;
            default ``cond_latents`` (MIMO keeps the scene in both branches).
        frame_features: named per-frame tensors with frames on dim 2 (e.g. pose features
            ``[B, 320, T, h, w]``), sliced to each window.
        batch_cfg: one model call for both branches instead of two.
    """
    features = dict(frame_features or {})
    uncond_latents = cond_latents if uncond_cond_latents is None else uncond_cond_latents

    def window_input(x: torch.Tensor, extra: torch.Tensor | None, frames: list[int], name: str) -> torch.Tensor:
        if extra is None:
            return x
        part = _slice_frames(name, extra, frames).to(device=x.device, dtype=x.dtype)
        if part.shape[0] != x.shape[0] or part.shape[3:] != x.shape[3:]:
            raise ValueError(
                f"{name} window has shape {tuple(part.shape)}, expected batch {x.shape[0]} and spatial "
                f"size {tuple(x.shape[3:])} like the noisy latents {tuple(x.shape)}"
            )
        return torch.cat([x, part], dim=1)

    def predict(
        x: torch.Tensor, t: torch.Tensor, frame_indices: list[int], *, need_uncond: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        feats = {k: _slice_frames(k, v, frame_indices) for k, v in features.items()}
        cond_in = window_input(x, cond_latents, frame_indices, "cond_latents")
        if not need_uncond:
            return model_fn(cond_in, t, frame_indices, True, feats), None
        uncond_in = window_input(x, uncond_latents, frame_indices, "uncond_cond_latents")
        if batch_cfg:
            both_feats = {k: torch.cat([v, v]) for k, v in feats.items()}
            uncond, cond = model_fn(torch.cat([uncond_in, cond_in]), t, frame_indices, None, both_feats).chunk(2)
            return cond, uncond
        return (model_fn(cond_in, t, frame_indices, True, feats),
                model_fn(uncond_in, t, frame_indices, False, feats))

    return predict
