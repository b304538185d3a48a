"""Person mask and tracking nodes."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from mimo_core.preprocess.tracking import track_person
from mimo_core.preview import draw_boxes, overlay_mask

from . import types
from ._common import CATEGORY, Progress, to_intermediate
from .video import rgb_frames

SELECT_OPTIONS = ["largest", "center", "index"]


class MimoTrackPerson(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoTrackPerson",
            display_name="MIMO Track Person",
            category=f"{CATEGORY}/preprocess",
            description=(
                "Finds one person automatically and follows them through the clip, giving a soft "
                "mask per frame, their box and 2D/3D body landmarks. No clicking needed; frames "
                "where the person is lost are reported (empty mask), never filled in. A person lost "
                "behind something is looked for again, backwards from the frame where they reappear. "
                "When the usual search (every 8th frame until someone is found) finds nobody, every "
                "frame is searched and the person is followed both ways from where they are seen best. "
                "Someone who leaves and comes back elsewhere is taken back by the colours of their "
                "clothing, only when those match closely and clearly better than anyone else's. "
                "The mask's edge is then moved onto the frame's own edges nearby (MediaPipe's mask "
                "is computed at low resolution)."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Video frames [T,H,W,3]."),
                io.Combo.Input("select", options=SELECT_OPTIONS, default="largest",
                               tooltip="Which person when several are visible: the largest, the one nearest "
                                       "the centre, or by index (people sorted left to right)."),
                io.Int.Input("person_index", default=0, min=0, max=16,
                             tooltip="Used when select is 'index': 0 is the left-most person."),
            ],
            outputs=[
                io.Mask.Output(display_name="mask", tooltip="[T,H,W] person mask in 0..1."),
                types.PersonTrack.Output(display_name="track",
                                         tooltip="Boxes, landmarks and lost frames, for the motion and layer nodes."),
                io.Image.Output(display_name="preview", tooltip="Frames with the mask and box drawn on."),
            ],
        )

    @classmethod
    def execute(cls, frames, select, person_index) -> io.NodeOutput:
        frames = rgb_frames(frames, "frames")
        choice = person_index if select == "index" else select
        track = track_person(frames.cpu().numpy(), select=choice, progress=Progress(frames.shape[0]))
        if len(track.lost_frames) == frames.shape[0]:
            raise ValueError(
                f"frames: no person was found in any of the {frames.shape[0]} frames "
                f"({frames.shape[2]}x{frames.shape[1]} pixels); use a clip where the person is visible, "
                "or a larger max_side if they are small"
            )
        masks = torch.from_numpy(track.masks)
        preview = draw_boxes(overlay_mask(frames.cpu(), masks), track.boxes)
        return io.NodeOutput(to_intermediate(masks), track, to_intermediate(preview))


NODES = [MimoTrackPerson]
