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

With ``crop=CropOptions(...)`` it follows the released MIMO's person-region flow instead
(:mod:`~mimo_core.pipeline.crops`): per context window, a square box around the person in
that window's frames; the window's pose / scene / occlusion frames cut to it and resized to
``crop.size``; the window sampled on its own at that size (all windows take their starting
noise from one seeded ``[1, 4, T, h, w]`` draw); the decoded window resized back and pasted
over the scene (or ``crop.base_video``) with a feathered mask, windows blended linearly over
their shared frames.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..identity import Identity, encode_identity
from ..models.reference import ReferenceNet, cfg_reference_mask
from ..models.video_unet import VideoUNet
from .context import BLEND_MODES
from .crops import CropBox, CropOptions, WindowPaster, crop_window, mask_boxes, window_crop_boxes
from .predict import make_predict
from .sampler import WindowConfig, initial_noise, sample_video
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
        crop: CropOptions | None = None,
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
            blend: how overlapping windows' predictions are blended in latent space (``"average"``,
                ``"linear"``, ``"pyramid"``); with ``crop`` windows are sampled apart and
                ``crop.blend`` mixes their pixels instead.
            vae_chunk: frames per VAE call.
            callback: ``callback(step, total, x0_latents)`` after each sampling step; with ``crop``
                ``total`` is windows x steps and ``x0_latents`` covers the current window's frames.
            cancel_check: called before each window; truthy or raising stops with that error
                (:class:`~mimo_core.pipeline.sampler.SamplingCancelled` for truthy).
            crop: generate each window on a square crop around the person and paste it back
                (:class:`~mimo_core.pipeline.crops.CropOptions`); None generates whole frames.

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
        if crop is not None:
            crop_size, base, boxes = self._check_crop(crop, pose_video, scene_video)
        identity = reference if isinstance(reference, Identity) else self.encode_identity(reference)
        if crop is not None:
            video = self._generate_cropped(
                identity, pose_video, scene_video, occlusion_video, occlusion_mask, crop, crop_size, base, boxes,
                steps=steps, guidance=guidance, seed=seed, window=window, overlap=overlap, vae_chunk=vae_chunk,
                callback=callback, cancel_check=cancel_check,
            )
            return self._paste_occluders(video, occlusion_video, occlusion_mask)

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
        return self._paste_occluders(video, occlusion_video, occlusion_mask)

    @torch.no_grad()
    def repose(
        self,
        reference: Identity | torch.Tensor,
        pose: torch.Tensor,
        background: tuple[float, float, float] = (1.0, 1.0, 1.0),
        *,
        steps: int = 25,
        guidance: float = 3.5,
        seed: int = 0,
        callback: StepCallback | None = None,
        cancel_check: Callable[[], object] | None = None,
    ) -> torch.Tensor:
        """Redraw the reference character in another pose (MIMO's canonical A-pose, for one).

        The paper turns the character picture into a canonical A-pose with a human repose model
        before encoding it. This does it with the pipeline's own denoiser: one frame generated from
        the reference, driven by ``pose`` (the A-pose render of
        :func:`~mimo_core.body.a_pose.a_pose_motion`, drawn as this model's pose condition), over a
        plain ``background`` (the scene frame of 8/12-channel models; 4-channel ones draw their own).

        Args:
            reference: an :class:`Identity` or the reference picture ``[H,W,3]`` in 0..1.
            pose: ``[H,W,C]`` or ``[1,H,W,C]`` pose render in 0..1; sets the output size.
            background: RGB in 0..1 of the plain scene behind the character.
            steps, guidance, seed, callback, cancel_check: as for :meth:`generate`.

        Returns:
            ``[H,W,3]`` float32 picture in 0..1 on the CPU.
        """
        if pose.ndim == 3:
            pose = pose[None]
        if pose.ndim != 4 or pose.shape[0] != 1:
            raise ValueError(f"pose must be one pose render [H,W,C] (or [1,H,W,C]), got shape {tuple(pose.shape)}")
        colour = torch.as_tensor(background, dtype=torch.float32).flatten()
        if colour.numel() != 3 or not bool(((colour >= 0) & (colour <= 1)).all()):
            raise ValueError(f"background must be an RGB colour with values in 0..1, got {tuple(background)}")
        scene = None
        if self.in_channels > 4:
            scene = colour.expand(1, pose.shape[1], pose.shape[2], 3).clone()
        frame = self.generate(reference, pose, scene, steps=steps, guidance=guidance, seed=seed, window=1,
                              overlap=0, callback=callback, cancel_check=cancel_check)
        return frame[0]

    def _generate_cropped(
        self, identity: Identity, pose_video: torch.Tensor, scene_video: torch.Tensor | None,
        occlusion_video: torch.Tensor | None, occlusion_mask: torch.Tensor | None, crop: CropOptions,
        size: int, base: torch.Tensor, boxes: torch.Tensor, *, steps: int, guidance: float, seed: int,
        window: int, overlap: int, vae_chunk: int, callback: StepCallback | None,
        cancel_check: Callable[[], object] | None,
    ) -> torch.Tensor:
        """The person-crop flow (see the module docstring); ``[T,H,W,3]`` before the occluders go on top."""
        frames, height, width = pose_video.shape[:3]
        config = WindowConfig(window, min(overlap, window - 1) if window > 1 else 0)
        windows = config.windows(frames)
        crop_boxes = window_crop_boxes(boxes, windows, (height, width), margin=crop.margin)
        paster = WindowPaster(base.float().cpu(), windows, crop_boxes, feather=crop.feather, blend=crop.blend)

        multiple = self.size_multiple()
        factor = vae_downscale(self.vae)
        latent_channels = int(self.vae.config.latent_channels)
        features = identity.reference_features(self.vae, self.reference_net, size, size)
        # one stream: the starting noise of every window, then any stochastic scheduler steps in window order
        generator = torch.Generator("cpu").manual_seed(int(seed))
        noise = initial_noise((1, latent_channels, frames, size // factor, size // factor), generator=generator)
        for k, (win, box) in enumerate(zip(windows, crop_boxes, strict=True)):
            pose = self._crop(pose_video, win, box, size)
            scene = None if scene_video is None else self._crop(scene_video, win, box, size)
            occlusion = None if occlusion_video is None else self._crop(occlusion_video, win, box, size)
            mask = None if occlusion_mask is None else self._crop(occlusion_mask[..., None], win, box, size)[..., 0]
            cond_latents = self._condition_latents(scene, occlusion, mask, multiple, vae_chunk)
            del scene, occlusion, mask
            model_fn = self._model_fn(identity.clip_embeds, features, pose.permute(3, 0, 1, 2)[None])
            predict = make_predict(model_fn, cond_latents, batch_cfg=True)
            latents = sample_video(
                predict, self.sampler.make(steps, device=self.device), noise=noise[:, :, win],
                windows=[list(range(len(win)))], guidance_scale=guidance, generator=generator,
                device=self.device, dtype=self.dtype, callback=_window_progress(callback, k, len(windows)),
                cancel_check=cancel_check,
            )
            del predict, model_fn, cond_latents, pose
            paster.add(k, decode_video(self.vae, latents, vae_chunk).cpu())
            del latents
        return paster.result()

    # ---- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def _paste_occluders(video: torch.Tensor, occlusion_video: torch.Tensor | None,
                         occlusion_mask: torch.Tensor | None) -> torch.Tensor:
        if occlusion_mask is not None:
            mask = occlusion_mask.float().cpu().clamp(0, 1)[..., None]
            video = video * (1 - mask) + occlusion_video.float().cpu() * mask
        return video.clamp(0, 1)

    @staticmethod
    def _crop(video: torch.Tensor, frames: list[int], box: CropBox, size: int) -> torch.Tensor:
        """One window's frames of ``video`` ``[T,H,W,C]`` cut to ``box`` and resized to ``size``, on the CPU."""
        return crop_window(video[frames].float().cpu(), box, size)

    def _check_crop(self, crop: CropOptions, pose_video: torch.Tensor,
                    scene_video: torch.Tensor | None) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Validate ``crop``; returns the generation size, the video to paste onto and per-frame person boxes."""
        if not isinstance(crop, CropOptions):
            raise ValueError(f"crop must be a CropOptions or None, got {type(crop).__name__}")
        frames, height, width = pose_video.shape[:3]
        multiple = self.size_multiple()
        size = crop.size
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < multiple or size % multiple:
            raise ValueError(f"crop size (CropOptions.size) must be a positive multiple of {multiple} (the "
                             f"model's size multiple), got {size!r}")
        size = int(size)
        if crop.blend not in BLEND_MODES:
            raise ValueError(f"crop blend (CropOptions.blend) {crop.blend!r} is unknown; expected one of {BLEND_MODES}")
        if int(crop.feather) < 0:
            raise ValueError(f"crop feather (CropOptions.feather) must be >= 0 pixels, got {crop.feather}")
        if crop.person_mask is not None and crop.person_boxes is not None:
            raise ValueError("CropOptions takes person_mask or person_boxes, not both")
        base = crop.base_video if crop.base_video is not None else scene_video
        if base is None:
            raise ValueError("person crops are pasted onto the scene video: give scene_video or "
                             "CropOptions.base_video (4-channel pipelines take no scene_video)")
        if crop.base_video is not None:
            _check_video("CropOptions.base_video", crop.base_video, frames, height, width, 3)
        if crop.person_boxes is not None:
            boxes = crop.person_boxes
            if boxes.ndim != 2 or tuple(boxes.shape) != (frames, 4):
                raise ValueError(f"CropOptions.person_boxes must be [T,4] = [{frames}, 4] (x0, y0, x1, y1) per "
                                 f"pose frame, got shape {tuple(boxes.shape)}")
            boxes = boxes.float().cpu()
            valid = torch.isfinite(boxes).all(dim=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if not bool(valid.any()):
                raise ValueError("CropOptions.person_boxes has no box with an area in any frame")
        elif crop.person_mask is not None:
            _check_video("CropOptions.person_mask", crop.person_mask[..., None], frames, height, width, 1)
            boxes = mask_boxes(crop.person_mask)
            if not bool(torch.isfinite(boxes).all(dim=1).any()):
                raise ValueError("CropOptions.person_mask is empty (no value above 0.5 in any frame); "
                                 "give a mask of the person, or none to use the pose video")
        else:  # the pose render's non-background pixels (black background)
            boxes = mask_boxes(pose_video, threshold=float(crop.pose_threshold))
        return size, base, boxes

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


def _window_progress(callback: StepCallback | None, index: int, count: int) -> StepCallback | None:
    """The sampler callback of window ``index`` of ``count``: steps counted over all windows."""
    if callback is None:
        return None

    def on_step(step: int, total: int, x0: torch.Tensor) -> None:
        callback(index * total + step, count * total, x0)

    return on_step
