"""Video loading node with the limits long clips need (resize, stride, frame cap)."""

from __future__ import annotations

import logging
import os

import folder_paths
import torch
from comfy_api.latest import io

from mimo_core.video_io import iter_video_frames, probe_video

from ._common import CATEGORY, Progress, to_intermediate

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif")
# Longest side read when max_side is 0: larger videos are scaled down to it (with a warning).
MAX_SIDE_LIMIT = 4096
# Share of the free memory the decoded clip (float32 frames) may take.
MEMORY_SHARE = 0.5

log = logging.getLogger("mimo")


def rgb_frames(frames: torch.Tensor, name: str) -> torch.Tensor:
    """``[T,H,W,3]`` frames from an IMAGE input holding 1 (grey), 3 (RGB) or 4 (RGBA) channels.

    Alpha is dropped; grey is repeated to RGB. Raises ValueError naming ``name`` for an empty batch
    or any other layout.
    """
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name} must be images [T,H,W,C] with 1, 3 or 4 channels, got shape {tuple(frames.shape)}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(frames.shape)}): no frames to work on")
    if frames.shape[-1] == 1:
        return frames.expand(-1, -1, -1, 3)
    return frames[..., :3]


def _free_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - no limit known
        return 1 << 62


def read_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``(W, H)`` the frames will have once read with ``max_side`` (0: the original size)."""
    longest = max(width, height)
    if not max_side or longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def input_videos() -> list[str]:
    root = folder_paths.get_input_directory()
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if f.lower().endswith(VIDEO_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(found)


class MimoLoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoLoadVideo",
            display_name="MIMO Load Video",
            category=f"{CATEGORY}/video",
            description=(
                "Reads a video from the input folder as IMAGE frames, streaming it in chunks so "
                "memory stays bounded: frames are resized on the fly (longest side), sub-sampled "
                "by a stride and capped at a frame count."
            ),
            inputs=[
                io.Combo.Input("video", options=input_videos(), upload=io.UploadType.video,
                               tooltip="A video file in ComfyUI's input folder."),
                io.Int.Input("max_side", default=768, min=0, max=4096, step=8,
                             tooltip="Resize so the longest side is at most this (0 keeps the original size)."),
                io.Int.Input("frame_stride", default=1, min=1, max=16,
                             tooltip="Keep every N-th frame (2 halves the frame rate)."),
                io.Int.Input("max_frames", default=0, min=0, max=100000,
                             tooltip="Stop after this many frames (0 reads the whole video)."),
                io.Int.Input("start_frame", default=0, min=0, max=1000000,
                             tooltip="Index of the first frame to read."),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip="[T,H,W,3] frames in 0..1."),
                io.Float.Output(display_name="fps", tooltip="Frame rate after the stride."),
                io.Int.Output(display_name="frame_count", tooltip="Number of frames read."),
            ],
        )

    @classmethod
    def validate_inputs(cls, video, **_kwargs):
        if not folder_paths.exists_annotated_filepath(video):
            return f"video '{video}' was not found in the input folder"
        return True

    @classmethod
    def fingerprint_inputs(cls, video, **kwargs):
        path = folder_paths.get_annotated_filepath(video)
        return f"{path}:{os.path.getmtime(path)}:{sorted(kwargs.items())}"

    @classmethod
    def execute(cls, video, max_side, frame_stride, max_frames, start_frame) -> io.NodeOutput:
        path = folder_paths.get_annotated_filepath(video)
        info = probe_video(path)
        if info.frame_count and start_frame >= info.frame_count:
            raise ValueError(f"start_frame: video '{video}' has {info.frame_count} frames (0..{info.frame_count - 1}), "
                             f"so start_frame={start_frame} is past the end")
        if not max_side and max(info.width, info.height) > MAX_SIDE_LIMIT:
            log.warning("[MIMO] video '%s' is %dx%d: reading it scaled down to %d pixels on the longest side "
                        "(set max_side to choose the size)", video, info.width, info.height, MAX_SIDE_LIMIT)
            max_side = MAX_SIDE_LIMIT
        expected = max(1, (max(info.frame_count, 1) - start_frame + frame_stride - 1) // frame_stride)
        if max_frames:
            expected = min(expected, max_frames)
        width, height = read_size(info.width, info.height, max_side)
        needed, free = expected * width * height * 3 * 4, _free_memory()
        if needed > MEMORY_SHARE * free:
            raise MemoryError(
                f"video '{video}': {expected} frames of {width}x{height} need {needed / 2**30:.1f} GiB as float "
                f"frames, more than half of the free memory ({free / 2**30:.1f} GiB); lower max_side or "
                "max_frames, or raise frame_stride"
            )
        progress = Progress(expected)
        chunks = []
        done = 0
        for chunk in iter_video_frames(path, chunk_size=16, max_side=max_side or None, start=start_frame,
                                       stride=frame_stride, max_frames=max_frames or None):
            chunks.append(torch.as_tensor(chunk))
            done += len(chunk)
            progress(min(done, expected), expected)
        if not chunks:
            raise ValueError(f"video '{video}' has no frames after start_frame={start_frame}")
        frames = torch.cat(chunks)
        return io.NodeOutput(to_intermediate(frames), info.fps / frame_stride, int(frames.shape[0]))


NODES = [MimoLoadVideo]
