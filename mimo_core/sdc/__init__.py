"""The official MIMO "sdc" pose condition: render it, load its colour table, recover the table.

- :func:`render_sdc`: the posed body drawn as the release's renderer draws it (pyrender flat
  vertex colours x 0.3, back-face culling, 4x MSAA, black background, full-frame HMR 2.0 camera);
- :func:`load_colour_table` / :func:`save_colour_table`: the release's ``sdc_info.npy`` (read with
  a restricted unpickler) or plain array files;
- :func:`recover_colour_table`: solve the table from an official template's ``sdc.mp4`` and a body
  fit of its ``vid.mp4``, with per-frame silhouette IoU and per-vertex confidence;
- :func:`pose_sdc_hands`: finger poses fitted to MediaPipe hand landmarks, undetected hands hidden
  as the release hides them.
"""

from .colour_table import load_colour_table, normalise_table, read_pickled_npy, save_colour_table
from .hand_poses import HAND_SOURCES, SdcHands, pose_sdc_hands
from .recover import (
    SdcRecovery,
    fill_unseen,
    psnr,
    recover_colour_table,
    recover_from_template,
    vertices_from_motion,
)
from .renderer import MSAA4_OFFSETS, SDC_GAIN, quantize_table, render_sdc, sdc_camera, to_uint8

__all__ = [
    "HAND_SOURCES",
    "MSAA4_OFFSETS",
    "SDC_GAIN",
    "SdcHands",
    "SdcRecovery",
    "fill_unseen",
    "load_colour_table",
    "normalise_table",
    "pose_sdc_hands",
    "psnr",
    "quantize_table",
    "read_pickled_npy",
    "recover_colour_table",
    "recover_from_template",
    "render_sdc",
    "save_colour_table",
    "sdc_camera",
    "to_uint8",
    "vertices_from_motion",
]
