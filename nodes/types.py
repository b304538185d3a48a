"""Custom socket types of the pack (standard IMAGE / MASK / LATENT are used where they fit)."""

from __future__ import annotations

from comfy_api.latest import io

# mimo_core.preprocess.PersonTrack: masks, boxes, lost frames and 2D/3D landmarks of one person.
PersonTrack = io.Custom("MIMO_PERSON_TRACK")
# mimo_core.preprocess.Layers: person / occlusion / scene layers with their masks.
Layers = io.Custom("MIMO_LAYERS")
# mimo_core.body.MotionSequence: per-frame body pose, one shape, camera.
Motion = io.Custom("MIMO_MOTION")
