"""Find objects that pass in front of the person by following them as rigid templates.

A complement to the flow-based search (:mod:`.occluders`) for objects whose
inside has little texture, where dense flow is a guess. Four steps, at a
working size of at most ``max_side`` pixels:

1. The camera's motion is a translation per frame (whole pixels, checked
   against a reference frame, and taken only where most of the view agrees);
   the frames are aligned on it and the per-pixel median of a window of frames
   is the empty scene (a *plate*): anything that moves through a pixel for less
   than half of the window is not in it.
2. Foreground = pixels that differ from their plate. A connected foreground
   region that lies (mostly) clear of the person (mask and rendered body,
   grown) is an object: its pixels and shape away from the person become a
   template, completed from the frames it is followed in (below). A region
   mostly on the person (an object beside them merges with them) gives its
   pieces away from the person instead, kept when the object is seen apart
   from the person in at least 3 frames, or when it shows where the body is
   hidden in at least 3 frames (see step 4); a piece that is neither is
   remembered as a part of the person, and not followed again from another
   frame. Regions seen whole (not cut by the
   frame's edge) are taken first: a part of a plain object can slide inside it
   when followed.
3. Each template is followed through the clip, forwards and backwards: in
   every frame its position is the translation whose masked colour difference
   (plus a small cost for leaving the constant-velocity prediction) is
   smallest around the predicted position, and the object is visible where
   its moved template still matches the frame. An object behind the person is
   hidden by them there, one in front is not, so no depth is needed. The
   object's footprint is then checked on the frames it was followed in: its
   pixels keep their colour as it moves and differ from the scene behind, seen
   in frames where the object was elsewhere. The part of an object that stays
   over the person (never seen clear of them) is completed by the pixels that
   keep their colour in the object's frame while it moves relative to both the
   person and the scene, over at least 12 followed frames.
4. An object whose visible pixels cover the body (the rendered silhouette,
   eroded) in some frame passes in front of the person (also a large object
   that covers little of the body, where nearly all of its footprint on the
   body is seen, and an object seen over a thin part of the body that the
   person mask misses, such as a hand it hides): it is an occluder in every
   frame it was followed through.

Objects that never move (part of the plate) are not found here; neither are
objects that are never seen clear of the person, unless they are seen where the
fitted body is hidden. Deforming objects are
followed only while their shape stays close to the template's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from ._arrays import (
    as_frames,
    as_masks,
    channel_max,
    disk,
    fill_holes,
    mask_box,
    nan_median,
    to_full_size,
    to_working_size,
)


@dataclass
class _Track:
    template: np.ndarray  # [th,tw,3] float32 colours of the object
    shape: np.ndarray  # [th,tw] bool footprint
    start: int  # discovery frame
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)  # frame -> top-left (x, y)
    visible: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> [th,tw] bool matched pixels


def find_rigid_occluders(
    frames: np.ndarray,
    person_mask: np.ndarray,
    body_silhouette: np.ndarray,
    max_side: int = 256,
    plate_window: int = 12,
    difference: float = 0.1,
    match_tolerance: float = 0.08,
    min_area_fraction: float = 0.002,
    clear_margin: float = 0.04,
    search_fraction: float = 0.1,
    min_visible: float = 0.4,
    min_body_overlap: float = 0.05,
    clear_fraction: float = 0.8,
    max_refine: int = 6,
    hidden_pixels: int = 16,
    piece_hidden_frames: int = 3,
) -> np.ndarray:
    """[T,H,W] float32 mask of moving objects that pass in front of the person.

    Args:
        frames: [T,H,W,3] float 0..1 (or uint8).
        person_mask: [T,H,W] 0..1, the segmenter's person mask (may include occluders).
        body_silhouette: [T,H,W] 0..1, the rendered body (hidden parts included).
        max_side: working size (longest side, pixels).
        plate_window: the empty scene of a frame is the median of the frames up to
            this many frames either side (aligned on the camera's motion).
        difference: colour difference (0..1, largest channel, local mean) from the
            plate above which a pixel is foreground.
        match_tolerance: colour difference (0..1, largest channel) under which a
            pixel of a moved template still shows the object.
        min_area_fraction: smallest object, as a share of the working frame's area.
        clear_margin: an object seen whole lies farther than this share of the
            person's size from the person mask and the silhouette.
        search_fraction: the object's position is searched this share of the
            working frame's longer side around its predicted position.
        min_visible: an object is lost in a frame where less than this share of its
            template matches.
        min_body_overlap: share of the object (at least half the smallest object's
            area) that must lie on the eroded silhouette in some frame.
        clear_fraction: a foreground region becomes a template when at least this
            share of it lies clear of the person; the part near the person is left out.
            The pieces away from the person of a region mostly on them are templates too,
            kept only when the object is seen apart from the person in at least 3 frames,
            or seen where the body is hidden (as for ``hidden_pixels``) in at least
            ``piece_hidden_frames`` frames.
        max_refine: an object's footprint is completed at most this many times (each
            time from the frames it was followed in, then followed again).
        hidden_pixels: an object also counts as in front when, in at least 2 frames, it
            is seen over at least this many working pixels (and 80 %) of the silhouette under
            it that the person mask misses (a hidden hand, too thin for the eroded silhouette).
            Frames where the person is lost (an empty person mask) do not count.
        piece_hidden_frames: a piece of a region on the person that is never seen apart
            from them is still an object when it hides the body so in this many frames.
    """
    frames = as_frames(frames)
    t, h, w = frames.shape[:3]
    person_mask = as_masks(person_mask, (t, h, w), "person_mask")
    body_silhouette = as_masks(body_silhouette, (t, h, w), "body_silhouette")
    if t < 3:
        return np.zeros((t, h, w), np.float32)
    small, (pm, sil), (sw, sh) = to_working_size(frames, [person_mask, body_silhouette], max_side)
    min_area = max(8, int(min_area_fraction * sw * sh))

    person_zone, core = _person_zones(pm, sil, clear_margin)
    offsets = _camera_offsets(small, person_zone)
    fg = _foreground(small, offsets, plate_window, difference)
    radius = max(4, int(round(search_fraction * max(sw, sh))))

    # Candidate regions from every frame, whole views first: a region that touches
    # the frame's edge is (maybe) a part of an object, and a part of a plain object
    # can slide inside it when followed. Larger regions before smaller ones. A region
    # mostly on the person (an object next to them or partly over them merges with
    # them) gives its pieces away from the person instead, kept only if the object
    # they lead to is seen apart from the person in at least 3 frames.
    grow = np.ones((3, 3), np.uint8)
    touch_zone = np.stack([cv2.dilate(z.astype(np.uint8), grow).astype(bool) for z in person_zone])
    candidates = []
    for i in range(t):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg[i].astype(np.uint8), connectivity=8)
        merged = np.zeros((sh, sw), bool)
        for k in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[k])
            if area < min_area:
                continue
            seg = labels[y : y + bh, x : x + bw] == k
            near = seg & person_zone[i, y : y + bh, x : x + bw]
            if near.sum() > (1 - clear_fraction) * area:
                merged[y : y + bh, x : x + bw] |= seg & ~near
                continue
            seg &= ~near
            edge = x == 0 or y == 0 or x + bw == sw or y + bh == sh or bool(near.any())
            candidates.append((edge, i, -int(seg.sum()), x, y, seg, False))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(merged.astype(np.uint8), connectivity=8)
        for k in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[k])
            if area >= min_area:
                candidates.append((True, i, -area, x, y, labels[y : y + bh, x : x + bw] == k, True))
    candidates.sort(key=lambda c: c[:3])

    tracks: list[_Track] = []
    pieces: list[_Track] = []  # pieces found to be (a part of) the person: not followed again
    for _, i, _, x, y, seg, cut_off in candidates:
        if _covered(tracks, i, (x, y), seg):
            continue  # (mostly) a part of an object already followed
        if cut_off and _covered(pieces, i, (x, y), seg):
            continue  # the same piece of the person, seen in another frame
        bh, bw = seg.shape
        tr = _Track(template=small[i, y : y + bh, x : x + bw].copy(), shape=seg, start=i)
        tr.positions[i] = (x, y)
        tr.visible[i] = seg.copy()
        _follow(tr, small, radius, match_tolerance, min_visible)
        # The whole object, then follow it again; once more while the footprint
        # still grows to the edge of the area searched (an object that came into
        # view slowly, seen whole only later).
        scene_only = False
        for _ in range(max_refine):
            refined = _refine(tr, small, fg, person_zone, offsets, match_tolerance, difference)
            if refined is None:
                break
            shape, template, (dx, dy), at_edge = refined
            if int(shape.sum()) < min_area:
                scene_only = True  # nothing keeps its colour as it moves: the scene through a poor plate
                break
            grew = int(shape.sum()) > 1.1 * int(tr.shape.sum())
            tr.shape, tr.template = shape, template
            x, y = x + dx, y + dy
            tr.positions = {i: (x, y)}
            tr.visible = {i: _matched(tr, small[i], x, y, match_tolerance)[0]}
            _follow(tr, small, radius, match_tolerance, min_visible)
            if not (grew and at_edge):
                break
        if cut_off and not _seen_clear(tr, touch_zone) and not _hides(
            tr, _seen(tr, sh, sw), sil, pm, hidden_pixels, frames=piece_hidden_frames
        ):
            pieces.append(tr)
            continue  # a piece of a region on the person that hardly leaves them and hides nothing: the person
        if scene_only or _moves(tr, offsets) < 2.0:
            continue  # the scene through a poor plate, or still: a part of the scene, not an object passing by
        tracks.append(tr)

    masks = np.zeros((t, sh, sw), bool)
    for tr in tracks:
        seen = _seen(tr, sh, sw)
        on_body = max(int((m & core[j]).sum()) for j, m in seen.items())
        # A large object may cover only a little of the body (a box passing over a foot):
        # it also counts where nearly all of its footprint on the body is seen there.
        # It also counts where it is seen over body that the person mask misses (a hand hidden
        # by a box): the eroded silhouette keeps no thin parts.
        if (
            on_body < max(min_area // 2, min_body_overlap * int(tr.shape.sum()))
            and not _in_front(tr, seen, core, min_area // 2)
            and not _hides(tr, seen, sil, pm, hidden_pixels)
        ):
            continue
        for j, m in seen.items():
            masks[j] |= m
    return to_full_size(masks, h, w)


def _seen(tr: _Track, sh: int, sw: int) -> dict[int, np.ndarray]:
    """The object's visible pixels in each frame it was followed in, frame-sized."""
    return {j: _paste(tr.visible[j], x, y, sh, sw) for j, (x, y) in tr.positions.items()}


def _seen_clear(tr: _Track, touch_zone: np.ndarray, frames: int = 3) -> bool:
    """Whether the object is seen apart from the person (not touching their zone) in at least
    ``frames`` frames."""
    sh, sw = touch_zone.shape[1:]
    clear = sum(
        bool(m.any()) and not (_paste(m, *tr.positions[j], sh, sw) & touch_zone[j]).any()
        for j, m in tr.visible.items()
    )
    return clear >= frames


def _hides(
    tr: _Track,
    seen: dict[int, np.ndarray],
    sil: np.ndarray,
    pm: np.ndarray,
    min_pixels: int,
    share: float = 0.8,
    frames: int = 2,
) -> bool:
    """Whether, in at least ``frames`` frames, the object is seen over at least ``share`` of
    the body under its footprint (and ``min_pixels``) where the person mask misses that body.

    The body there is hidden, and what shows is the object. Slivers one pixel wide
    (a fitted silhouette a little wider than the person, beside an object behind them)
    do not count, nor do frames where the person is lost (their mask is empty, while the
    fitted body goes on through the frame).
    """
    kernel = disk(1).astype(np.uint8)
    hits = 0
    for j, m, over in _footprints_on(tr, seen, sil):
        n = int(over.sum())
        if n < min_pixels or not pm[j].any():
            continue
        shown = over & ~pm[j] & m
        if int(shown.sum()) < share * n:
            continue
        hits += int(cv2.morphologyEx(shown.astype(np.uint8), cv2.MORPH_OPEN, kernel).sum()) >= min_pixels
    return hits >= frames


def _in_front(
    tr: _Track, seen: dict[int, np.ndarray], core: np.ndarray, min_pixels: int, share: float = 0.8
) -> bool:
    """Whether, in some frame, the object is seen on at least ``min_pixels`` of the body and
    on at least ``share`` of its footprint there (an object behind the person is hidden by them)."""
    for _, m, over in _footprints_on(tr, seen, core):
        n = int(over.sum())
        if n >= min_pixels and int((m & over).sum()) >= max(min_pixels, share * n):
            return True
    return False


def _footprints_on(
    tr: _Track, seen: dict[int, np.ndarray], body: np.ndarray
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per followed frame: (its index, the object's visible pixels, its whole footprint on ``body``),
    frame-sized."""
    sh, sw = body.shape[1:]
    for j, m in seen.items():
        x, y = tr.positions[j]
        yield j, m, _paste(tr.shape, x, y, sh, sw) & body[j]


def _camera_offsets(
    small: np.ndarray, person_zone: np.ndarray, overlap: float = 0.6, ratio: float = 0.8, cap: float = 0.1
) -> np.ndarray:
    """[T,2] position of each frame's content relative to frame 0 (whole pixels).

    Each frame is compared with a reference frame (the first; the frame before, once
    less than ``overlap`` of the view is shared with it) at a few offsets and the 8
    around each: the previous frame's, that plus the step phase correlation measures
    between the two frames, and that plus the previous step. Compared away from the
    person, an offset replaces the previous frame's only when it matches clearly
    better on the pixels both see: a lower mean difference (each pixel's capped at
    ``cap``) by the factor ``ratio``, a median no worse and a lower 90th percentile.
    Most of the view must agree, so an object passing by cannot pull a still camera
    along a scene that looks the same when shifted (stripes along their length, a
    plain wall), as it did when each step was taken from phase correlation alone.
    """
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
    h, w = grey[0].shape
    hann = cv2.createHanningWindow((w, h), cv2.CV_32F)
    offsets = np.zeros((len(grey), 2), np.float32)
    ref = 0

    def difference(i: int, d: tuple[int, int]) -> np.ndarray:
        """|frame i - reference moved by d| (inf where either shows the person or outside)."""
        out = np.full((h, w), np.inf, np.float32)
        dx, dy = d
        if abs(dx) >= w // 2 or abs(dy) >= h // 2:
            return out
        cy, cx = slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx))
        ry, rx = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        diff = np.abs(grey[i][cy, cx] - grey[ref][ry, rx])
        diff[person_zone[i][cy, cx] | person_zone[ref][ry, rx]] = np.inf
        out[cy, cx] = diff
        return out

    def score(a: np.ndarray) -> float:
        seen = a[np.isfinite(a)]
        return float(np.minimum(seen, cap).mean()) if seen.size >= 0.2 * a.size else np.inf

    for i in range(1, len(grey)):
        (dx, dy), _ = cv2.phaseCorrelate(grey[i - 1], grey[i], hann)
        still = offsets[i - 1] - offsets[ref]
        starts = [still, still + (dx, dy)]
        if i >= 2:
            starts.append(still + offsets[i - 1] - offsets[i - 2])
        diffs: dict[tuple[int, int], np.ndarray] = {}
        for start in starts:
            for ox in (-1, 0, 1):
                for oy in (-1, 0, 1):
                    d = (int(round(start[0])) + ox, int(round(start[1])) + oy)
                    if d not in diffs:
                        diffs[d] = difference(i, d)
        scores = {d: score(a) for d, a in diffs.items()}
        keep = (int(round(still[0])), int(round(still[1])))
        best = min(scores, key=scores.get)
        move = keep
        if best != keep and np.isfinite(scores[best]):
            a, b = diffs[best], diffs[keep]
            both = np.isfinite(a) & np.isfinite(b)
            if both.sum() >= 0.2 * both.size:
                a, b = a[both], b[both]
                if (
                    np.minimum(a, cap).mean() < ratio * np.minimum(b, cap).mean()
                    and np.median(a) <= np.median(b)
                    and np.quantile(a, 0.9) < np.quantile(b, 0.9)
                ):
                    move = best
        offsets[i] = offsets[ref] + np.asarray(move, np.float32)
        if (h - abs(move[1])) * (w - abs(move[0])) < overlap * h * w:
            ref = i
    return offsets


def _shifted(image: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``image`` moved by ``v`` (pixels); uncovered pixels repeat the edge."""
    if not v.any():
        return image
    h, w = image.shape[:2]
    m = np.float32([[1, 0, v[0]], [0, 1, v[1]]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _foreground(
    small: np.ndarray, offsets: np.ndarray, window: int, threshold: float, samples: int = 9
) -> np.ndarray:
    """[T,h,w] bool: pixels that differ from the median of the aligned neighbouring frames.

    The median is taken over at most ``samples`` frames spread over the window.
    """
    t = len(small)
    kernel = np.ones((3, 3), np.uint8)
    fg = np.zeros(small.shape[:3], bool)
    for i in range(t):
        lo, hi = max(0, i - window), min(t - 1, i + window)
        near = np.unique(np.round(np.linspace(lo, hi, min(samples, hi - lo + 1))).astype(int))
        plate = np.median(np.stack([_shifted(small[k], offsets[i] - offsets[k]) for k in near]), axis=0)
        # Differences within one pixel of misalignment (a panning camera, resampling)
        # do not count: distance to the range of the plate's 3x3 neighbourhood.
        above = small[i] - cv2.dilate(plate, kernel)
        below = cv2.erode(plate, kernel) - small[i]
        diff = channel_max(np.maximum(np.maximum(above, below), 0))
        fg[i] = (
            cv2.morphologyEx((cv2.blur(diff, (3, 3)) > threshold).astype(np.uint8), cv2.MORPH_OPEN, kernel)
            > 0
        )
    return fg


def _person_zones(pm: np.ndarray, sil: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(person mask and silhouette grown by ``margin`` of their size, silhouette eroded by 2 %)."""
    zone, core = np.zeros_like(pm), np.zeros_like(sil)
    for i in range(len(pm)):
        body = pm[i] | sil[i]
        if not body.any():
            continue
        ys, xs = np.nonzero(body)
        size = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        zone[i] = cv2.dilate(body.astype(np.uint8), disk(round(margin * size))).astype(bool)
        core[i] = cv2.erode(sil[i].astype(np.uint8), disk(round(0.02 * size))).astype(bool)
    return zone, core


def _paste(local: np.ndarray, x: int, y: int, h: int, w: int) -> np.ndarray:
    """``local`` placed with its top-left at (x, y) in an [h,w] frame (clipped)."""
    out = np.zeros((h, w), bool)
    th, tw = local.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + tw, w), min(y + th, h)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = local[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def _covered(tracks: list[_Track], i: int, pos: tuple[int, int], seg: np.ndarray) -> bool:
    """Whether a track of ``tracks`` covers most of region ``seg`` (at ``pos``) in frame ``i``."""
    return any(i in tr.positions and _overlap(tr, i, pos, seg) > 0.5 for tr in tracks)


def _overlap(tr: _Track, i: int, pos: tuple[int, int], seg: np.ndarray) -> float:
    """Share of region ``seg`` at ``pos`` that lies on the track's object in frame ``i``."""
    h = max(tr.positions[i][1] + tr.shape.shape[0], pos[1] + seg.shape[0]) + 1
    w = max(tr.positions[i][0] + tr.shape.shape[1], pos[0] + seg.shape[1]) + 1
    a = _paste(tr.shape, *tr.positions[i], h, w)
    b = _paste(seg, *pos, h, w)
    return float((a & b).sum()) / max(int(b.sum()), 1)


def _refine(
    tr: _Track,
    small: np.ndarray,
    fg: np.ndarray,
    person_zone: np.ndarray,
    offsets: np.ndarray,
    tolerance: float,
    difference: float,
    grow: float = 0.5,
    scene_frames: int = 8,
    over_person_frames: int = 12,
    over_person_span: float = 0.5,
    over_person_steady: float = 0.9,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], bool] | None:
    """The object's footprint checked on every frame it was followed in.

    An object keeps its colours as it moves over the scene; the scene behind it
    changes. Around the object's box (grown by ``grow`` of its size on every
    side, for the parts that were out of the frame, near the person or like the
    scene where it was found), a pixel seen clear of the person in at least 3
    frames belongs to the object when it keeps its colour over those frames and
    differs from the scene behind it. That scene is the median of the frames in
    which neither the object's box nor the person covered the spot (judged on up
    to ``scene_frames`` of the object's frames); where it was seen in fewer than
    2 of them (a slow object's surroundings), the plate and the convex outline
    of the region first found decide. The part connected to the region first
    found is kept, holes filled (objects are taken to be solid); that removes
    what was only a poor plate (the scene the object has just left). Pixels seen
    fewer times keep the first region's answer, except over the person: an
    object that stays over them (never seen clear there) but moves relative to
    both the person (their box's centre) and the scene, by at least
    ``over_person_span`` of its smaller side, is completed there by the pixels
    that keep their colour in the object's frame in ``over_person_steady`` of
    at least ``over_person_frames`` followed frames (the person and the scene
    would not follow it; a limb followed for a few frames can, hence the many
    frames).

    Returns:
        (footprint, colours (the median over those frames), top-left offset of the
        new box from the old one, whether the footprint reaches the edge of the
        grown box), cut to the footprint's box; None when the object was seen
        clear in fewer than 3 frames.
    """
    t, sh, sw = small.shape[:3]
    th, tw = tr.shape.shape
    gx, gy = int(round(grow * tw)), int(round(grow * th))
    eh, ew = th + 2 * gy, tw + 2 * gx
    crops, clears, votes, known, differs = [], [], [], [], []
    whole, on_person, on_scene = [], [], []  # crops with the person left in; positions relative to them
    judged = set(_spread(sorted(tr.positions), scene_frames))
    for j, (x, y) in tr.positions.items():
        x0, y0 = x - gx, y - gy
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + ew, sw), min(y0 + eh, sh)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        crop = np.full((eh, ew, 3), np.nan, np.float32)
        clear = np.zeros((eh, ew), bool)
        vote = np.zeros((eh, ew), bool)
        inner = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
        clear[inner] = ~person_zone[j, fy0:fy1, fx0:fx1]
        crop[inner] = small[j, fy0:fy1, fx0:fx1]
        whole.append(crop.copy())
        on_scene.append((x - offsets[j][0], y - offsets[j][1]))
        zone_box = mask_box(person_zone[j])
        if zone_box is not None:
            on_person.append((x - 0.5 * (zone_box[0] + zone_box[2]), y - 0.5 * (zone_box[1] + zone_box[3])))
        crop[~clear] = np.nan
        vote[inner] = fg[j, fy0:fy1, fx0:fx1]
        crops.append(crop)
        clears.append(clear)
        votes.append(vote & clear)
        if j in judged:
            scene_diff = _scene_difference(tr, small, person_zone, offsets, j, (x0, y0, ew, eh), crop)
            known.append(~np.isnan(scene_diff) & clear)
            differs.append(np.nan_to_num(scene_diff, nan=0.0) > difference)
    if len(crops) < 3:
        return None
    seen = np.sum(clears, 0)
    stack = np.stack(crops)
    # Colour steadiness is judged on slightly blurred crops, so that a fine texture
    # placed one pixel off in some frames still counts as steady, and by the share
    # of frames close to the median colour, so that a few frames where the object
    # was placed wrong (a plain object half out of the frame) do not count.
    blurred = np.stack([_blur_valid(c) for c in crops])
    with np.errstate(invalid="ignore"):
        close = channel_max(np.abs(blurred - nan_median(blurred))) < tolerance
    steady_share = close.sum(0) / np.maximum(seen, 1)
    template = nan_median(stack)
    first = np.zeros((eh, ew), bool)
    first[gy : gy + th, gx : gx + tw] = tr.shape
    hull = np.zeros((eh, ew), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.argwhere(first)[:, ::-1].astype(np.int32)), 1)
    steady = (steady_share >= 0.75) & (seen > 0)
    over_person = np.zeros((eh, ew), bool)
    if len(whole) >= over_person_frames and len(on_person) >= 3:
        span = min(float(np.ptp(np.array(on_person), 0).max()), float(np.ptp(np.array(on_scene), 0).max()))
        if span >= max(6.0, over_person_span * min(th, tw)):
            stack_all = np.stack([_blur_valid(c) for c in whole])
            with np.errstate(invalid="ignore"):
                keeps = channel_max(np.abs(stack_all - nan_median(stack_all))) < tolerance
            n_all = np.sum(~np.isnan(stack_all[..., 0]), 0)
            over_person = (seen < 3) & (n_all >= 3) & (keeps.sum(0) >= over_person_steady * n_all)
    # A pixel is the object's where it differs from the scene it covers. Where the
    # scene behind is known (seen in at least 2 frames where neither the object's
    # box nor the person was there) that decides; elsewhere (a slow object's
    # surroundings) the plate's votes or the first region's outline do.
    n_known = np.sum(known, 0) if known else np.zeros((eh, ew), int)
    scene_vote = np.sum(np.logical_and(differs, known), 0) >= 0.5 * np.maximum(n_known, 1) if known else False
    plate_vote = hull.astype(bool) | (np.sum(votes, 0) >= 0.5 * np.maximum(seen, 1))
    shape = np.where(seen >= 3, steady & np.where(n_known >= 2, scene_vote, plate_vote), first | over_person)
    if not shape.any():
        return shape, template, (0, 0), False
    n, labels, stats, _ = cv2.connectedComponentsWithStats(shape.astype(np.uint8), connectivity=8)
    if n > 2:  # the part that holds most of the first region (else the largest)
        share = np.bincount(labels[first], minlength=n)[1:]
        pick = 1 + int(np.argmax(share)) if share.any() else 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        shape = labels == pick
    shape = fill_holes(shape)
    ys, xs = np.nonzero(shape)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    colours = template[y0:y1, x0:x1]
    old = np.zeros((eh, ew, 3), np.float32)
    old[gy : gy + th, gx : gx + tw] = tr.template
    colours = np.where(np.isnan(colours), old[y0:y1, x0:x1], colours).astype(np.float32)
    at_edge = bool(x0 == 0 or y0 == 0 or x1 == ew or y1 == eh)
    return shape[y0:y1, x0:x1], colours, (int(x0) - gx, int(y0) - gy), at_edge


def _spread(items: list[int], n: int) -> list[int]:
    """At most ``n`` of ``items``, evenly spread over them (the first and the last kept)."""
    if len(items) <= n:
        return items
    return [items[int(round(a))] for a in np.linspace(0, len(items) - 1, n)]


def _scene_difference(
    tr: _Track,
    small: np.ndarray,
    person_zone: np.ndarray,
    offsets: np.ndarray,
    j: int,
    box: tuple[int, int, int, int],
    crop: np.ndarray,
    samples: int = 7,
) -> np.ndarray:
    """[eh,ew] colour difference of ``crop`` (frame ``j``'s box) from the scene behind it.

    The scene at a pixel is the median of the other frames (aligned on the camera's
    motion) in which neither the object's box nor the person covers it; NaN where
    no such frame exists or outside frame ``j``. Differences within one pixel of
    misalignment do not count.
    """
    x0, y0, ew, eh = box
    h, w = person_zone.shape[1:]
    out = np.full((eh, ew), np.nan, np.float32)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + ew, w), min(y0 + eh, h)
    frames = _spread(sorted(k for k in tr.positions if k != j), samples)
    if fx1 <= fx0 or fy1 <= fy0 or not frames:
        return out
    th, tw = tr.shape.shape
    gx, gy = (ew - tw) // 2, (eh - th) // 2
    xs = np.arange(fx0, fx1, dtype=np.float32)[None]
    ys = np.arange(fy0, fy1, dtype=np.float32)[:, None]
    views = []
    for k in frames:
        sx, sy = offsets[j] - offsets[k]  # frame k's content appears moved by this in frame j
        map_x = np.broadcast_to(xs - sx, (fy1 - fy0, fx1 - fx0))
        map_y = np.broadcast_to(ys - sy, (fy1 - fy0, fx1 - fx0))
        view = cv2.remap(small[k], np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(np.nan, np.nan, np.nan))  # fmt: skip
        # Frame k's pixels under the object's box (where it was then) or the person.
        kx, ky = tr.positions[k]
        ix, iy = np.round(xs - sx).astype(int), np.round(ys - sy).astype(int)
        hide = ((ix >= kx - gx) & (ix < kx - gx + ew)) & ((iy >= ky - gy) & (iy < ky - gy + eh))
        cx, cy = np.clip(ix, 0, w - 1), np.clip(iy, 0, h - 1)
        hide |= person_zone[k][cy, cx]
        view[hide] = np.nan
        views.append(view)
    scene = nan_median(np.stack(views))
    kernel = np.ones((3, 3), np.uint8)
    known = ~np.isnan(scene[..., 0])
    hi = cv2.dilate(np.where(known[..., None], scene, -np.inf).astype(np.float32), kernel)
    lo = cv2.erode(np.where(known[..., None], scene, np.inf).astype(np.float32), kernel)
    inner = crop[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    with np.errstate(invalid="ignore"):
        diff = channel_max(np.maximum(np.maximum(inner - hi, lo - inner), 0))
    diff[~known | np.isnan(inner[..., 0])] = np.nan
    out[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = diff
    return out


def _blur_valid(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur of an image with NaN holes (the holes stay NaN; the edges use valid pixels only)."""
    valid = ~np.isnan(image[..., 0])
    filled = np.where(valid[..., None], image, 0.0).astype(np.float32)
    weight = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), sigma)
    out = cv2.GaussianBlur(filled, (0, 0), sigma) / np.maximum(weight, 1e-6)[..., None]
    out[~valid] = np.nan
    return out


def _moves(tr: _Track, offsets: np.ndarray) -> float:
    """Largest distance (working pixels) between two positions of the object relative to the scene."""
    p = np.array([(x, y) for x, y in tr.positions.values()], np.float32)
    p -= offsets[list(tr.positions)]
    return float(np.linalg.norm(p.max(0) - p.min(0)))


def _matched(
    tr: _Track, frame: np.ndarray, x: int, y: int, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """(template pixels that match ``frame`` with the template at (x, y), template pixels inside the frame)."""
    sh, sw = frame.shape[:2]
    th, tw = tr.shape.shape
    window = np.zeros((th, tw, 3), np.float32)
    ok = np.zeros((th, tw), bool)
    fx0, fy0, fx1, fy1 = max(x, 0), max(y, 0), min(x + tw, sw), min(y + th, sh)
    if fx1 > fx0 and fy1 > fy0:
        window[fy0 - y : fy1 - y, fx0 - x : fx1 - x] = frame[fy0:fy1, fx0:fx1]
        ok[fy0 - y : fy1 - y, fx0 - x : fx1 - x] = True
    return tr.shape & ok & (channel_max(np.abs(window - tr.template)) < tolerance), ok


def _follow(
    tr: _Track, small: np.ndarray, radius: int, tolerance: float, min_visible: float, smoothness: float = 1.5e-5
) -> None:
    """Fill ``tr.positions`` / ``tr.visible`` forwards and backwards from its start frame."""
    t, sh, sw = small.shape[:3]
    th, tw = tr.shape.shape
    area = int(tr.shape.sum())
    weight = tr.shape.astype(np.float32)
    pad = radius + max(th, tw)
    inside = cv2.copyMakeBorder(
        np.ones((sh, sw), np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0
    )
    mask3 = np.repeat(weight[..., None], 3, -1)
    offs = np.arange(-radius, radius + 1, dtype=np.float32)
    distance = offs[:, None] ** 2 + offs[None, :] ** 2  # from the prediction, per candidate position
    for step in (1, -1):
        pos = np.array(tr.positions[tr.start], np.float32)
        velocity = np.zeros(2, np.float32)
        j = tr.start + step
        while 0 <= j < t:
            pred = pos + velocity
            # Search window around the prediction, in a frame padded with NaN-free zeros;
            # template pixels that would fall outside the frame do not count.
            frame = cv2.copyMakeBorder(small[j], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            x0, y0 = int(round(pred[0])) - radius + pad, int(round(pred[1])) - radius + pad
            region = frame[y0 : y0 + th + 2 * radius, x0 : x0 + tw + 2 * radius]
            valid = inside[y0 : y0 + th + 2 * radius, x0 : x0 + tw + 2 * radius]
            if region.shape[:2] != (th + 2 * radius, tw + 2 * radius):
                break
            # Masked sum of squared differences, counting template pixels inside the frame only.
            cost = cv2.matchTemplate(region, tr.template, cv2.TM_SQDIFF, mask=mask3)
            seen = cv2.matchTemplate(valid, weight, cv2.TM_CCORR)
            cost = np.where(seen >= 0.5 * area, cost / np.maximum(seen, 1.0), np.inf)
            # Objects move smoothly: a small cost for leaving the predicted position picks
            # the steady path where a plain object matches about as well elsewhere.
            cost = cost + smoothness * distance
            if not np.isfinite(cost).any():
                break
            dy, dx = np.unravel_index(int(np.argmin(cost)), cost.shape)
            x, y = x0 - pad + int(dx), y0 - pad + int(dy)
            matched, ok = _matched(tr, small[j], x, y, tolerance)
            if matched.sum() < min_visible * int((tr.shape & ok).sum()) or not matched.any():
                break
            velocity = np.array([x, y], np.float32) - pos
            pos = np.array([x, y], np.float32)
            tr.positions[j] = (x, y)
            tr.visible[j] = matched
            j += step
