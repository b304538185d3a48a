"""Video loading node with the limits long clips need (resize, stride, frame cap)."""

from __future__ import annotations

import os

import folder_paths
import torch
from comfy_api.latest import io

from mimo_core.video_io import iter_video_frames, probe_video

from ._common import CATEGORY, Progress, to_intermediate

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif")


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
        expected = max(1, (info.frame_count - start_frame + frame_stride - 1) // frame_stride)
        if max_frames:
            expected = min(expected, max_frames)
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
