"""Occluders found without depth: motion across the rendered body, on small synthetic clips."""

from __future__ import annotations

import cv2
import numpy as np

from mimo_core.preprocess.layers import split_layers
from mimo_core.preprocess.occluders import find_moving_occluders

T, H, W = 10, 96, 128


def _texture(rng: np.random.Generator, h: int, w: int, base: tuple[float, float, float]) -> np.ndarray:
    """Smooth random texture around a base colour (rigid: it moves with its object)."""
    noise = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 1.5)
    noise = (noise - noise.mean()) / (noise.std() + 1e-6)
    return np.clip(np.asarray(base, np.float32) + 0.12 * noise, 0, 1)


def _clip(occluder_speed: float = -6.0, behind: bool = False, limb_speed: float = 0.0, seed: int = 0):
    """A textured 'person' (a box) walking right, with a bar crossing it.

    Returns frames, the segmenter's person mask (which, like MediaPipe's, also covers
    the part of an occluder lying over the person), the body silhouette, the true
    visible person and the true occluder.
    """
    rng = np.random.default_rng(seed)
    scene = _texture(rng, H, W + 64, (0.45, 0.5, 0.55))
    person_tex = _texture(rng, 60, 24, (0.8, 0.4, 0.3))
    limb_tex = _texture(rng, 8, 14, (0.3, 0.7, 0.3))
    bar_tex = _texture(rng, 80, 14, (0.2, 0.3, 0.8))
    frames = np.zeros((T, H, W, 3), np.float32)
    body = np.zeros((T, H, W), bool)
    bar = np.zeros((T, H, W), bool)
    for i in range(T):
        frame = scene[:, 32 : 32 + W].copy()
        px = 50 + i  # the person walks 1 px per frame
        bx = int(round(64 + occluder_speed * (i - T / 2)))  # the bar crosses the person mid-clip
        layer_bar = np.zeros((H, W), bool)
        x0, x1 = max(bx, 0), min(bx + 14, W)
        if x1 > x0:
            layer_bar[8:88, x0:x1] = True
        bar_pixels = bar_tex[:, x0 - bx : x1 - bx]
        if behind and x1 > x0:
            frame[8:88, x0:x1] = bar_pixels
        frame[20:80, px : px + 24] = person_tex
        body[i, 20:80, px : px + 24] = True
        ly = int(round(40 + limb_speed * np.sin(i)))  # an arm moving on its own inside the body
        frame[ly : ly + 8, px + 5 : px + 19] = limb_tex
        if not behind and x1 > x0:
            frame[8:88, x0:x1] = bar_pixels
            bar[i] = layer_bar
        frames[i] = frame
    visible = body & ~bar
    person_mask = body.copy()  # the segmenter covers the occluder over the body too
    return frames, person_mask.astype(np.float32), body.astype(np.float32), visible, bar


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_moving_occluder_is_found_where_the_silhouette_rule_sees_nothing():
    frames, pm, sil, visible, bar = _clip()
    simple = split_layers(frames, pm, body_silhouette=sil, motion=False, rigid=False)
    layers = split_layers(frames, pm, body_silhouette=sil)
    # The person mask covers the bar over the body, so no silhouette pixel is uncovered:
    # the silhouette rule alone finds nothing.
    assert _iou(simple.occlusion_mask, bar) < 0.05
    assert _iou(layers.occlusion_mask, bar) > 0.8
    # The whole bar, also in frames where it is away from the body (followed through the clip;
    # the first and last frames, with one neighbour only, are the least precise).
    away = [i for i in range(T) if bar[i].any() and not (bar[i] & (sil[i] > 0)).any()]
    assert len(away) >= 3
    assert np.mean([_iou(layers.occlusion_mask[i], bar[i]) for i in away]) > 0.75
    assert min(_iou(layers.occlusion_mask[i], bar[i]) for i in away) > 0.6
    # The person layer stops at the bar.
    assert _iou(simple.person_mask, visible) < 0.85
    assert _iou(layers.person_mask, visible) > 0.95
    np.testing.assert_allclose(layers.composite(), frames, atol=1 / 255)


def test_slightly_misfitted_silhouette_still_finds_the_occluder():
    frames, pm, sil, visible, bar = _clip()
    shifted = np.roll(sil, (3, -2), axis=(1, 2))  # the fitted body is off by a few pixels
    layers = split_layers(frames, pm, body_silhouette=shifted)
    assert _iou(layers.occlusion_mask, bar) > 0.75
    assert _iou(layers.person_mask, visible) > 0.9


def test_a_body_part_moving_on_its_own_is_not_an_occluder():
    frames, pm, sil, _, _ = _clip(occluder_speed=100.0, limb_speed=4.0)  # no bar in view
    occ = find_moving_occluders(frames, pm, sil)
    assert occ.max() == 0


def test_an_object_passing_behind_the_person_is_not_an_occluder():
    frames, pm, sil, visible, _ = _clip(behind=True)
    layers = split_layers(frames, pm, body_silhouette=sil)
    assert layers.occlusion_mask.sum() < 0.02 * sil.sum()
    assert _iou(layers.person_mask, visible) > 0.97


def test_static_clip_and_single_frame_find_no_motion():
    frames, pm, sil, _, _ = _clip()
    still = np.repeat(frames[:1], T, 0)
    assert find_moving_occluders(still, pm, sil).max() == 0
    assert find_moving_occluders(frames[:1], pm[:1], sil[:1]).max() == 0


def test_thin_slivers_of_a_misfitted_body_are_not_occluders_but_a_hidden_block_is():
    frames = np.full((1, 64, 64, 3), 0.5, np.float32)
    person = np.zeros((1, 64, 64), np.float32)
    person[0, 10:60, 20:40] = 1
    sil = np.zeros_like(person)
    sil[0, 10:60, 18:40] = 1  # the fit is 2 px too wide on the left: a sliver, not an occluder
    layers = split_layers(frames, person, body_silhouette=sil)
    assert layers.occlusion_mask.max() == 0
    person[0, 30:45, 20:40] = 0  # a static object hides a block of the body
    layers = split_layers(frames, person, body_silhouette=sil)
    block = np.zeros_like(person)
    block[0, 30:45, 20:40] = 1
    assert _iou(layers.occlusion_mask, block) > 0.8



def _fast_block_clip(seed: int = 3):
    """A textured block crossing in front of the person's torso too fast to be caught half in and half
    out: one frame clear of the person, the next wholly within their outline (which the segmenter then
    counts as person), then out on the other side."""
    h, w = 192, 256
    rng = np.random.default_rng(seed)
    scene = _texture(rng, h, w, (0.45, 0.5, 0.55))
    person_tex = _texture(rng, 120, 56, (0.8, 0.4, 0.3))
    block_tex = _texture(rng, 40, 12, (0.2, 0.3, 0.8))
    frames = np.zeros((T, h, w, 3), np.float32)
    body = np.zeros((T, h, w), bool)
    block = np.zeros((T, h, w), bool)
    for i in range(T):
        frame = scene.copy()
        px = 100 + i
        frame[40:160, px : px + 56] = person_tex
        body[i, 40:160, px : px + 56] = True
        bx = 41 + 14 * i  # frame 3: clear of the person (grown by 5 %); frame 4: within that margin
        frame[70:110, bx : bx + 12] = block_tex
        block[i, 70:110, bx : bx + 12] = True
        frames[i] = frame
    return frames, body.astype(np.float32), body.astype(np.float32), block


def test_an_object_that_comes_in_front_within_the_outline_is_an_occluder():
    frames, pm, sil, block = _fast_block_clip()
    on_body = [i for i in range(T) if (block[i] & (sil[i] > 0)).any()]
    assert on_body == [4, 5, 6, 7, 8]
    found = find_moving_occluders(frames, pm, sil)
    for i in on_body:
        assert _iou(found[i], block[i]) > 0.6, (i, _iou(found[i], block[i]))
    layers = split_layers(frames, pm, body_silhouette=sil)
    for i in on_body:
        assert _iou(layers.person_mask[i], (sil[i] > 0) & ~block[i]) > 0.9


def test_a_piece_on_the_body_next_to_a_piece_outside_with_the_same_motion_is_one_object():
    """The rule for an object whose motion region came apart at the person's edge (same frame)."""
    from mimo_core.preprocess.occluders import _arrivals, _Region

    h, w = 40, 60
    on_body = np.zeros((h, w), bool)
    on_body[10:30, 20:30] = True
    beside = np.zeros((h, w), bool)
    beside[10:30, 32:40] = True  # 2 px away
    far = np.zeros((h, w), bool)
    far[10:30, 50:58] = True
    v = np.array([4.0, -1.0], np.float32)

    def added(other_mask, other_v, outside=0.9):
        piece = _Region(0, on_body, v, True, 0.0, True)
        other = _Region(0, other_mask, other_v, True, outside, False)
        return any(r is piece for r in _arrivals([[piece, other]], [[]])[0])

    assert added(beside, v)
    assert not added(far, v)  # not next to it
    assert not added(beside, v + np.float32([2.0, 0.0]))  # another motion
    assert not added(beside, v, outside=0.2)  # the other piece is within the person too (a limb)


def test_a_limb_next_to_an_object_that_moves_like_it_stays_with_the_person():
    """Synthetic seed 159: a tall disc passes in front of a walking person. Flow is smooth
    across the disc's edge, so the leg beside it was taken in with it (13 % of the visible
    person, with the exact person mask and silhouette); the superpixels that look like the
    person and join them outside the disc are given back."""
    from trainer.synthetic import default_body_model, synthesize_clip

    sample = synthesize_clip(159, (256, 256), 24, body_model=default_body_model())
    clip = sample.clip
    person, truth = clip.person_mask > 127, clip.occlusion_mask > 127
    inputs = (clip.frames, person.astype(np.float32), sample.body_mask.astype(np.float32))
    found = find_moving_occluders(*inputs) > 0.5
    assert (found & person).sum() < 0.06 * person.sum()
    assert (found & truth).sum() > 0.8 * truth.sum()
    taken_in = find_moving_occluders(*inputs, person_colours=False) > 0.5
    assert (taken_in & person).sum() > 0.1 * person.sum()  # what it guards against
    assert (taken_in & truth).sum() - (found & truth).sum() < 0.01 * truth.sum()


def test_person_parts_are_given_back_only_when_they_join_the_person():
    """A limb-coloured strip at an occluder's edge that joins the person's limb outside it goes
    back to the person; a patch of the same colour inside the object stays with the object."""
    from mimo_core.preprocess.occluders import _without_person_parts

    h, w = 64, 96
    image = np.full((h, w, 3), (0.2, 0.6, 0.2), np.float32)  # the scene
    limb, obj = (0.7, 0.2, 0.2), (0.2, 0.2, 0.8)
    image[8:56, 10:30] = limb  # the person: a red limb
    image[20:44, 24:80] = obj  # a blue object in front of it, reaching far out
    image[28:36, 36:44] = limb  # a red patch inside the object
    pm = np.zeros((h, w), bool)
    pm[8:56, 10:30] = True
    pm[20:44, 24:50] = True  # the segmenter's mask takes in the object's nearby part
    sil = pm.copy()
    mask = np.zeros((h, w), bool)
    mask[20:44, 20:80] = True  # the occluder found, with a strip of the limb beside it
    lab = cv2.cvtColor((image * 255).astype(np.uint8), cv2.COLOR_RGB2LAB)
    person = lab[8:18, 10:30].reshape(-1, 3).astype(np.float32)
    out = _without_person_parts(lab, mask, pm, sil, person)
    # The limb strip is the person's again (bar superpixels that straddle the object's edge).
    assert out[20:44, 20:24].mean() < 0.3
    assert out[20:44, 25:80].all()  # the object, its red patch included, is kept
    scene = lab[0:4, 60:90].reshape(-1, 3).astype(np.float32)
    assert np.array_equal(_without_person_parts(lab, mask, pm, sil, scene), mask)
