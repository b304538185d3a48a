from __future__ import annotations

import numpy as np
import pytest

from mimo_core.preprocess.layers import Layers, split_layers

T, H, W = 3, 64, 80


def _scene():
    """Textured background, a person rectangle, a vertical pole in front of the person."""
    rng = np.random.default_rng(1)
    frames = np.round(rng.random((T, H, W, 3)) * 255) / 255
    frames = frames.astype(np.float32)
    body = np.zeros((T, H, W), np.float32)
    body[:, 10:60, 30:50] = 1.0  # the whole body (what a rendered silhouette shows)
    pole = np.zeros((T, H, W), np.float32)
    pole[:, :, 38:43] = 1.0  # a pole in front, full height
    frames[:, 10:60, 30:50] = [0.8, 0.2, 0.2]
    frames[pole > 0] = [0.1, 0.1, 0.9]
    person_visible = body * (1 - pole)
    # disparity: larger = nearer. scene 0.1, person 0.5, pole 0.9; a far object 0.05
    depth = np.full((T, H, W), 0.1, np.float32)
    depth[body > 0] = 0.5
    depth[pole > 0] = 0.9
    return frames, body, pole, person_visible, depth


def _iou(a, b):
    a, b = a > 0.5, b > 0.5
    return (a & b).sum() / max((a | b).sum(), 1)


def _near_pole(pole):
    """The part of the pole inside the search region around the person (box grown 1.5x)."""
    region = np.zeros_like(pole)
    region[:, 0:64, 25:55] = 1
    return pole * region


def test_depth_finds_the_pole_and_composite_reproduces_input():
    frames, _, pole, person, depth = _scene()
    layers = split_layers(frames, person, depth=depth)
    assert _iou(layers.occlusion_mask, _near_pole(pole)) > 0.9
    assert layers.occlusion_mask[:, :, :36].max() == 0  # nothing else became an occluder
    np.testing.assert_allclose(layers.composite(), frames, atol=1 / 255)
    hard = layers.scene_mask > 0
    np.testing.assert_array_equal(layers.scene[hard], frames[hard])
    assert layers.scene[~hard].max() == 0  # holes left for inpainting


def test_metric_depth_convention_is_respected():
    frames, _, pole, person, depth = _scene()
    metric = 1.0 / depth  # smaller = nearer
    layers = split_layers(frames, person, depth=metric, depth_larger_is_nearer=False)
    assert _iou(layers.occlusion_mask, _near_pole(pole)) > 0.9
    flipped = split_layers(frames, person, depth=metric, depth_larger_is_nearer=True)
    assert _iou(flipped.occlusion_mask, _near_pole(pole)) < 0.1


def test_given_candidates_with_depth_keep_only_the_near_one():
    frames, _, pole, person, depth = _scene()
    far = np.zeros_like(pole)
    far[:, 5:20, 55:70] = 1
    depth[far > 0] = 0.05
    cands = np.stack([far, pole], 1)
    layers = split_layers(frames, person, depth=depth, occluder_masks=cands)
    assert _iou(layers.occlusion_mask, pole) > 0.99


def test_silhouette_without_depth_marks_hidden_body():
    frames, body, pole, person, _ = _scene()
    layers = split_layers(frames, person, body_silhouette=body)
    hidden = body * pole
    assert _iou(layers.occlusion_mask, hidden) > 0.9
    cands = np.stack([pole, np.zeros_like(pole)], 1)
    with_cands = split_layers(frames, person, body_silhouette=body, occluder_masks=cands)
    assert _iou(with_cands.occlusion_mask, pole) > 0.99  # the whole segment covering it
    np.testing.assert_allclose(with_cands.composite(), frames, atol=1 / 255)


def test_no_evidence_means_no_occlusion():
    frames, _, _, person, _ = _scene()
    layers = split_layers(frames, person)
    assert layers.occlusion_mask.max() == 0
    np.testing.assert_allclose(layers.person_mask + layers.scene_mask, 1.0)


def test_save_load_roundtrip(tmp_path):
    frames, _, _, person, depth = _scene()
    layers = split_layers(frames, person, depth=depth)
    path = tmp_path / "layers.npz"
    layers.save(path)
    back = Layers.load(path)
    for name in ("person", "occlusion", "scene", "person_mask", "occlusion_mask", "scene_mask"):
        np.testing.assert_allclose(getattr(back, name), getattr(layers, name), atol=0.5 / 255)


def test_shape_errors_name_the_input():
    frames, _, _, person, depth = _scene()
    with pytest.raises(ValueError, match="person_mask"):
        split_layers(frames, person[:, :10])
    with pytest.raises(ValueError, match="depth"):
        split_layers(frames, person, depth=depth[:2])
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        Layers.load("/nonexistent/nothing.npz")


def test_faint_mask_values_do_not_leak_background_into_the_person_layer():
    from mimo_core.preprocess.layers import split_layers

    frames = np.full((1, 8, 8, 3), 0.7, np.float32)
    mask = np.full((1, 8, 8), 0.03, np.float32)  # segmenter noise around the person
    mask[0, 2:6, 3:5] = 1.0
    layers = split_layers(frames, mask)
    assert np.all(layers.person[0, 0, 0] == 0) and layers.person_mask[0, 0, 0] == 0
    assert np.all(layers.person[0, 3, 3] == 0.7)
    assert np.abs(layers.composite() - frames).max() < 1e-6
