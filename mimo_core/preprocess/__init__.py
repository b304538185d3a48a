"""Video preprocessing for MIMO: person tracking, layer split, depth, inpainting, reference.

Defaults run on CPU with nothing downloaded (MediaPipe, OpenCV); SAM 2 and
Depth Anything load from local transformers folders when the user has them.
"""

from .depth import DepthEstimator, estimate_depth
from .inpaint import inpaint_video
from .layers import Layers, split_layers
from .mediapipe_backend import MediaPipePersonDetector, PersonDetection
from .occluders import find_moving_occluders
from .reference import person_mask, prepare_reference
from .sam2_backend import Sam2VideoBackend
from .stream import StreamResult, preprocess_video_stream
from .tracking import PersonTrack, PersonTracker, track_person

__all__ = [
    "DepthEstimator",
    "Layers",
    "MediaPipePersonDetector",
    "PersonDetection",
    "PersonTrack",
    "PersonTracker",
    "Sam2VideoBackend",
    "StreamResult",
    "estimate_depth",
    "find_moving_occluders",
    "inpaint_video",
    "person_mask",
    "prepare_reference",
    "preprocess_video_stream",
    "split_layers",
    "track_person",
]
