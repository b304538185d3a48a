"""Synthetic ground-truth clips: Anny characters with clothing-like colours, procedural motions,
procedural scenes and occluders, with exact person / occlusion masks and scene.

- :func:`generate_clip` / :func:`synthesize_clip`: one clip from a seed;
- :func:`generate_dataset`: many clips + ``manifest.jsonl`` in a folder (resumable);
- ``python -m trainer.synthetic --out DIR --count N``: the same from the command line.
"""

from .clip import SyntheticSample, default_body_model, generate_clip, synthesize_clip
from .dataset import clip_seed, generate_dataset
from .render import canonical_pose_colours

__all__ = [
    "SyntheticSample", "canonical_pose_colours", "clip_seed", "default_body_model", "generate_clip",
    "generate_dataset", "synthesize_clip",
]  # fmt: skip
