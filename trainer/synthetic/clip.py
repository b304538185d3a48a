"""One synthetic ground-truth clip: a dressed Anny character moving in front of a procedural scene,
with occluders passing in front, and every layer known exactly.

Layer definitions (all exact, masks are hard 0/255):

- ``scene``: the background alone (no person, no occluder);
- ``person_mask``: pixels where the rendered body is visible and no occluder covers it;
- ``occlusion_mask``: pixels covered by an occluder (occluders are always nearer than the person);
- ``frames`` = scene, then the shaded body drawn where the body is, then the occluders on top.

Everything is a pure function of the seed (NumPy ``default_rng(seed)``; torch is only used for
deterministic geometry and rasterisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mimo_core.body import BodyModel, BodyParams
from trainer.data.clips import Clip

from .clothing import clothing_colours, sample_outfit
from .motion import sample_motion
from .occluders import draw_occluders, sample_occluders
from .render import (
    canonical_pose_colours,
    framing_camera,
    lambert_vertex_colours,
    posed_vertices,
    render_body,
    render_reference,
    rest_vertices,
    to_uint8,
)
from .textures import procedural_texture

# Anny phenotype ranges (0..1 each, 0.5 = average): adults of every build.
PHENOTYPE_RANGES = {
    "gender": (0.0, 1.0), "age": (0.4, 0.9), "muscle": (0.15, 0.85), "weight": (0.15, 0.85),
    "height": (0.15, 0.9), "proportions": (0.25, 0.75),
}  # fmt: skip

_BODY_MODEL: BodyModel | None = None


def default_body_model() -> BodyModel:
    """The Anny body model, created once per process."""
    global _BODY_MODEL
    if _BODY_MODEL is None:
        from mimo_core.body import load_body_model

        _BODY_MODEL = load_body_model("anny")
    return _BODY_MODEL


@dataclass
class SyntheticSample:
    """A synthetic clip plus the layers it was composited from.

    clip: the training :class:`~trainer.data.clips.Clip`.
    person_rgb: ``[T,H,W,3]`` uint8 shaded body (0 where the body is absent).
    body_mask: ``[T,H,W]`` bool, the whole rendered body (occluded parts included).
    occluder_rgb: ``[T,H,W,3]`` uint8 occluders (0 where absent).
    occluder_mask: ``[T,H,W]`` bool.
    occluder_masks: ``[K,T,H,W]`` bool, each occluder's own mask (where it is drawn, also where
        a nearer one covers it); ``K`` may be 0.
    """

    clip: Clip
    person_rgb: np.ndarray
    body_mask: np.ndarray
    occluder_rgb: np.ndarray
    occluder_mask: np.ndarray
    occluder_masks: np.ndarray


def _check_size(size: tuple[int, int], frames: int) -> tuple[int, int]:
    if len(size) != 2 or min(int(size[0]), int(size[1])) < 16:
        raise ValueError(f"size must be (height, width) with both >= 16, got {size}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    return int(size[0]), int(size[1])


def sample_shape(body_model: BodyModel, rng: np.random.Generator) -> torch.Tensor:
    """``[S]`` random phenotypes within :data:`PHENOTYPE_RANGES`."""
    values = [rng.uniform(*PHENOTYPE_RANGES.get(name, (0.3, 0.7))) for name in body_model.shape_names]
    return torch.tensor(values, dtype=torch.float32)


def _background(rng: np.random.Generator, h: int, w: int, frames: int) -> tuple[np.ndarray, str]:
    """``[T,H,W,3]`` uint8 scene; a third of the scenes pan slowly (the camera moves)."""
    pan = rng.random() < 0.3
    pad = max(2, int(0.15 * max(h, w))) if pan else 0
    tex, kind = procedural_texture(rng, h + pad, w + pad)
    tex = to_uint8(tex)
    if not pan:
        return np.repeat(tex[None], frames, 0), kind
    (x0, y0), (x1, y1) = rng.integers(0, pad + 1, (2, 2))
    out = np.empty((frames, h, w, 3), np.uint8)
    for i in range(frames):
        a = 0.0 if frames <= 1 else i / (frames - 1)
        x, y = int(round(x0 + a * (x1 - x0))), int(round(y0 + a * (y1 - y0)))
        out[i] = tex[y:y + h, x:x + w]
    return out, f"{kind}+pan"


def synthesize_clip(
    seed: int,
    size: tuple[int, int] = (256, 256),
    frames: int = 24,
    body_model: BodyModel | None = None,
    fps: float = 24.0,
    reference_size: tuple[int, int] | None = None,
    motion_kind: str | None = None,
    occluder_count: int | None = None,
) -> SyntheticSample:
    """Generate one clip and its layers (see the module doc).

    Args:
        seed: any non-negative integer; equal seeds give identical clips.
        size: ``(height, width)`` of the frames (>= 16 each).
        frames: number of frames ``T``.
        body_model: the Anny model (created once per process when ``None``).
        fps: frame rate (sets the motion speed).
        reference_size: ``(height, width)`` of the reference image; defaults to ``size``.
        motion_kind: force a motion (see :data:`trainer.synthetic.motion.MOTION_KINDS`).
        occluder_count: force the number of occluders.
    """
    h, w = _check_size(size, frames)
    body = body_model or default_body_model()
    rng = np.random.default_rng(seed)
    shape = sample_shape(body, rng)
    rest = rest_vertices(body, shape)
    outfit = sample_outfit(rng)
    albedo = torch.from_numpy(clothing_colours(rest.numpy(), outfit, rng))
    motion = sample_motion(body, rng, frames, fps, kind=motion_kind)

    # Placement: the body covers 45-85 % of the frame height at its mean depth.
    camera = framing_camera(h, w)
    y_lo, y_hi = float(rest[:, 1].min()), float(rest[:, 1].max())
    depth = camera.fy * (y_hi - y_lo) / (rng.uniform(0.45, 0.85) * h)
    heading = motion.heading()
    steps = heading * motion.forward_speed
    steps[:, 1] = 0.0
    path = torch.cumsum(steps, 0) - steps[0]
    path = path - path.mean(0)  # centred on the mean position
    u = rng.uniform(0.35, 0.65) * w
    v = rng.uniform(0.45, 0.55) * h
    base = torch.tensor([(u - camera.cx) * depth / camera.fx, (v - camera.cy) * depth / camera.fy + (y_hi + y_lo) / 2,
                         depth])  # fmt: skip
    transl = base + path
    transl[:, 2] = transl[:, 2].clamp_min(0.5 * depth)
    params = BodyParams(pose=motion.pose, shape=shape[None], global_orient=motion.global_orient(), transl=transl)
    verts = posed_vertices(body, params)  # [T,V,3] camera frame

    light = torch.tensor([rng.uniform(-0.6, 0.6), rng.uniform(0.2, 0.8), 1.0])
    shaded = lambert_vertex_colours(verts, body.faces, albedo, light, float(rng.uniform(0.3, 0.5)))
    rgb, pose, body_mask_t = render_body(verts, body.faces, shaded, canonical_pose_colours(body), camera)
    body_mask = body_mask_t.numpy()
    person_rgb = to_uint8(rgb) * body_mask[..., None]

    scene, bg_kind = _background(rng, h, w, frames)
    occluders = sample_occluders(rng, h, w, float(verts[..., 2].min()), count=occluder_count, target=(u, v))
    occ_rgb = np.zeros((frames, h, w, 3), np.uint8)
    occ_mask = np.zeros((frames, h, w), bool)
    for i in range(frames):
        o_rgb, occ_mask[i] = draw_occluders(occluders, i, frames, h, w)
        occ_rgb[i] = to_uint8(o_rgb) * occ_mask[i][..., None]

    video = scene.copy()
    video[body_mask] = person_rgb[body_mask]
    video[occ_mask] = occ_rgb[occ_mask]
    visible = body_mask & ~occ_mask
    ref_img, ref_mask = render_reference(rest, body.faces, albedo, reference_size or (h, w))
    cam = np.tile(np.array([[camera.fx, camera.fy, camera.cx, camera.cy]], np.float32), (frames, 1))
    clip = Clip(
        frames=video, person_mask=visible.astype(np.uint8) * 255, occlusion_mask=occ_mask.astype(np.uint8) * 255,
        scene=scene, pose=to_uint8(pose), reference=ref_img, reference_mask=ref_mask, fps=float(fps),
        body_model=body.name, vertices=verts.numpy().astype(np.float16), camera=cam,
        extra={"seed": int(seed), "motion": motion.kind, "background": bg_kind, "occluders": len(occluders),
               "shape": [round(float(s), 4) for s in shape]},
    )  # fmt: skip
    each = np.zeros((len(occluders), frames, h, w), bool)
    for k, o in enumerate(occluders):
        for i in range(frames):
            each[k, i] = draw_occluders([o], i, frames, h, w)[1]
    return SyntheticSample(clip=clip, person_rgb=person_rgb, body_mask=body_mask, occluder_rgb=occ_rgb,
                           occluder_mask=occ_mask, occluder_masks=each)  # fmt: skip


def generate_clip(
    seed: int, size: tuple[int, int] = (256, 256), frames: int = 24, body_model: BodyModel | None = None,
    fps: float = 24.0,
) -> Clip:
    """One synthetic training clip (see :func:`synthesize_clip`)."""
    return synthesize_clip(seed, size, frames, body_model, fps).clip
