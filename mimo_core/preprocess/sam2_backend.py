"""SAM 2 video tracking backend (transformers ``Sam2VideoModel``) from a local folder.

The folder is a transformers SAM 2 video checkpoint (``config.json``,
``model.safetensors`` and the processor's ``processor_config.json`` or
``preprocessor_config.json``; e.g.
``facebook/sam2.1-hiera-small`` as converted for transformers). Nothing is
downloaded. The person is prompted with a box: the given ``box`` (on frame
``box_frame``), or else the one the MediaPipe detector picks with ``select`` in
the first frame where it finds anyone (so no clicking is needed). SAM 2
propagates from that frame to the end, then back to the first frame, and keeps
the identity through its memory; a frame whose object score is negative or
whose mask is empty is reported as lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ._arrays import as_frames, mask_box, to_uint8
from .depth import check_model_dir
from .tracking import PersonTrack, PersonTracker, Select, empty_track


class Sam2VideoBackend:
    """Reusable SAM 2 video model + processor.

    Args:
        model_dir: local transformers SAM 2 video folder.
        device: torch device string.
        dtype: torch dtype (default float32; bfloat16 on GPU saves memory).
    """

    def __init__(self, model_dir: str | os.PathLike[str], device: str = "cpu", dtype: Any = None) -> None:
        import torch
        from transformers import Sam2VideoModel, Sam2VideoProcessor

        path = check_model_dir(model_dir, "SAM 2 video")
        self.device = device
        self.dtype = dtype or torch.float32
        self.model = Sam2VideoModel.from_pretrained(str(path), dtype=self.dtype).to(device).eval()
        self.processor = Sam2VideoProcessor.from_pretrained(str(path))

    def track(
        self,
        frames: Any,
        select: Select = "largest",
        box: Iterable[float] | None = None,
        progress: Callable[[int, int], None] | None = None,
        box_frame: int = 0,
    ) -> PersonTrack:
        """Track one person through ``frames`` ([T,H,W,3] float 0..1).

        SAM 2 propagates from the prompted frame to the end, then back to the first
        frame (when the prompt is not on the first frame).

        Args:
            select: used with the MediaPipe detector to find the prompt box
                when ``box`` is None (first frame with a person).
            box: optional ``x0,y0,x1,y1`` pixels on frame ``box_frame``.
            progress: called as ``progress(done, T)`` after each frame processed.
            box_frame: the frame ``box`` is drawn on.

        Returns:
            :class:`PersonTrack`; landmarks stay NaN (SAM 2 gives masks only).
            Frames where SAM 2 reports the object absent are in ``lost_frames``.
        """
        import torch

        clip = as_frames(frames)
        t, h, w = clip.shape[:3]
        if box is not None:
            if not 0 <= box_frame < t:
                raise ValueError(f"box_frame must be a frame index in 0..{t - 1}, got {box_frame}")
            start, prompt = box_frame, np.asarray(list(box), np.float32)
        else:
            start, prompt = _auto_prompt(clip, select)
        track = empty_track(t, h, w)
        if prompt is None:
            track.lost_frames.extend(range(t))
            return track
        session = self.processor.init_video_session(
            video=list(to_uint8(clip)), inference_device=self.device, dtype=self.dtype
        )
        self.processor.add_inputs_to_inference_session(
            inference_session=session, frame_idx=start, obj_ids=1, input_boxes=[[prompt.tolist()]]
        )
        seen: set[int] = set()
        done: set[int] = set()
        with torch.inference_mode():
            for reverse in (False, True) if start > 0 else (False,):
                for out in self.model.propagate_in_video_iterator(session, start_frame_idx=start, reverse=reverse):
                    i = int(out.frame_idx)
                    if i in done:
                        continue  # the prompted frame, reached again going backwards
                    done.add(i)
                    masks = self.processor.post_process_masks(
                        [out.pred_masks], original_sizes=[[h, w]], binarize=False
                    )[0]
                    prob = torch.sigmoid(masks[0, 0].float()).cpu().numpy()
                    present = out.object_score_logits is None or float(out.object_score_logits.flatten()[0]) > 0
                    b = mask_box(prob)
                    if present and b is not None:
                        track.masks[i] = prob
                        track.boxes[i] = b
                        track.scores[i] = float(prob[prob > 0.5].mean()) if (prob > 0.5).any() else 0.0
                        seen.add(i)
                    if progress is not None:
                        progress(len(done), t)
        track.lost_frames.extend(i for i in range(t) if i not in seen)
        return track


def _auto_prompt(clip: np.ndarray, select: Select) -> tuple[int, np.ndarray | None]:
    """First frame with a person and that person's box (MediaPipe), or (0, None).

    When the usual search (every ``search_every`` frames) finds nobody, every frame
    is searched and the frame where the person is seen with the highest
    confidence is taken (:meth:`PersonTracker.search_every_frame`).
    """
    with PersonTracker(select=select) as tracker:
        for i, frame in enumerate(clip):
            det = tracker.update(to_uint8(frame))
            if det is not None:
                return i, det.box
        track = empty_track(*clip.shape[:3])
        if tracker.search_every_frame(clip, track):
            best = int(np.argmax(track.scores))
            return best, track.boxes[best]
    return 0, None
