"""The example graphs in API format (the source of workflows/ and of `make demo`)."""

from __future__ import annotations


def preprocess_preview(video: str, prefix: str = "mimo/preprocess", max_side: int = 512,
                       frame_stride: int = 2, max_frames: int = 48) -> dict:
    """Load a clip, track the person, fit the 3D body, split layers (occluders found where the
    fitted body is hidden), inpaint the scene; save a side-by-side video
    (input | tracked person | pose condition | clean scene)."""
    return {
        "1": {"class_type": "MimoLoadVideo", "inputs": {
            "video": video, "max_side": max_side, "frame_stride": frame_stride,
            "max_frames": max_frames, "start_frame": 0}},
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "8": {"class_type": "MimoEstimateMotion", "inputs": {
            "frames": ["1", 0], "track": ["2", 1], "body_model": "anny", "iterations": 150, "fit_shape": False,
            "fps": ["1", 1]}},
        "9": {"class_type": "MimoRenderPose", "inputs": {"motion": ["8", 0], "mode": "parts", "width": 0, "height": 0}},
        "3": {"class_type": "MimoSplitLayers", "inputs": {
            "frames": ["1", 0], "person_mask": ["2", 0], "body_silhouette": ["9", 1], "depth_margin": 0.05}},
        "7": {"class_type": "MimoInpaintScene", "inputs": {
            "frames": ["3", 5], "holes": ["3", 6], "camera": "static", "dilate": 4}},
        "4": {"class_type": "MimoSideBySide", "inputs": {
            "video_1": ["1", 0], "video_2": ["2", 2], "video_3": ["9", 0], "video_4": ["7", 0]}},
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": ["1", 1]}},
        "6": {"class_type": "SaveVideo", "inputs": {
            "video": ["5", 0], "filename_prefix": f"{prefix}_side_by_side", "format": "mp4", "codec": "h264"}},
        "10": {"class_type": "MimoSaveMotion", "inputs": {"motion": ["8", 0], "filename_prefix": f"{prefix}_motion"}},
    }


# file name -> (title shown in the template browser, builder with the sample inputs)
WORKFLOWS = {
    "mimo_preprocess_preview": (
        "MIMO: person tracking and layer preview",
        lambda: preprocess_preview("demo.mp4", prefix="mimo/preprocess"),
    ),
}
