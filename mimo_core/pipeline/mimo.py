"""The MIMO generation pipeline: identity + pose video (+ scene, + occlusion) -> character video.

One :meth:`MimoPipeline.generate` call does what the released MIMO / Moore-AnimateAnyone
inference does:

1. fit the videos to a size the VAE and the UNet accept (edge padding, undone at the end);
2. CLIP token of the reference (``[1, 1, D]``; zeros on the unconditional branch) and its
   ReferenceNet features at the generation size, computed once (:class:`~mimo_core.identity.Identity`);
3. scene (and occlusion) videos through the VAE; the noise-free latents are concatenated to the
   noisy ones on channels: ``in_channels`` 4 = no scene (Moore), 8 = noisy + scene (official MIMO),
   12 = noisy + scene + occlusion (paper);
4. context-window sampling (:func:`~mimo_core.pipeline.sampler.sample_video`) with classifier-free
   guidance; per window the pose encoder turns the pose render into features added after
   ``conv_in``; the unconditional branch has no reference attention
   (:func:`~mimo_core.models.reference.cfg_reference_mask`);
5. VAE decode, and the occluders pasted back on top where an occlusion mask is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..identity import Identity, encode_identity
from ..models.reference import ReferenceNet, cfg_reference_mask
from ..models.video_unet import VideoUNet
from .predict import make_predict
from .sampler import WindowConfig, sample_video
from .schedulers import make_scheduler
from .vae import decode_video, encode_video, fit_to_multiple, restore_size, vae_downscale

IN_CHANNEL_MODES = {4: "no scene", 8: "noisy + scene latents", 12: "noisy + scene + occlusion latents"}
StepCallback = Callable[[int, int, torch.Tensor], None]  # (step, total, x0 latents [1, 4, T, h, w])


@dataclass
class SamplerSettings:
    """How the pipeline's denoiser was trained to be sampled (released MIMO: DDIM, v, zero-SNR, trailing)."""

    name: str = "ddim"
    prediction_type: str = "v_prediction"
    zero_snr: bool = True
    timestep_spacing: str = "trailing"

    def make(self, steps: int, device: torch.device | str | None = None):
        """A scheduler with ``steps`` timesteps set."""
        return make_scheduler(self.name, self.prediction_type, self.zero_snr, self.timestep_spacing, steps,
                              device=device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_video(name: str, video: torch.Tensor, frames: int, height: int, width: int, channels: int) -> None:
    expected = (frames, height, width, channels)
    if video.ndim != 4 or tuple(video.shape) != expected:
        raise ValueError(f"{name} must be [T,H,W,{channels}] = {list(expected)} like the pose video, "
                         f"got shape {tuple(video.shape)}")


@dataclass
class MimoPipeline:
    """The networks of one MIMO model and how to sample it.

    * ``vae``: diffusers ``AutoencoderKL`` (sd-vae-ft-mse);
    * ``image_encoder``: transformers ``CLIPVisionModelWithProjection`` (projection dim = the UNet's
      ``cross_attention_dim``);
    * ``reference_net``: :class:`ReferenceNet`; ``unet``: :class:`VideoUNet` (its ``conv_in`` width
      is :attr:`in_channels`);
    * ``pose_encoder``: maps a pose render ``[B, C, F, H, W]`` in 0..1 to ``[B, C0, F, H/f, W/f]``
      (:class:`~mimo_core.models.pose_encoders.PoseGuider` for the 3-channel "sdc" render);
    * ``sampler``: scheduler settings; ``source``: where it was loaded from (for messages).
    """

    vae: nn.Module
    image_encoder: nn.Module
    reference_net: ReferenceNet
    unet: VideoUNet
    pose_encoder: nn.Module
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    source: str = ""

    def __post_init__(self) -> None:
        if self.in_channels not in IN_CHANNEL_MODES:
            raise ValueError(f"UNet conv_in takes {self.in_channels} channels; supported: {IN_CHANNEL_MODES}")

    # ---- properties ------------------------------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        """4 (no scene), 8 (noisy + scene latents, official MIMO) or 12 (+ occlusion latents, paper)."""
        return int(self.unet.conv_in.in_channels)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def modules(self) -> dict[str, nn.Module]:
        """The networks by name (for moving / offloading)."""
        return {"vae": self.vae, "image_encoder": self.image_encoder, "reference_net": self.reference_net,
                "unet": self.unet, "pose_encoder": self.pose_encoder}

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> MimoPipeline:
        """Move every network in place; returns self."""
        for module in self.modules().values():
            module.to(device=device, dtype=dtype)
        return self

    def size_multiple(self) -> int:
        """Pixel multiple frames are padded to: VAE factor times the UNet's total downsampling."""
        return vae_downscale(self.vae) * 2 ** (len(self.unet.down_blocks) - 1)

    # ---- identity ---------------------------------------------------------------------------------------
    def encode_identity(self, image: torch.Tensor) -> Identity:
        """Reference picture ``[H,W,3]`` (or ``[1,H,W,3]``) in 0..1 -> :class:`Identity` (CLIP token now,
        ReferenceNet features on first use at the generation size)."""
        return encode_identity(self.image_encoder, image)

    # ---- generation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        reference: Identity | torch.Tensor,
        pose_video: torch.Tensor,
        scene_video: torch.Tensor | None = None,
        occlusion_video: torch.Tensor | None = None,
        occlusion_mask: torch.Tensor | None = None,
        *,
        steps: int = 25,
        guidance: float = 3.5,
        seed: int = 0,
        window: int = 24,
        overlap: int = 4,
        blend: str = "average",
        vae_chunk: int = 8,
        callback: StepCallback | None = None,
        cancel_check: Callable[[], object] | None = None,
    ) -> torch.Tensor:
        """Synthesise the character video.

        Args:
            reference: an :class:`Identity` or the reference picture ``[H,W,3]`` in 0..1.
            pose_video: ``[T,H,W,C]`` pose render in 0..1 (C = the pose encoder's input channels, 3).
            scene_video: ``[T,H,W,3]`` inpainted background in 0..1; required for 8/12 channels,
                refused for 4.
            occlusion_video, occlusion_mask: ``[T,H,W,3]`` / ``[T,H,W]`` occluders and where they are;
                pasted back on top of the result; a 12-channel UNet also sees their latents.
            steps, guidance, seed: sampling steps, CFG scale (1 = no unconditional pass), noise seed.
            window, overlap: context windows in frames (MIMO: 24, 4); window <= motion table length.
            blend: how overlapping windows are blended (``"average"``, ``"linear"``, ``"pyramid"``).
            vae_chunk: frames per VAE call.
            callback: ``callback(step, total, x0_latents)`` after each sampling step.
            cancel_check: called before each window; truthy or raising stops with that error
                (:class:`~mimo_core.pipeline.sampler.SamplingCancelled` for truthy).

        Returns:
            ``[T,H,W,3]`` float32 frames in 0..1 on the CPU, same size as ``pose_video``.
        """
        if pose_video.ndim != 4:
            raise ValueError(f"pose_video must be [T,H,W,C] in 0..1, got shape {tuple(pose_video.shape)}")
        frames, height, width, pose_channels = pose_video.shape
        if scene_video is not None:
            _check_video("scene_video", scene_video, frames, height, width, 3)
        if occlusion_video is not None:
            _check_video("occlusion_video", occlusion_video, frames, height, width, 3)
        if occlusion_mask is not None:
            _check_video("occlusion_mask", occlusion_mask[..., None], frames, height, width, 1)
            if occlusion_video is None:
                raise ValueError("occlusion_mask was given without occlusion_video (the pixels to paste back)")
        self._check_scene(scene_video)
        window = self._check_window(window, frames)
        identity = reference if isinstance(reference, Identity) else self.encode_identity(reference)

        multiple = self.size_multiple()
        pose_fit, fit = fit_to_multiple(pose_video.float().cpu(), multiple)
        gen_h, gen_w = pose_fit.shape[1:3]
        cond_latents = self._condition_latents(scene_video, occlusion_video, occlusion_mask, multiple, vae_chunk)
        features = identity.reference_features(self.vae, self.reference_net, gen_h, gen_w)
        model_fn = self._model_fn(identity.clip_embeds, features, pose_fit.permute(3, 0, 1, 2)[None])
        predict = make_predict(model_fn, cond_latents, batch_cfg=True)

        factor = vae_downscale(self.vae)
        latent_channels = int(self.vae.config.latent_channels)
        scheduler = self.sampler.make(steps, device=self.device)
        latents = sample_video(
            predict, scheduler, shape=(1, latent_channels, frames, gen_h // factor, gen_w // factor),
            windows=WindowConfig(window, min(overlap, window - 1) if window > 1 else 0), blend=blend,
            guidance_scale=guidance, seed=seed, device=self.device, dtype=self.dtype,
            callback=callback, cancel_check=cancel_check,
        )
        video = restore_size(decode_video(self.vae, latents, vae_chunk).cpu(), fit)
        if occlusion_mask is not None:
            mask = occlusion_mask.float().cpu().clamp(0, 1)[..., None]
            video = video * (1 - mask) + occlusion_video.float().cpu() * mask
        return video.clamp(0, 1)

    # ---- helpers ------------------------------------------------------------------------------------------
    def _check_scene(self, scene_video: torch.Tensor | None) -> None:
        if self.in_channels == 4 and scene_video is not None:
            raise ValueError(f"{self.source or 'this pipeline'}: the UNet takes 4 input channels (no scene "
                             "conditioning); leave scene_video empty or use an 8/12-channel MIMO model")
        if self.in_channels > 4 and scene_video is None:
            raise ValueError(f"{self.source or 'this pipeline'}: the UNet takes {self.in_channels} input "
                             f"channels ({IN_CHANNEL_MODES[self.in_channels]}); scene_video is required")

    def _check_window(self, window: int, frames: int) -> int:
        if int(window) < 1:
            raise ValueError(f"window must be >= 1 frame, got {window}")
        motion = self.unet.motion_config
        if motion is not None and int(window) > motion.max_frames:
            raise ValueError(f"window {window} exceeds the motion modules' {motion.max_frames}-frame table; "
                             f"use window <= {motion.max_frames}")
        return min(int(window), frames)

    def _encode(self, video: torch.Tensor, multiple: int, chunk: int) -> torch.Tensor:
        fitted, _ = fit_to_multiple(video.float().cpu(), multiple)
        return encode_video(self.vae, fitted, chunk)

    def _condition_latents(self, scene, occlusion, mask, multiple: int, chunk: int) -> torch.Tensor | None:
        """Noise-free latents concatenated to the noisy ones, ``[1, in_channels - 4, T, h, w]`` or None."""
        if self.in_channels == 4:
            return None
        parts = [self._encode(scene, multiple, chunk)]
        if self.in_channels == 12:
            if occlusion is None:
                occ = torch.zeros_like(scene)
            else:
                occ = occlusion.float() * (1.0 if mask is None else mask.float()[..., None])
            parts.append(self._encode(occ, multiple, chunk))
        return torch.cat(parts, dim=1).to(device=self.device, dtype=self.dtype)

    def _model_fn(self, clip_embeds: torch.Tensor, features, pose: torch.Tensor):
        """The window denoiser for :func:`make_predict`; ``pose``: ``[1, C, T, H, W]`` on the CPU."""
        device, dtype = self.device, self.dtype
        context = clip_embeds.to(device=device, dtype=dtype)
        uncond_context = torch.zeros_like(context)
        pose_param = next(self.pose_encoder.parameters())

        def model_fn(x, t, frame_indices, conditional, _feats):
            window_pose = pose[:, :, frame_indices].to(device=pose_param.device, dtype=pose_param.dtype)
            pose_features = self.pose_encoder(window_pose).to(device=device, dtype=dtype)
            if conditional is None:  # [uncond; cond] on the batch axis
                half = x.shape[0] // 2
                return self.unet(
                    x, t, torch.cat([uncond_context.expand(half, -1, -1), context.expand(half, -1, -1)]),
                    pose_features=pose_features.expand(2 * half, -1, -1, -1, -1), reference=features,
                    reference_mask=cfg_reference_mask(half, device),
                )
            return self.unet(x, t, context if conditional else uncond_context, pose_features=pose_features,
                             reference=features if conditional else None)

        return model_fn
