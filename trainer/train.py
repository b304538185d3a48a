"""Two-stage MIMO training with HF accelerate (single process, or DDP through ``accelerate launch``).

Stage 1 trains the ReferenceNet, the denoising UNet's spatial layers and the pose encoder on frame pairs
(a target frame and the clip's reference image). Stage 2 loads a stage-1 export and trains only the motion
modules on clips of ``frames`` frames. The UNet input is ``[noisy latents | scene latents | occlusion
latents]`` (4, 8 or 12 channels); the pose render goes through a PoseGuider added after ``conv_in``; the
CLIP image embedding is the cross-attention context and ReferenceNet features are read by self-attention.
Identity dropout (classifier-free guidance) zeroes a sample's CLIP embedding and drops its reference.

With ``pose_input: vertex_codes`` (the paper's structured motion code) a :class:`StructuredMotionEncoder`
replaces the PoseGuider: one learnable code per body-model vertex, rasterised on each sample's posed mesh
with that sample's camera and encoded by a PaperPoseEncoder. It trains in stage 1 and is frozen in stage 2.

Every random draw of a sample (clip, frame, dropout, noise, timestep) is a function of ``(seed, stream
position)``, and the stream position follows from the optimizer step, so a resumed run continues with
exactly the data and noise an uninterrupted run would have used, on any number of processes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mimo_core.checkpoints.importers import (
    load_unet2d_diffusers,
    load_vae_diffusers,
    read_motion_module,
)
from mimo_core.checkpoints.pack_format import load_model, read_header, save_model
from mimo_core.models.pose_encoders import PaperPoseEncoder, PoseGuider
from mimo_core.models.reference import ReferenceNet
from mimo_core.models.vertex_codes import StructuredMotionEncoder, VertexCodes
from mimo_core.models.video_unet import VideoUNet
from mimo_core.pipeline.vae import encode_video
from mimo_core.raster import PerspectiveCamera

from .checkpointing import load_checkpoint, resolve_resume, save_checkpoint, write_export
from .config import FROZEN_SEED, TINY_CLIP_CONFIG, TINY_VAE_CONFIG, TrainConfig
from .data.clips import read_clip, read_manifest
from .datasets import ClipDataset, FramePairDataset, StreamBatchSampler
from .losses import (
    add_noise,
    diffusion_loss,
    make_noise_scheduler,
    min_snr_weights,
    person_weights,
    sample_noise,
    training_target,
)

logger = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MODEL_CARD = "mimo_model.json"
VIDEO_KEYS = ("target", "pose", "scene", "occlusion")
#: export file names of the structured motion encoder (pose_input: vertex_codes), pack format
VERTEX_CODES_FILE = "vertex_codes.safetensors"
POSE_ENCODER_FILE = "pose_encoder.safetensors"


# ---- frozen encoders ------------------------------------------------------------------------------------------
@dataclass
class FrozenEncoders:
    """The frozen VAE and CLIP image encoder (never trained, never wrapped in DDP)."""

    vae: nn.Module
    image_encoder: nn.Module
    vae_config: dict[str, Any] | None  # set when the VAE is the preset's own (exported with the model)

    @property
    def image_size(self) -> int:
        return int(self.image_encoder.config.image_size)

    @torch.no_grad()
    def latents(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, F, H, W]`` in 0..1 -> scaled latents ``[B, 4, F, H/8, W/8]`` (distribution mean)."""
        return torch.cat([encode_video(self.vae, v.permute(1, 2, 3, 0), chunk_size=64) for v in video])

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in 0..1 -> CLIP image embedding tokens ``[B, 1, D]`` (float32)."""
        param = next(self.image_encoder.parameters())
        x = F.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
        x = ((x.clamp(0, 1) - mean) / std).to(device=param.device, dtype=param.dtype)
        return self.image_encoder(pixel_values=x).image_embeds.float().unsqueeze(1)


def _tiny_image_encoder() -> nn.Module:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP_CONFIG))


def _vae_init_config(vae: nn.Module) -> dict[str, Any]:
    """The constructor arguments of an ``AutoencoderKL`` (scaling factor included) for re-export."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    keys = set(AutoencoderKL.extract_init_dict(dict(vae.config))[0])
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(vae.config).items() if k in keys}


def build_frozen_encoders(config: TrainConfig) -> FrozenEncoders:
    """VAE + image encoder: the stage-1 export's (stage 2), local folders (sd15) or seeded random (tiny)."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from transformers import CLIPVisionModelWithProjection

    source = Path(config.init_from) if config.init_from else None
    vae_config = None
    if source is not None and (source / "vae.safetensors").is_file():
        vae = load_model(source / "vae.safetensors")
        vae_config = _vae_init_config(vae)
    elif config.vae_path and str(config.vae_path).endswith(".safetensors"):
        vae = load_model(config.vae_path)  # a pack-format VAE (e.g. trainer.vae_pretrain): exported with the model
        vae_config = _vae_init_config(vae)
    elif config.vae_path:
        vae = load_vae_diffusers(config.vae_path)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(FROZEN_SEED)
            vae = AutoencoderKL(**TINY_VAE_CONFIG)
        vae_config = dict(TINY_VAE_CONFIG)
    if source is not None and (source / "image_encoder").is_dir():
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(source / "image_encoder")
    elif config.image_encoder_path:
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(config.image_encoder_path)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(FROZEN_SEED + 1)
            image_encoder = _tiny_image_encoder()
    for module in (vae, image_encoder):
        module.requires_grad_(False).eval()
    return FrozenEncoders(vae, image_encoder, vae_config)


# ---- trainable networks ---------------------------------------------------------------------------------------
class MimoTrainModel(nn.Module):
    """ReferenceNet + pose encoder + denoising UNet as one module (one DDP wrapper, one forward per step).

    The pose encoder is ``pose_guider`` (a PoseGuider on the pose render) or, for ``pose_input:
    vertex_codes``, ``motion_encoder`` (a :class:`StructuredMotionEncoder`) with the body model's ``faces``
    ``[F, 3]`` (a non-persistent buffer: not part of checkpoints) and its id ``body_model``.
    """

    def __init__(
        self, unet: VideoUNet, reference_net: ReferenceNet, pose_guider: nn.Module | None = None,
        motion_encoder: StructuredMotionEncoder | None = None, faces: torch.Tensor | None = None,
        body_model: str | None = None,
    ) -> None:
        super().__init__()
        if (pose_guider is None) == (motion_encoder is None):
            raise ValueError("MimoTrainModel takes either a pose_guider or a motion_encoder")
        if motion_encoder is not None and faces is None:
            raise ValueError("a motion_encoder needs the body model's faces")
        self.unet = unet
        self.reference_net = reference_net
        self.body_model = body_model
        if pose_guider is not None:
            self.pose_guider = pose_guider
        else:
            self.motion_encoder = motion_encoder
            self.register_buffer("faces", faces.long(), persistent=False)

    def vertex_code_features(
        self, vertices: torch.Tensor, camera: torch.Tensor, size: tuple[int, int]
    ) -> torch.Tensor:
        """Pose features ``[B, C0, F, h, w]`` from posed meshes ``vertices`` ``[B, F, V, 3]`` (or ``[B, V, 3]``)
        and intrinsics ``camera`` ``[B, F, 4]`` (or ``[B, 4]``) of ``size = (H, W)`` frames: each sample's codes
        are rasterised with its own camera (per frame where they differ), the maps stacked and encoded."""
        if vertices.ndim == 3:
            vertices, camera = vertices.unsqueeze(1), camera.unsqueeze(1)
        maps = []
        for verts, cams in zip(vertices.float(), camera.float().cpu(), strict=True):
            if bool((cams == cams[:1]).all()):
                groups = [(slice(None), cams[0])]
            else:
                groups = [(slice(k, k + 1), cams[k]) for k in range(cams.shape[0])]
            parts = []
            for frames, (fx, fy, cx, cy) in groups:
                cam = PerspectiveCamera(float(fx), float(fy), float(cx), float(cy), width=size[1], height=size[0])
                parts.append(self.motion_encoder.render(verts[frames], self.faces, cam))  # [F, C, H, W]
            maps.append(torch.cat(parts).transpose(0, 1))  # [C, F, H, W]
        return self.motion_encoder.encoder(torch.stack(maps))

    def forward(
        self,
        model_input: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        reference_latents: torch.Tensor,
        pose: torch.Tensor | None,
        keep_identity: torch.Tensor,
        vertices: torch.Tensor | None = None,
        camera: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``model_input`` ``[B, C_in, F, h, w]``, ``timesteps`` ``[B]``, ``context`` ``[B, 1, D]``,
        ``reference_latents`` ``[B, 4, h, w]``, ``pose`` ``[B, 3, F, H, W]`` in 0..1, ``keep_identity`` ``[B]``
        bool (False = CFG-unconditional sample). With a motion encoder the pose comes from ``vertices`` and
        ``camera`` instead (see :meth:`vertex_code_features`; ``pose`` only gives the frame size).
        Returns the prediction ``[B, 4, F, h, w]``."""
        trains_reference = any(p.requires_grad for p in self.reference_net.parameters())
        with torch.set_grad_enabled(trains_reference and torch.is_grad_enabled()):
            reference = self.reference_net.encode(reference_latents, context)
        if hasattr(self, "motion_encoder"):
            if vertices is None or camera is None or pose is None:
                raise ValueError("a vertex-code model needs vertices, camera and the pose video (for its size)")
            pose_features = self.vertex_code_features(vertices, camera, tuple(pose.shape[-2:]))
        else:
            pose_features = self.pose_guider(pose)
        return self.unet(
            model_input,
            timesteps,
            context,
            pose_features=pose_features,
            reference=reference,
            reference_mask=keep_identity,
            use_motion_modules=self.unet.motion_config is not None,
        )


def _initial_unet2d(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The 2D UNet start weights (4 input channels): SD1.5 (sd15) or a seeded random init (tiny)."""
    if config.model == "sd15":
        assert config.pretrained is not None
        source = Path(config.pretrained)
        if source.is_dir():
            return load_unet2d_diffusers(source)[1]
        from mimo_core.checkpoints.sd_single_file import read_single_file_unet

        return read_single_file_unet(source)
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return UNet2DConditionModel(**config.reference_unet_config()).state_dict()


@lru_cache(maxsize=4)
def body_model_faces(name: str, model_file: str | None = None) -> torch.Tensor:
    """Triangles ``[F, 3]`` (long) of body model ``name``: ``'anny'``, or ``'smpl'`` / ``'smplh'`` + its file."""
    from mimo_core.body import load_body_model

    return load_body_model(name, model_file).faces.detach().long().cpu()


@dataclass(frozen=True)
class MeshInfo:
    """The body model of a dataset's clips: its id and vertex count."""

    body_model: str
    num_vertices: int


def data_mesh_info(config: TrainConfig) -> MeshInfo:
    """Body model id and vertex count of the clips (the first clip of the split; ``num_vertices`` is checked)."""
    entries = sorted(read_manifest(config.data_dir, config.split), key=lambda e: e["clip"])
    if not entries:
        raise FileNotFoundError(f"no clips in {config.data_dir} (split={config.split!r})")
    path = Path(config.data_dir) / entries[0]["clip"]
    clip = read_clip(path, slice(0, 1))
    if clip.vertices is None:
        raise ValueError(
            f"clip {path} has no vertices: pose_input 'vertex_codes' needs clips with the posed body mesh "
            "(from `trainer prepare` or the synthetic generator); use pose_input 'render' for this data"
        )
    count = int(clip.vertices.shape[1])
    if config.num_vertices is not None and config.num_vertices != count:
        raise ValueError(f"config field num_vertices={config.num_vertices} but the meshes of {path} "
                         f"({clip.body_model}) have {count} vertices")
    return MeshInfo(clip.body_model, count)


def mesh_faces(config: TrainConfig, mesh: MeshInfo) -> torch.Tensor:
    """The body model's faces for ``mesh``, checked against its vertex count."""
    if mesh.body_model in ("smpl", "smplh") and not config.body_model_file:
        raise ValueError(f"the clips' body model is {mesh.body_model!r}: set config field body_model_file to its "
                         "model file (e.g. SMPL_NEUTRAL.pkl / .npz) so its faces can be rasterised")
    faces = body_model_faces(mesh.body_model, config.body_model_file if mesh.body_model != "anny" else None)
    if int(faces.max()) >= mesh.num_vertices:
        raise ValueError(f"body model {mesh.body_model!r} has faces up to vertex {int(faces.max())} but the "
                         f"clips' meshes have {mesh.num_vertices} vertices")
    return faces


def build_stage1(config: TrainConfig) -> MimoTrainModel:
    """Image model: UNet and ReferenceNet from the same 2D weights (``conv_in`` zero-expanded), new PoseGuider
    (or, for ``pose_input: vertex_codes``, a new StructuredMotionEncoder)."""
    weights = _initial_unet2d(config)
    unet = VideoUNet(config.unet_config(), None, conv_in_kind=config.conv_in_kind)
    unet.load_unet2d_state_dict(weights)
    reference = ReferenceNet(**config.reference_unet_config())
    reference.load_state_dict(weights)
    if config.pose_input == "vertex_codes":
        mesh = data_mesh_info(config)
        faces = mesh_faces(config, mesh)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed + 1)
            width = config.unet_config()["block_out_channels"][0]
            motion = StructuredMotionEncoder(mesh.num_vertices, config.code_dim, width,
                                             config.motion_encoder_widths())
        return MimoTrainModel(unet, reference, motion_encoder=motion, faces=faces, body_model=mesh.body_model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        pose = PoseGuider(**config.pose_guider_config())
    return MimoTrainModel(unet, reference, pose)


def load_motion_encoder(folder: Path) -> StructuredMotionEncoder:
    """The StructuredMotionEncoder of a ``pose_input: vertex_codes`` export (two pack files)."""
    for name in (VERTEX_CODES_FILE, POSE_ENCODER_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: missing {name} (expected a vertex-code export folder)")
    codes, encoder = load_model(folder / VERTEX_CODES_FILE), load_model(folder / POSE_ENCODER_FILE)
    if not isinstance(codes, VertexCodes) or not isinstance(encoder, PaperPoseEncoder):
        raise TypeError(f"{folder}: {VERTEX_CODES_FILE} / {POSE_ENCODER_FILE} do not hold vertex codes and a "
                        "paper pose encoder")
    config = read_header(folder / POSE_ENCODER_FILE)[1]
    with torch.device("meta"):
        motion = StructuredMotionEncoder(codes.num_vertices, codes.dim, config["embedding_channels"],
                                         config["widths"])
    motion.codes, motion.encoder = codes, encoder
    return motion


def build_stage2(config: TrainConfig) -> MimoTrainModel:
    """Video model from a stage-1 export; only the motion modules are trainable."""
    source = Path(str(config.init_from))
    pose_file = "pose_guider.safetensors" if config.pose_input == "render" else POSE_ENCODER_FILE
    for name in ("denoising_unet.safetensors", "reference_net.safetensors", pose_file):
        if not (source / name).is_file():
            raise FileNotFoundError(f"init_from={source}: missing {name} (expected a stage-1 export folder)")
    image_unet = load_model(source / "denoising_unet.safetensors")
    if not isinstance(image_unet, VideoUNet):
        raise TypeError(f"{source / 'denoising_unet.safetensors'} does not hold a video_unet")
    unet_config = dict(image_unet.unet_config)
    if unet_config["in_channels"] != config.in_channels:
        raise ValueError(
            f"in_channels={config.in_channels} but the stage-1 UNet in {source} takes {unet_config['in_channels']}"
        )
    if image_unet.conv_in_kind != config.conv_in_kind:
        raise ValueError(
            f"conv_in_kind={config.conv_in_kind!r} but the stage-1 UNet in {source} has a "
            f"{image_unet.conv_in_kind!r} conv_in"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = VideoUNet(unet_config, config.motion_config(), conv_in_kind=image_unet.conv_in_kind)
    unet.load_unet2d_state_dict(image_unet.spatial_state_dict())
    if config.motion_module_path:
        result = unet.load_state_dict(read_motion_module(config.motion_module_path), strict=False)
        if result.unexpected_keys:
            raise KeyError(f"{config.motion_module_path}: keys not in this UNet: {result.unexpected_keys[:8]}")
    if config.pose_input == "vertex_codes":
        motion = load_motion_encoder(source)
        mesh = data_mesh_info(config)
        if motion.codes.num_vertices != mesh.num_vertices:
            raise ValueError(f"init_from={source} holds {motion.codes.num_vertices} vertex codes but the clips in "
                             f"{config.data_dir} have {mesh.num_vertices}-vertex meshes")
        model = MimoTrainModel(unet, load_model(source / "reference_net.safetensors"), motion_encoder=motion,
                               faces=mesh_faces(config, mesh), body_model=mesh.body_model)
    else:
        model = MimoTrainModel(
            unet, load_model(source / "reference_net.safetensors"), load_model(source / "pose_guider.safetensors")
        )
    model.requires_grad_(False)
    for name, param in model.unet.named_parameters():
        param.requires_grad_("motion_modules." in name)
    return model


def build_model(config: TrainConfig) -> MimoTrainModel:
    model = build_stage1(config) if config.stage == 1 else build_stage2(config)
    if config.gradient_checkpointing:
        model.unet.enable_gradient_checkpointing()
        if config.stage == 1:
            model.reference_net.enable_gradient_checkpointing()
    return model.train()


# ---- EMA ----------------------------------------------------------------------------------------------------------
class ExponentialMovingAverage:
    """Shadow copies of the trained parameters: ``shadow = decay * shadow + (1 - decay) * param`` per step."""

    def __init__(self, named_params: Mapping[str, torch.Tensor], decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in named_params.items()}

    @torch.no_grad()
    def update(self, named_params: Mapping[str, torch.Tensor]) -> None:
        for name, param in named_params.items():
            self.shadow[name].lerp_(param.detach().float(), 1 - self.decay)

    def load(self, shadow: Mapping[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(shadow)
        if missing:
            raise KeyError(f"EMA checkpoint lacks {sorted(missing)[:8]}")
        self.shadow = {k: shadow[k].float().to(self.shadow[k].device) for k in self.shadow}


def trained_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p for k, p in model.named_parameters() if p.requires_grad}


def learning_rate(config: TrainConfig, step: int) -> float:
    """Constant learning rate after a linear warm-up of ``lr_warmup_steps`` optimizer steps."""
    if config.lr_warmup_steps and step < config.lr_warmup_steps:
        return config.learning_rate * (step + 1) / config.lr_warmup_steps
    return config.learning_rate


# ---- one step -------------------------------------------------------------------------------------------------
def compute_loss(
    model: nn.Module,
    encoders: FrozenEncoders,
    noise_scheduler: Any,
    batch: Mapping[str, torch.Tensor],
    config: TrainConfig,
    device: torch.device,
) -> torch.Tensor:
    """The diffusion loss of one (micro-)batch from a :mod:`trainer.datasets` collate."""
    video = {k: batch[k].to(device) for k in VIDEO_KEYS}
    if video["target"].ndim == 4:  # stage 1: [B, 3, H, W] -> one-frame videos
        video = {k: v.unsqueeze(2) for k, v in video.items()}
    reference = batch["reference"].to(device)
    keep = ~batch["drop_identity"].to(device=device, dtype=torch.bool)
    latents = encoders.latents(video["target"])
    cond = []
    if config.in_channels >= 8:
        cond.append(encoders.latents(video["scene"]))
    if config.in_channels >= 12:
        cond.append(encoders.latents(video["occlusion"]))
    reference_latents = encoders.latents(reference.unsqueeze(2))[:, :, 0]
    context = encoders.embed(reference) * keep.view(-1, 1, 1).float()
    noise, timesteps = sample_noise(
        batch["position"], tuple(latents.shape[1:]), config.seed, noise_scheduler.config.num_train_timesteps,
        config.noise_offset,
    )
    noise, timesteps = noise.to(device), timesteps.to(device)
    noisy = add_noise(noise_scheduler, latents, noise, timesteps)
    if config.pose_input == "vertex_codes":
        prediction = model(torch.cat([noisy, *cond], dim=1), timesteps, context, reference_latents,
                           video["pose"], keep, vertices=batch["vertices"].to(device), camera=batch["camera"])
    else:
        prediction = model(torch.cat([noisy, *cond], dim=1), timesteps, context, reference_latents,
                           video["pose"], keep)
    target = training_target(noise_scheduler, latents, noise, timesteps)
    weights = min_snr_weights(noise_scheduler, timesteps, config.snr_gamma) if config.snr_gamma > 0 else None
    spatial = None
    if config.person_loss_weight > 0:
        person = batch["person"].to(device)
        if person.ndim == 4:
            person = person.unsqueeze(2)
        spatial = person_weights(person, tuple(latents.shape[-2:]), config.person_loss_weight)
    return diffusion_loss(prediction, target, weights, spatial)


# ---- export -------------------------------------------------------------------------------------------------------
def export_models(
    folder: Path, model: MimoTrainModel, encoders: FrozenEncoders, config: TrainConfig,
    ema: ExponentialMovingAverage | None, step: int,
) -> None:
    """Write the trained modules (EMA weights when enabled) in the pack format plus ``mimo_model.json``."""
    weights = dict(model.state_dict())
    if ema is not None:
        weights.update({k: v.to(weights[k].dtype) for k, v in ema.shadow.items()})

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}

    vertex_codes = hasattr(model, "motion_encoder")
    copies = {
        "unet": VideoUNet.from_video_config(model.unet.video_config()),
        "reference_net": ReferenceNet(**config.reference_unet_config()) if config.stage == 1
        else ReferenceNet(**dict(model.unet.unet_config, in_channels=4)),
    }
    if vertex_codes:
        codes_config = _vertex_codes_kwargs(model.motion_encoder.codes)
        encoder_config = _paper_encoder_kwargs(model.motion_encoder.encoder)
        copies["motion_encoder.codes"] = VertexCodes(**codes_config)
        copies["motion_encoder.encoder"] = PaperPoseEncoder(**encoder_config)
    else:
        copies["pose_guider"] = PoseGuider(**_pose_guider_kwargs(model.pose_guider))
    for prefix, module in copies.items():
        module.load_state_dict(part(prefix + "."))
    save_model(copies["unet"], folder / "denoising_unet.safetensors", "video_unet", model.unet.video_config())
    save_model(copies["reference_net"], folder / "reference_net.safetensors", "reference_net",
               {"unet": dict(model.unet.unet_config, in_channels=4)})
    if vertex_codes:
        save_model(copies["motion_encoder.codes"], folder / VERTEX_CODES_FILE, "vertex_codes", codes_config)
        save_model(copies["motion_encoder.encoder"], folder / POSE_ENCODER_FILE, "paper_pose_encoder",
                   encoder_config)
    else:
        save_model(copies["pose_guider"], folder / "pose_guider.safetensors", "pose_guider",
                   _pose_guider_kwargs(model.pose_guider))
    if encoders.vae_config is not None:
        save_model(encoders.vae, folder / "vae.safetensors", "vae", encoders.vae_config)
    if config.model == "tiny" or config.init_from and (Path(config.init_from) / "image_encoder").is_dir():
        encoders.image_encoder.save_pretrained(folder / "image_encoder")
    card = {
        "format": "mimo-trained",
        "stage": config.stage,
        "step": step,
        "model": config.model,
        "in_channels": config.in_channels,
        "pose_input": config.pose_input,
        "prediction_type": config.prediction_type,
        "zero_snr": config.zero_snr,
        "resolution": config.resolution,
        "frames": config.frames if config.stage == 2 else 1,
        "ema": ema is not None,
        "vae": "vae.safetensors" if encoders.vae_config is not None else config.vae_path,
        "image_encoder": "image_encoder" if (folder / "image_encoder").is_dir() else config.image_encoder_path,
        "clip_normalization": {"mean": list(CLIP_MEAN), "std": list(CLIP_STD)},
    }
    if vertex_codes:
        card.update({"body_model": model.body_model, "num_vertices": model.motion_encoder.codes.num_vertices,
                     "code_dim": model.motion_encoder.codes.dim, "vertex_codes": VERTEX_CODES_FILE,
                     "pose_encoder": POSE_ENCODER_FILE})
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")


def _vertex_codes_kwargs(codes: VertexCodes) -> dict[str, Any]:
    return {"num_vertices": int(codes.num_vertices), "dim": int(codes.dim)}


def _paper_encoder_kwargs(encoder: PaperPoseEncoder) -> dict[str, Any]:
    """The :class:`PaperPoseEncoder` keyword arguments that rebuild ``encoder`` (read from its layers)."""
    convs = [m for m in encoder.conv_layers if isinstance(m, nn.Conv2d)]
    widths = [c.out_channels for c in convs if c.stride == (2, 2)] + [convs[-1].out_channels]
    return {"conditioning_channels": int(encoder.conditioning_channels),
            "embedding_channels": int(encoder.final_proj.out_channels), "widths": [int(w) for w in widths]}


def _pose_guider_kwargs(pose: nn.Module) -> dict[str, Any]:
    widths = [pose.conv_in.out_channels] + [b.out_channels for b in pose.blocks[1::2]]
    return {"embedding_channels": pose.conv_out.out_channels,
            "conditioning_channels": pose.conditioning_channels, "block_out_channels": widths}


# ---- the loop -------------------------------------------------------------------------------------------------
def make_dataset(config: TrainConfig) -> FramePairDataset | ClipDataset:
    common = dict(seed=config.seed, identity_dropout=config.identity_dropout, split=config.split,
                  vertex_codes=config.pose_input == "vertex_codes")
    if config.stage == 1:
        return FramePairDataset(config.data_dir, config.resolution, **common)
    return ClipDataset(config.data_dir, config.resolution, config.frames, config.frame_stride, **common)


def train(config: TrainConfig, resume: str | None = None) -> Path:
    """Run (or continue) training; returns the export folder. Call on every process."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration
    from tqdm.auto import tqdm

    config.validate()
    output = Path(config.output_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(output), logging_dir=str(output / "logs")),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    device = accelerator.device
    model = build_model(config)
    encoders = build_frozen_encoders(config)
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(config.mixed_precision, torch.float32)
    for frozen in (encoders.vae, encoders.image_encoder):
        frozen.to(device) if weight_dtype == torch.float32 else frozen.to(device, dtype=weight_dtype)
    noise_scheduler = make_noise_scheduler(config.prediction_type, config.zero_snr)
    params = list(trained_parameters(model).values())
    if not params:
        raise ValueError("nothing to train: no parameter requires grad")
    optimizer = torch.optim.AdamW(
        params, lr=config.learning_rate, weight_decay=config.weight_decay, eps=config.adam_epsilon
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model: MimoTrainModel = accelerator.unwrap_model(model)
    ema = ExponentialMovingAverage(trained_parameters(raw_model), config.ema_decay) if config.ema_decay else None

    step = 0
    checkpoint = resolve_resume(output, resume)
    if checkpoint is not None:
        state, ema_state = load_checkpoint(accelerator, checkpoint)
        step = int(state["step"])
        if ema is not None:
            if ema_state is None:
                raise ValueError(f"{checkpoint} has no EMA weights but ema_decay={config.ema_decay}")
            ema.load(ema_state)
        logger.info("resumed from %s at step %d", checkpoint, step)

    dataset = make_dataset(config)
    sampler = StreamBatchSampler(config.batch_size, accelerator.num_processes, accelerator.process_index,
                                 start_micro_step=step * config.gradient_accumulation_steps)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=config.num_workers,
                        persistent_workers=config.num_workers > 0)

    def export() -> None:
        if accelerator.is_main_process:
            write_export(output, lambda folder: export_models(folder, raw_model, encoders, config, ema, step))
        accelerator.wait_for_everyone()

    accelerator.init_trackers(
        "train", config={k: v for k, v in config.to_dict().items() if isinstance(v, (int, float, str, bool))}
    )
    progress = tqdm(total=config.steps, initial=step, disable=not accelerator.is_main_process,
                    desc=f"stage {config.stage}", dynamic_ncols=True)
    running = []
    if step < config.steps:
        for batch in loader:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            with accelerator.accumulate(model):
                loss = compute_loss(model, encoders, noise_scheduler, batch, config, device)
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            running.append(accelerator.gather(loss.detach().float().reshape(1)).mean().item())
            if not accelerator.sync_gradients:
                continue
            step += 1
            if ema is not None:
                ema.update(trained_parameters(raw_model))
            mean_loss = sum(running) / len(running)
            running = []
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"loss became {mean_loss} at step {step}")
            if step % config.log_every == 0:
                accelerator.log({"loss": mean_loss, "lr": learning_rate(config, step - 1)}, step=step)
            progress.update(1)
            progress.set_postfix(loss=f"{mean_loss:.4f}")
            if step % config.checkpoint_every == 0 or step == config.steps:
                save_checkpoint(
                    accelerator, output, step,
                    {"micro_step": step * config.gradient_accumulation_steps,
                     "processes": accelerator.num_processes, "config": config.to_dict()},
                    ema.shadow if ema is not None else None, keep=config.keep_checkpoints,
                )
                export()
            if step >= config.steps:
                break
    else:
        export()
    progress.close()
    accelerator.end_training()
    return output / "export"
