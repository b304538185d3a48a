"""Trainer export -> pipeline folder (``python -m trainer.export_pipeline EXPORT_DIR OUT_DIR``).

:func:`trainer.train.train` writes ``<output>/export/`` with ``denoising_unet.safetensors``,
``reference_net.safetensors``, ``pose_guider.safetensors`` (pack format), ``vae.safetensors`` (when the
VAE belongs to the model), ``image_encoder/`` and ``mimo_model.json``. This module turns such a folder into
the pipeline format of :func:`mimo_core.pipeline.mimo_io.save_pipeline` (what the ``MimoLoadPipeline`` node
and :func:`~mimo_core.pipeline.mimo_io.load_pipeline_any` read), with sampler settings that match the
training: DDIM, the trained prediction type and zero-terminal-SNR setting, trailing timestep spacing.
The training card is kept beside it as ``mimo_model.json`` (plus any ``extra_card`` fields).

A ``pose_input: vertex_codes`` export holds ``vertex_codes.safetensors`` and ``pose_encoder.safetensors`` (a
``PaperPoseEncoder``) instead of ``pose_guider.safetensors``. Its pipeline's pose encoder takes the codes
rasterised on the posed body mesh, ``[T, H, W, code_dim]`` as ``pose_video`` of
:meth:`~mimo_core.pipeline.mimo.MimoPipeline.generate`; :func:`vertex_code_pose_video` renders them from the
export (or pipeline) folder, a mesh sequence and a camera. The pipeline folder keeps ``vertex_codes.safetensors``
beside the other components.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from mimo_core.checkpoints.importers import load_vae_diffusers
from mimo_core.checkpoints.pack_format import load_model
from mimo_core.identity import load_image_encoder
from mimo_core.models.pose_encoders import PaperPoseEncoder
from mimo_core.models.vertex_codes import VertexCodes
from mimo_core.pipeline.mimo import MimoPipeline, SamplerSettings
from mimo_core.pipeline.mimo_io import save_pipeline

EXPORT_FILES = ("denoising_unet.safetensors", "reference_net.safetensors", "pose_guider.safetensors")
VERTEX_CODE_FILES = ("denoising_unet.safetensors", "reference_net.safetensors", "pose_encoder.safetensors",
                     "vertex_codes.safetensors")
CARD = "mimo_model.json"


def _is_vertex_code_card(card: dict[str, Any]) -> bool:
    return card.get("pose_input") == "vertex_codes"


def pipeline_from_export(export_dir: str | Path, vae_file: str | Path | None = None) -> MimoPipeline:
    """Build a :class:`MimoPipeline` from a trainer export folder.

    ``vae_file``: a pack-format VAE to use instead of the export's (e.g. one whose decoder was fine-tuned
    after training by :func:`trainer.vae_pretrain.finetune_decoder`; the encoder must be the one the model
    was trained with, which is checked).
    """
    folder = Path(export_dir)
    card = json.loads((folder / CARD).read_text(encoding="utf-8")) if (folder / CARD).is_file() else {}
    vertex_codes = _is_vertex_code_card(card)
    needed = VERTEX_CODE_FILES if vertex_codes else EXPORT_FILES
    missing = [name for name in (*needed, CARD) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a trainer export: missing {missing}")
    if vae_file is not None:
        vae = load_model(vae_file)
        if (folder / "vae.safetensors").is_file():
            _check_same_encoder(load_model(folder / "vae.safetensors"), vae, vae_file)
    elif (folder / "vae.safetensors").is_file():
        vae = load_model(folder / "vae.safetensors")
    elif card.get("vae"):
        vae = load_vae_diffusers(card["vae"])
    else:
        raise FileNotFoundError(f"{folder}: no vae.safetensors and no VAE path in {CARD}")
    encoder_dir = folder / "image_encoder" if (folder / "image_encoder").is_dir() else card.get("image_encoder")
    if not encoder_dir or not Path(encoder_dir).is_dir():
        raise FileNotFoundError(f"{folder}: no image_encoder/ folder and no image encoder path in {CARD}")
    sampler = SamplerSettings(name="ddim", prediction_type=card.get("prediction_type", "v_prediction"),
                              zero_snr=bool(card.get("zero_snr", True)), timestep_spacing="trailing")
    pipeline = MimoPipeline(
        vae=vae.eval(), image_encoder=load_image_encoder(Path(encoder_dir)).eval(),
        reference_net=load_model(folder / "reference_net.safetensors").eval(),
        unet=load_model(folder / "denoising_unet.safetensors").eval(),
        pose_encoder=load_model(folder / needed[2]).eval(),
        sampler=sampler, source=str(folder),
    )
    return pipeline


def _check_same_encoder(trained: Any, replacement: Any, path: str | Path) -> None:
    a, b = trained.state_dict(), replacement.state_dict()
    for key in a:
        if key.startswith(("encoder.", "quant_conv.")) and not (key in b and a[key].shape == b[key].shape
                                                              and bool((a[key] == b[key]).all())):
            raise ValueError(f"{path}: encoder weight {key} differs from the VAE the model was trained with")
    if float(trained.config.scaling_factor) != float(replacement.config.scaling_factor):
        raise ValueError(f"{path}: scaling_factor differs from the VAE the model was trained with")


def export_pipeline(export_dir: str | Path, out_dir: str | Path, extra_card: dict[str, Any] | None = None,
                    vae_file: str | Path | None = None) -> Path:
    """Write the pipeline folder ``out_dir`` from the trainer export ``export_dir``; returns ``out_dir``."""
    pipeline = pipeline_from_export(export_dir, vae_file)
    card = json.loads((Path(export_dir) / CARD).read_text(encoding="utf-8"))
    if _is_vertex_code_card(card):
        out = _save_vertex_code_pipeline(pipeline, Path(export_dir) / "vertex_codes.safetensors", Path(out_dir))
    else:
        out = save_pipeline(pipeline, out_dir)
    card.update(extra_card or {})
    card["sampler"] = pipeline.sampler.to_dict()
    (out / CARD).write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")
    return out


def _save_vertex_code_pipeline(pipeline: MimoPipeline, codes_file: Path, folder: Path) -> Path:
    """:func:`~mimo_core.pipeline.mimo_io.save_pipeline` of a vertex-code model: the ``PaperPoseEncoder`` as
    ``pose_encoder`` and the trained vertex codes as an extra component."""
    if not isinstance(pipeline.pose_encoder, PaperPoseEncoder):
        raise TypeError(f"a vertex-code pipeline needs a PaperPoseEncoder, got {type(pipeline.pose_encoder).__name__}")
    codes = load_model(codes_file)
    if not isinstance(codes, VertexCodes):
        raise TypeError(f"{codes_file} does not hold vertex codes")
    return save_pipeline(pipeline, folder, vertex_codes=codes)


def vertex_code_pose_video(
    folder: str | Path, vertices: torch.Tensor, camera: torch.Tensor, height: int, width: int,
    faces: torch.Tensor | None = None, body_model_file: str | None = None,
) -> torch.Tensor:
    """The ``pose_video`` ``[T, H, W, code_dim]`` of a vertex-code model for ``MimoPipeline.generate``.

    ``folder``: a vertex-code trainer export or pipeline folder (``vertex_codes.safetensors`` and
    ``mimo_model.json``); ``vertices``: ``[T, V, 3]`` posed body mesh in the camera frame (metres);
    ``camera``: ``[4]`` or ``[T, 4]`` fx, fy, cx, cy in pixels of the ``height x width`` frames; ``faces``:
    the body model's triangles (default: the card's ``body_model``, with ``body_model_file`` for SMPL).
    """
    from mimo_core.pose_condition import render_vertex_codes
    from mimo_core.raster import PerspectiveCamera

    folder = Path(folder)
    codes = load_model(folder / "vertex_codes.safetensors")
    if faces is None:
        from .train import body_model_faces

        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
        name = card.get("body_model", "anny")
        faces = body_model_faces(name, None if name == "anny" else body_model_file)
    vertices = torch.as_tensor(vertices).float()
    camera = torch.as_tensor(camera).float().reshape(-1, 4).expand(vertices.shape[0], 4)
    frames = []
    with torch.no_grad():
        for verts, (fx, fy, cx, cy) in zip(vertices, camera.tolist(), strict=True):
            cam = PerspectiveCamera(fx, fy, cx, cy, width=int(width), height=int(height))
            frames.append(render_vertex_codes(codes.codes, verts[None], faces, cam)[0])
    return torch.stack(frames).permute(0, 2, 3, 1).contiguous()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.export_pipeline", description=__doc__.splitlines()[0])
    p.add_argument("export_dir", help="a trainer export folder (<output_dir>/export)")
    p.add_argument("out_dir", help="pipeline folder to write (e.g. ComfyUI/models/mimo/<name>)")
    p.add_argument("--vae", default=None, help="a pack-format VAE file replacing the export's (same encoder)")
    args = p.parse_args(argv)
    print(export_pipeline(args.export_dir, args.out_dir, vae_file=args.vae))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
