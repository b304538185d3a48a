"""The example graphs in API format (the source of workflows/ and of `make demo`)."""

from __future__ import annotations


def preprocess_preview(video: str, prefix: str = "mimo/preprocess", max_side: int = 512,
                       frame_stride: int = 2, max_frames: int = 48) -> dict:
    """Load a clip, track the person, save the mask overlay and a side-by-side video."""
    return {
        "1": {"class_type": "MimoLoadVideo", "inputs": {
            "video": video, "max_side": max_side, "frame_stride": frame_stride,
            "max_frames": max_frames, "start_frame": 0}},
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "MimoSideBySide", "inputs": {"video_1": ["1", 0], "video_2": ["2", 2], "video_3": ["3", 0]}},
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": ["1", 1]}},
        "6": {"class_type": "SaveVideo", "inputs": {
            "video": ["5", 0], "filename_prefix": f"{prefix}_side_by_side", "format": "mp4", "codec": "h264"}},
    }
