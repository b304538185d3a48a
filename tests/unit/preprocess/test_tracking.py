from __future__ import annotations

import numpy as np
import pytest

from mimo_core.preprocess._arrays import as_frames, box_iou, expand_box, mask_box, to_uint8
from mimo_core.preprocess.mediapipe_backend import MediaPipePersonDetector
from mimo_core.preprocess.tracking import (
    PersonTrack,
    PersonTracker,
    empty_track,
    fill_track_frame,
    recover_lost_frames,
    track_person,
)


def test_largest_person_is_followed_through_the_clip(walking_clip, walking_track):
    tr = walking_track
    t, h, w = walking_clip.shape[:3]
    assert tr.masks.shape == (t, h, w) and tr.boxes.shape == (t, 4)
    assert tr.landmarks.shape == (t, 33, 4) and tr.world_landmarks.shape == (t, 33, 3)
    assert tr.found_fraction >= 0.9
    found = [i for i in range(t) if i not in tr.lost_frames]
    # The walking woman: feet on the lawn in the lower part of the frame, moving left.
    assert np.all(tr.boxes[found, 3] > 0.65 * h)
    cx = (tr.boxes[found, 0] + tr.boxes[found, 2]) / 2
    assert cx[0] - cx[-1] > 0.1 * w
    assert np.all(np.abs(np.diff(cx)) < 0.1 * w)  # no jumps to the other person
    # Masks are person-shaped: inside the box, a sensible fraction of it.
    for i in found:
        x0, y0, x1, y1 = tr.boxes[i].astype(int)
        m = tr.masks[i] > 0.5
        assert m[:, :x0].sum() == 0 and m[:, x1:].sum() == 0
        fill = m[y0:y1, x0:x1].mean()
        assert 0.2 < fill < 0.8
    # Consecutive boxes of one person overlap (temporal identity; frames are 4 apart).
    ious = [box_iou(tr.boxes[a], tr.boxes[b]) for a, b in zip(found[:-1], found[1:], strict=True)]
    assert np.median(ious) > 0.4
    # Landmarks in pixels inside the box region; world landmarks in metres.
    nose = tr.landmarks[found, 0, :2]
    assert np.all((nose[:, 0] > tr.boxes[found, 0] - 5) & (nose[:, 0] < tr.boxes[found, 2] + 5))
    assert np.nanmax(np.abs(tr.world_landmarks)) < 1.5


def test_select_by_index_and_point_pick_the_other_person(walking_clip, walking_track):
    clip = walking_clip[:3]
    h = clip.shape[1]
    with MediaPipePersonDetector() as det:
        by_index = track_person(clip, select=0, detector=det)  # leftmost: the person on the box
        woman = walking_track.boxes[0]
        by_point = track_person(clip, point=((woman[0] + woman[2]) / 2, (woman[1] + woman[3]) / 2), detector=det)
    assert by_index.boxes[0, 3] < 0.6 * h
    np.testing.assert_allclose(by_point.boxes[0], woman, atol=2)


def test_lost_frames_are_reported_not_filled(walking_clip):
    clip = walking_clip[:4].copy()
    clip[2] = 0.5  # a blank frame: nobody there
    tr = track_person(clip)
    assert 2 in tr.lost_frames
    assert np.isnan(tr.boxes[2]).all() and np.isnan(tr.landmarks[2]).all()
    assert tr.masks[2].max() == 0.0
    assert 3 not in tr.lost_frames  # picked up again after the gap


def test_track_save_load(tmp_path, walking_track):
    path = tmp_path / "track.npz"
    walking_track.save(path)
    back = PersonTrack.load(path)
    assert back.lost_frames == walking_track.lost_frames
    np.testing.assert_allclose(back.masks, walking_track.masks, atol=1 / 255)
    np.testing.assert_array_equal(back.boxes, walking_track.boxes)


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="select"):
        track_person(np.zeros((1, 32, 32, 3), np.float32), select="tallest")
    with pytest.raises(ValueError, match=r"\[T,H,W,3\]"):
        track_person(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match="backend"):
        track_person(np.zeros((1, 32, 32, 3), np.float32), backend="yolo")


def test_inference_threads_change_speed_not_results(walking_clip, walking_track):
    frames = (walking_clip[:3] * 255 + 0.5).astype(np.uint8)
    out = {}
    for n in (1, 2):
        with MediaPipePersonDetector(num_threads=n) as det:
            assert det.num_threads == n and det._pose.threaded_nodes >= 2  # detector + landmark networks
            rois = [expand_box(walking_track.boxes[i], 1.8, frames.shape[2], frames.shape[1]) for i in range(3)]
            out[n] = [det.detect(f, roi) for f, roi in zip(frames, rois, strict=True)]
    for one, two in zip(out[1], out[2], strict=True):
        assert one is not None and two is not None
        np.testing.assert_allclose(one.landmarks, two.landmarks, atol=1e-4)
        np.testing.assert_allclose(one.mask, two.mask, atol=1e-3)
    with pytest.raises(ValueError, match="num_threads"):
        MediaPipePersonDetector(num_threads=0)


def _synthetic(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames, exact visible-person masks) of the 24-frame 256 px synthetic clip ``seed``."""
    from trainer.synthetic import default_body_model, synthesize_clip

    clip = synthesize_clip(seed, (256, 256), 24, body_model=default_body_model()).clip
    return as_frames(clip.frames), clip.person_mask > 127


@pytest.fixture(scope="module")
def hidden_walk():
    """A synthetic clip in which a person walks behind an object: about 30 % of the body
    shows in frames 9-16."""
    return _synthetic(76)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_lost_frames_are_found_again_backwards_from_where_the_person_reappears(hidden_walk):
    frames, visible = hidden_walk
    track = empty_track(*frames.shape[:3])
    with PersonTracker() as tracker:
        for i, frame in enumerate(frames):
            fill_track_frame(track, i, tracker.update(to_uint8(frame)))
        lost = list(track.lost_frames)
        assert len(lost) >= 3 and lost[-1] + 1 < len(frames)  # the forward pass loses the person mid-clip
        again = recover_lost_frames(frames, track, tracker.detector)
    assert len(again) >= 3 and set(again) <= set(lost)
    assert track.lost_frames == sorted(set(lost) - set(again))
    for i in again:  # MediaPipe's own detections of the person, not guesses
        assert np.isfinite(track.boxes[i]).all() and np.isfinite(track.landmarks[i]).all()
        assert _iou(track.masks[i] > 0.5, visible[i]) > 0.7
    for i in track.lost_frames:
        assert np.isnan(track.boxes[i]).all() and track.masks[i].max() == 0.0


def test_search_window_while_lost_stays_within_the_frame(hidden_walk):
    frames, visible = hidden_walk
    track = track_person(frames)
    # A window grown past the frame made the person too small for MediaPipe's detector
    # (this clip then lost the person in all 8 partly hidden frames; now 1 to 3, depending on
    # the processor: MediaPipe's networks round differently on different CPUs).
    assert len(track.lost_frames) <= 4
    assert _iou(track.masks > 0.5, visible) > 0.65
    with PersonTracker() as tracker:
        tracker.update(to_uint8(frames[0]))
        tracker._state.gap = 6  # lost for a while
        for box in ([100, 60, 150, 200], [0, 0, 40, 250]):
            tracker._state.box = np.array(box, np.float32)
            np.testing.assert_array_equal(tracker._window(tracker._predicted(), 256, 256), [0, 0, 256, 256])


def test_streamed_tracking_also_looks_back_at_lost_frames(tmp_path, hidden_walk):
    from mimo_core.preprocess.stream import preprocess_video_stream
    from mimo_core.video_io import VideoWriter, read_video

    frames, _ = hidden_walk
    path = tmp_path / "walk.mp4"
    with VideoWriter(path, fps=24, crf=10) as writer:
        writer.write(frames)
    decoded = read_video(path)
    forward = empty_track(*decoded.shape[:3])
    with PersonTracker() as tracker:
        for i, frame in enumerate(decoded):
            fill_track_frame(forward, i, tracker.update(to_uint8(frame)))
    whole = track_person(decoded)
    assert len(whole.lost_frames) < len(forward.lost_frames)
    one_chunk = preprocess_video_stream(path, tmp_path / "one", chunk_size=len(decoded), max_side=None)
    assert one_chunk.lost_frames == whole.lost_frames
    # Chunks of 8: a loss is looked at back to its chunk's start only, never worse than forward.
    chunks = preprocess_video_stream(path, tmp_path / "eight", chunk_size=8, max_side=None)
    assert set(whole.lost_frames) <= set(chunks.lost_frames) < set(forward.lost_frames)


def test_a_box_that_takes_in_an_occluder_does_not_throw_the_track_off():
    """Synthetic clip: as the person walks behind two objects, MediaPipe's box jumps onto
    one of them for a frame. The jump used to become a velocity of -14 px/frame, the
    prediction ran off, and the person, in plain view again from frame 14 on, was never
    taken back (lost in frames 14-23)."""
    from trainer.synthetic import default_body_model, synthesize_clip

    clip = synthesize_clip(135, (256, 256), 24, body_model=default_body_model()).clip
    frames, visible = as_frames(clip.frames), clip.person_mask > 127
    track = track_person(frames)
    assert not set(track.lost_frames) & set(range(14, 24))
    assert _iou(track.masks[14:] > 0.5, visible[14:]) > 0.8
    assert min(_iou(track.masks[i] > 0.5, visible[i]) for i in range(14, 24)) > 0.6
    with PersonTracker() as tracker:
        st = tracker._state
        st.box, st.sizes = np.array([104, 66, 139, 199], np.float32), [133.0] * 10
        st.velocity = np.array([-14.0, -5.0], np.float32)  # a wrong velocity before a loss
        st.gap = 1
        assert tracker._matches(np.array([102, 66, 140, 200], np.float32), tracker._predicted()) > 0
        # Far off the recent size: something else, whatever the overlap.
        assert tracker._matches(np.array([104, 130, 139, 160], np.float32), tracker._predicted()) == 0


def _two_people(seed_a: int, seed_b: int, away: tuple[int, int], frames: int = 24):
    """Synthetic 768x256 clip: person A in the left third, person B in the middle throughout.

    A is gone in frames ``away[0]..away[1]-1`` and then shows in the right third (about three
    body heights from where they left), so position no longer tells who is who. Returns
    (frames, A's visible mask, B's visible mask).
    """
    from trainer.synthetic import default_body_model, synthesize_clip

    body = default_body_model()
    a, b = (
        synthesize_clip(s, (256, 256), frames, body_model=body, occluder_count=0, motion_kind="arm_swing").clip
        for s in (seed_a, seed_b)
    )
    video = np.concatenate([a.scene, b.scene, a.scene[:, :, ::-1]], axis=2)
    seen_a, seen_b = np.zeros(video.shape[:3], bool), np.zeros(video.shape[:3], bool)
    pa, pb = a.person_mask > 127, b.person_mask > 127
    for i in range(frames):
        video[i, :, 256:512][pb[i]] = b.frames[i][pb[i]]
        seen_b[i, :, 256:512] = pb[i]
        if away[0] <= i < away[1]:
            continue
        x = 0 if i < away[0] else 512
        video[i, :, x : x + 256][pa[i]] = a.frames[i][pa[i]]
        seen_a[i, :, x : x + 256] = pa[i]
    return video, seen_a, seen_b


def _on_a(seen_a: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(seen_a[0])
    return float(xs.mean()), float(ys.mean())


def test_a_person_who_comes_back_elsewhere_is_taken_back_by_their_look():
    """A leaves (frames 9-14) and comes back 512 px to the right; B stays in view between.
    Without the look, A stays lost to the end (position alone cannot find them there)."""
    video, seen_a, seen_b = _two_people(31, 44, away=(9, 15))
    with MediaPipePersonDetector() as det:
        track = track_person(video, point=_on_a(seen_a), detector=det)
        by_position = track_person(video, point=_on_a(seen_a), detector=det, reidentify=False)
    assert set(range(15, 24)) <= set(by_position.lost_frames)
    assert set(track.lost_frames) == set(range(9, 15))  # away: reported, not filled
    for i in range(24):
        m = track.masks[i] > 0.5
        assert not (m & seen_b[i]).any()  # never B
        if i not in track.lost_frames:
            assert _iou(m, seen_a[i]) > 0.9


def test_nobody_else_is_taken_for_a_person_who_does_not_come_back():
    video, seen_a, seen_b = _two_people(5, 6, away=(9, 24))
    track = track_person(video, point=_on_a(seen_a))
    assert track.lost_frames == list(range(9, 24))
    assert not ((track.masks > 0.5) & seen_b).any()


def test_two_people_dressed_alike_are_not_told_apart_by_their_look():
    """B wears what A wears: when A comes back, both match A's look equally well, so neither
    is taken (a wrong identity is worse than a reported loss)."""
    video, seen_a, seen_b = _two_people(31, 31, away=(9, 15))
    track = track_person(video, point=_on_a(seen_a))
    assert set(range(9, 24)) <= set(track.lost_frames)
    assert not ((track.masks > 0.5) & seen_b).any()


def test_the_look_is_the_clothing_colour_from_head_to_foot():
    from mimo_core.preprocess.appearance import BANDS, blend, describe, difference

    frame = np.zeros((60, 30, 3), np.uint8)
    frame[:30] = (200, 30, 30)  # red shirt
    frame[30:] = (30, 30, 200)  # blue trousers
    mask = np.zeros((60, 30), np.float32)
    mask[:, 10:20] = 1.0
    box = np.array([10, 0, 20, 60], np.float32)
    look = describe(frame, mask, box)
    assert look.shape == (BANDS, 3) and np.isfinite(look).all()
    assert look[0, 1] > 40 and look[-1, 2] < -40  # red on top (a* > 0), blue below (b* < 0)
    assert difference(look, look) == 0.0
    # A crop of the mask placed at its origin describes the same pixels.
    np.testing.assert_array_equal(describe(frame, mask[:, 8:22], box, mask_origin=(8, 0)), look)
    # Blue shirt, red trousers: a different look.
    assert difference(look, describe(frame[::-1].copy(), mask, box)) > 50
    # Outside the mask does not count; a half-hidden person keeps the bands still seen.
    other = frame.copy()
    other[:, :9] = (0, 255, 0)
    np.testing.assert_array_equal(describe(other, mask, box), look)
    half = mask.copy()
    half[:20] = 0
    top_hidden = describe(frame, half, box)
    assert np.isnan(top_hidden[:2]).all() and difference(look, top_hidden) < 1.0
    assert describe(frame, np.zeros_like(mask), box) is None
    # The running mean keeps bands seen in only one of the two.
    mixed = blend(top_hidden, look, 0.2)
    np.testing.assert_allclose(mixed, look, atol=1e-4)


@pytest.fixture(scope="module")
def mostly_hidden():
    """Synthetic seed 327: a person mostly behind a large object; MediaPipe's detector
    fires on them in a few frames of the second half only, none of them a frame where
    the frame-by-frame pass searches (0, 8, 16)."""
    return _synthetic(327)


def test_a_person_seen_only_between_the_searches_is_found_by_searching_every_frame(mostly_hidden):
    frames, visible = mostly_hidden
    track = empty_track(*frames.shape[:3])
    calls = []
    with PersonTracker() as tracker:
        for i, frame in enumerate(frames):
            fill_track_frame(track, i, tracker.update(to_uint8(frame)))
        assert len(track.lost_frames) == len(frames)  # the frame-by-frame pass finds nobody
        found = tracker.search_every_frame(frames, track, progress=lambda d, n: calls.append((d, n)))
        assert calls[-1] == (len(frames), len(frames))
        assert tracker.search_every_frame(frames, track) == []  # someone is found: no second search
    assert len(found) >= 6
    assert track.lost_frames == sorted(set(range(len(frames))) - set(found))
    ious = [_iou(track.masks[i] > 0.5, visible[i]) for i in found]
    assert np.mean(ious) > 0.7 and min(ious) > 0.3
    for i in track.lost_frames:  # nothing filled in
        assert np.isnan(track.boxes[i]).all() and track.masks[i].max() == 0.0
    whole = track_person(frames)  # track_person runs the search itself
    assert whole.lost_frames == track.lost_frames


def test_streamed_tracking_searches_every_frame_until_someone_is_found(tmp_path, mostly_hidden):
    from mimo_core.preprocess.stream import preprocess_video_stream
    from mimo_core.video_io import VideoWriter, read_video

    frames, _ = mostly_hidden
    path = tmp_path / "hidden.mp4"
    with VideoWriter(path, fps=24, crf=10) as writer:
        writer.write(frames[:16])  # encoded, the person is seen at frame 16 by the usual search
    decoded = read_video(path)
    with PersonTracker() as tracker:
        assert all(tracker.update(to_uint8(frame)) is None for frame in decoded)
    whole = track_person(decoded)
    assert len(whole.lost_frames) < len(decoded)
    one_chunk = preprocess_video_stream(path, tmp_path / "one", chunk_size=len(decoded), max_side=None)
    assert one_chunk.lost_frames == whole.lost_frames
    # Chunks of 8: nobody in the first; the second is searched frame by frame.
    chunks = preprocess_video_stream(path, tmp_path / "eight", chunk_size=8, max_side=None)
    assert set(range(8)) <= set(chunks.lost_frames) and len(chunks.lost_frames) < len(decoded)


def test_the_sam2_prompt_falls_back_to_the_frame_where_the_person_is_seen_best(mostly_hidden):
    from mimo_core.preprocess._arrays import mask_box
    from mimo_core.preprocess.sam2_backend import _auto_prompt

    frames, visible = mostly_hidden
    k, box = _auto_prompt(frames, "largest")  # the usual search finds nobody in this clip
    assert box is not None and k >= 9
    assert box_iou(box, mask_box(visible[k])) > 0.5


def test_searching_every_frame_of_a_clip_with_nobody_keeps_nobody():
    """A panning textured scene with nobody in it: MediaPipe takes a patch of it for a person
    in a single frame of the 48 (on the machine where this was written); a find that cannot be
    followed into a second frame is dropped, so the clip stays empty."""
    from trainer.synthetic.textures import smooth_noise

    scene = smooth_noise(np.random.default_rng(0), 288, 700, cells=8)
    frames = (np.stack([scene[:, 2 * i : 2 * i + 512] for i in range(48)]) * 255).astype(np.uint8)
    track = track_person(frames)
    assert track.lost_frames == list(range(48)) and not track.masks.any()


def test_refined_masks_follow_the_frame_edges():
    """A soft mask, blurred and 2 px off a person-sized block, is moved onto the block's edges:
    IoU with the block rises, values stay in 0..1, the box becomes the refined mask's box, and
    lost frames are left alone."""
    import cv2

    from mimo_core.preprocess.tracking import refine_masks

    rng = np.random.default_rng(0)
    t, h, w = 2, 200, 200
    frames = np.clip(0.3 + 0.03 * rng.standard_normal((t, h, w, 3)), 0, 1).astype(np.float32)
    truth = np.zeros((h, w), bool)
    truth[40:190, 60:120] = True
    frames[:, truth] = (0.8, 0.6, 0.4)
    soft = np.zeros((h, w), np.float32)
    soft[42:192, 62:122] = 1.0  # the segmenter's mask, off by 2 px and blurred
    soft = cv2.GaussianBlur(soft, (0, 0), 2.0)
    track = empty_track(t, h, w)
    track.masks[0] = soft
    track.boxes[0] = (62, 42, 122, 192)
    track.lost_frames = [1]

    def iou(m: np.ndarray) -> float:
        return float((m & truth).sum() / (m | truth).sum())

    before = iou(track.masks[0] > 0.5)
    refine_masks(frames, track)
    after = iou(track.masks[0] > 0.5)
    assert before < 0.92 and after > 0.95  # 0.912 and 0.956
    assert track.masks.min() >= 0 and track.masks.max() <= 1
    np.testing.assert_array_equal(track.boxes[0], mask_box(track.masks[0]))
    np.testing.assert_allclose(track.boxes[0, :2], (60, 40), atol=1)  # was (62, 42)
    assert not track.masks[1].any() and np.isnan(track.boxes[1]).all()


def test_uint8_frames_are_taken_as_they_are():
    """``recover_lost_frames``, ``search_every_frame`` and ``refine_masks`` take float or uint8
    frames; uint8 frames went through the float conversion and came out as 0 or 255."""
    frame = np.array([[[0, 7, 128], [200, 255, 1]]], np.uint8)
    assert to_uint8(frame) is frame
    np.testing.assert_array_equal(to_uint8(frame.astype(np.float32) / 255.0), frame)
