"""Find occluders without a depth model: motion segments that cover the rendered body.

An occluder is a thing in front of the person. Without depth, two observations
tell it apart from the person:

* it moves on its own: its optical flow (relative to the background's motion)
  is one coherent motion that differs from the body's;
* it covers the body: a good part of it lies inside the rendered body
  silhouette (eroded, so that a slightly misfitted body does not count), yet
  it also reaches outside the person (a body part stays within the person's
  outline; an object passing in front extends beyond it), or, within two
  frames, the same motion was seen mostly outside the person and moved onto
  it (an object that comes in front of the body and lies within its outline
  for a while), or a region of the same motion lying mostly outside the person
  touches it (one object whose region came apart at the person's edge). An
  object passing behind the person does not lie on the silhouette where the
  person is seen.

Per frame, the flow relative to the background is split into its dominant
motions (peaks of the 2D histogram of flow vectors). A pixel belongs to a
motion only where that motion explains the change towards both neighbouring
frames clearly better than the background's motion does (so textureless areas,
where dense flow is a guess, and noise do not count); each connected region of
one motion is a candidate, kept when both observations hold. Occluders found
in some frames are then followed through the clip: moved by their motion to
the next (previous) frame, they keep the pixels that still look the same, plus
that frame's regions with the same motion, even where they no longer cover the
body. Region edges follow colour: each occluder is snapped to SLIC superpixels.
Flow is smooth across an object's edge, so a limb beside an object that moves
like it can be taken in with it: the superpixels of an occluder that lie on the
person mask, look like the person (the colours seen on them away from every
moving object, over the clip) rather than like the occluder's part seen clear of
them, and join the person outside the occluder go back to the person.

Everything runs at a working size of at most ``max_side`` pixels (flow is the
main cost, about one Farneback call per frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._arrays import as_frames, as_masks, disk, fill_holes, to_full_size, to_working_size


@dataclass
class _Region:
    frame: int
    mask: np.ndarray  # [h,w] bool at working size
    velocity: np.ndarray  # [2] flow relative to the background, working pixels per frame
    unlike_person: bool = True  # its motion differs from the body's in its frame
    outside: float = 0.0  # share of it outside the person (mask and silhouette, grown)
    on_body: bool = False  # enough of it lies on the eroded silhouette


def find_moving_occluders(
    frames: np.ndarray,
    person_mask: np.ndarray,
    body_silhouette: np.ndarray,
    max_side: int = 256,
    min_area_fraction: float = 0.002,
    motion_threshold: float = 1.0,
    person_motion_margin: float = 1.5,
    outside_fraction: float = 0.15,
    off_body_fraction: float = 0.5,
    min_body_overlap: float = 0.05,
    contrast: float = 6.0,
    window: int = 8,
    carry_tolerance: float = 12.0,
    superpixels: bool = True,
    person_colours: bool = True,
) -> np.ndarray:
    """[T,H,W] float32 mask of occluders found by their motion.

    Args:
        frames: [T,H,W,3] float 0..1 (or uint8).
        person_mask: [T,H,W] 0..1, the segmenter's person mask (may include occluders).
        body_silhouette: [T,H,W] 0..1, the rendered body (hidden parts included).
        max_side: working size (longest side, pixels).
        min_area_fraction: smallest region, as a share of the working frame's area.
        motion_threshold: flow (working pixels per frame) relative to the background
            below which a pixel counts as still.
        person_motion_margin: a region's motion must differ from the body's by at
            least this (working pixels per frame) to be an occluder.
        outside_fraction: share of a region lying outside the person (mask and
            silhouette, grown) that shows it is not a body part.
        off_body_fraction: alternatively, share of it lying outside the grown
            silhouette (the segmenter's mask often covers an occluder too).
        min_body_overlap: share of the region that must lie on the eroded silhouette.
        contrast: grey-level difference (0..255, local mean) that a motion must
            explain better than the background's motion does.
        window: the body's motion is a median over this many frames either side.
        carry_tolerance: grey-level difference (0..255, local mean) under which a
            pixel of an occluder carried to the next frame still belongs to it.
        superpixels: snap region edges to SLIC superpixels.
        person_colours: give back to the person the parts of an occluder that look
            like them (see :func:`_without_person_parts`): flow is smooth across an
            object's edge, so a limb next to an object that moves like it is taken in.
    """
    frames = as_frames(frames)
    t, h, w = frames.shape[:3]
    person_mask = as_masks(person_mask, (t, h, w), "person_mask")
    body_silhouette = as_masks(body_silhouette, (t, h, w), "body_silhouette")
    if t < 2:
        return np.zeros((t, h, w), np.float32)
    small, (pm, sil), (sw, sh) = to_working_size(frames, [person_mask, body_silhouette], max_side)
    grey = [cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in small]
    min_area = max(8, int(min_area_fraction * sw * sh))

    flows = _flows(grey)
    backgrounds, person_vs = _motions(flows, pm, sil, min_area, window)
    regions: list[list[_Region]] = []
    found: list[list[_Region]] = []
    for i in range(t):
        flow, _, sign = flows[i]
        others = [(grey[k], float(k - i)) for k in (i + 1, i - 1) if 0 <= k < t]
        cands, occ = _frame_regions(
            grey[i], others, flow, backgrounds[i], person_vs[i], sign, pm[i], sil[i], i, min_area,
            motion_threshold, contrast, person_motion_margin, outside_fraction, off_body_fraction,
            min_body_overlap,
        )  # fmt: skip
        regions.append(cands)
        found.append(occ)
    found = _arrivals(regions, found)
    found = _follow(grey, regions, found, backgrounds, min_area, carry_tolerance, contrast)

    masks = np.zeros((t, sh, sw), bool)
    for i in range(t):
        for r in found[i]:
            masks[i] |= r.mask
    if masks.any() and (superpixels or person_colours):
        labs = [cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2LAB) for f in small]  # uint8 Lab
        if superpixels:
            masks = np.stack([_snap(labs[i], masks[i]) if masks[i].any() else masks[i] for i in range(t)])
        if person_colours:
            person = _person_colours(labs, pm, sil, masks)
            if len(person) >= 16:
                for i in range(t):
                    if (masks[i] & pm[i]).any():
                        masks[i] = _without_person_parts(labs[i], masks[i], pm[i], sil[i], person)
    return to_full_size(masks, h, w)


def _spread_samples(lab: np.ndarray, sel: np.ndarray, n: int) -> np.ndarray:
    """[<=n,3] float32 colours of ``lab`` at up to ``n`` pixels of ``sel``, evenly spread in raster order."""
    idx = np.flatnonzero(sel)
    if len(idx) > n:
        idx = idx[np.linspace(0, len(idx) - 1, n).astype(np.int64)]
    return lab.reshape(-1, 3)[idx].astype(np.float32)


def _person_colours(
    labs: list[np.ndarray], pm: np.ndarray, sil: np.ndarray, masks: np.ndarray, band: float = 0.08, per_frame: int = 64
) -> np.ndarray:
    """[N,3] Lab colours of the person seen away from every moving object, over the clip.

    Taken from the person mask outside the occluders grown by ``band`` x the
    person's size (the segmenter's mask often takes in an occluder's nearby parts
    too), up to ``per_frame`` pixels per frame.
    """
    out = []
    for i, lab in enumerate(labs):
        if not pm[i].any():
            continue
        size = _extent(pm[i] | sil[i])
        away = pm[i] & ~cv2.dilate(masks[i].astype(np.uint8), disk(band * size)).astype(bool)
        out.append(_spread_samples(lab, away, per_frame))
    return np.concatenate(out) if out else np.zeros((0, 3), np.float32)


def _without_person_parts(
    lab: np.ndarray,
    mask: np.ndarray,
    pm: np.ndarray,
    sil: np.ndarray,
    person: np.ndarray,
    ratio: float = 0.5,
    max_difference: float = 12.0,
    samples: int = 256,
) -> np.ndarray:
    """``mask`` (one frame's occluders) without the parts that are the person (``lab``: the
    frame in uint8 Lab).

    Flow is smooth across an object's edge, so a limb next to an object moving
    like it can be taken in with it. For each connected occluder with a part seen
    clear of the person (its colours), the superpixels lying on the person mask
    are given back to the person when their mean colour is within
    ``max_difference`` (Lab) of a colour of the person (``person``, from
    :func:`_person_colours`) and closer to it than ``ratio`` x the distance to
    the occluder's colours, and when they connect to the person outside the
    occluder through such superpixels (a colour of the object inside it that
    happens to be the person's stays with the object). An occluder never seen
    clear of the person is left as it is: nothing tells its colours from theirs.
    """
    grown, _, _, _ = _zones(pm, sil)
    out = mask.copy()
    n_regions, regions = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    grow = np.ones((3, 3), np.uint8)
    for k in range(1, n_regions):
        region = regions == k
        on = region & pm
        clear = region & ~grown
        if on.sum() < 8 or clear.sum() < 16:
            continue
        own = _spread_samples(lab, clear, samples)
        (y0, y1, x0, x1), labels = _superpixels(lab, on, 6)
        labels = labels.ravel()
        n = int(labels.max()) + 1
        inside = on[y0:y1, x0:x1]
        count = np.bincount(labels, minlength=n)
        on_count = np.bincount(labels, weights=inside.ravel().astype(np.float64), minlength=n)
        colours = lab[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64)
        mean = np.stack([np.bincount(labels, weights=colours[:, c], minlength=n) for c in range(3)], 1)
        mean /= np.maximum(count, 1)[:, None]
        d_own = np.sqrt(((mean[:, None] - own[None]) ** 2).sum(-1)).min(1)
        d_person = np.sqrt(((mean[:, None] - person[None]) ** 2).sum(-1)).min(1)
        like = (on_count > 0.5 * count) & (d_person < max_difference) & (d_person < ratio * d_own)
        # Only those reached from the person outside the occluder, through such superpixels.
        reach = cv2.dilate((pm & ~mask)[y0:y1, x0:x1].astype(np.uint8), grow).astype(bool)
        taken = np.zeros(n, bool)
        while True:
            touch = np.bincount(labels, weights=reach.ravel().astype(np.float64), minlength=n) > 0
            new = like & touch & ~taken
            if not new.any():
                break
            taken |= new
            reach = cv2.dilate(taken[labels].reshape(inside.shape).astype(np.uint8), grow).astype(bool) | reach
        out[y0:y1, x0:x1] &= ~(taken[labels].reshape(inside.shape) & inside)
    return out


def _flows(grey: list[np.ndarray]) -> list[tuple[np.ndarray, int, float]]:
    """Per frame: (flow to a neighbouring frame, that frame's index, +1 forward / -1 backward)."""
    t = len(grey)
    out = []
    for i in range(t):
        j, sign = (i + 1, 1.0) if i + 1 < t else (i - 1, -1.0)
        f = cv2.calcOpticalFlowFarneback(grey[i], grey[j], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        out.append((f, j, sign))
    return out


def _warp_error(a: np.ndarray, b: np.ndarray, shift: np.ndarray, k: int = 5) -> np.ndarray:
    """Local mean of |a(x) - b(x + shift)| (grey levels), for a translation ``shift``."""
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    h, w = a.shape
    moved = cv2.warpAffine(b, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return cv2.blur(np.abs(a.astype(np.float32) - moved.astype(np.float32)), (k, k))


def _frame_regions(
    grey: np.ndarray,
    others: list[tuple[np.ndarray, float]],
    flow: np.ndarray,
    background: np.ndarray,
    person_v: np.ndarray,
    sign: float,
    pm: np.ndarray,
    sil: np.ndarray,
    index: int,
    min_area: int,
    still: float,
    contrast: float,
    margin: float,
    outside_fraction: float,
    off_body_fraction: float,
    min_body_overlap: float,
) -> tuple[list[_Region], list[_Region]]:
    """Candidate motion regions of one frame, and those that are occluders.

    ``flow`` maps ``grey`` onto the next frame (the previous one when ``sign``
    is -1); velocities are stored per frame forward in time. ``others`` are
    the neighbouring frames with their time offsets (+1 next, -1 previous):
    a pixel counts only where it changes towards every neighbour, and a
    motion explains it only if it does so towards every neighbour (so the
    strip an object is about to cover, or has just left, is not the object).
    """
    body = pm | sil
    if not body.any():
        return [], []
    grown, sil_grown, core, _ = _zones(pm, sil)
    rel = flow - background
    # Pixels the background's motion does not explain (textureless areas never count:
    # any motion explains them, whatever the flow says there).
    err_bg = np.stack([_warp_error(grey, o, dt * background) for o, dt in others])
    changed = (err_bg > contrast).all(0)
    pool = changed & (np.linalg.norm(rel, axis=-1) > still)
    modes = []
    for _ in range(4):
        if pool.sum() < min_area:
            break
        v = _flow_mode(rel[pool])
        modes.append(v)
        pool &= np.linalg.norm(rel - v, axis=-1) >= max(1.0, 0.15 * float(np.linalg.norm(v)))
    if not modes:
        return [], []
    errs = np.stack([np.stack([_warp_error(grey, o, dt * (background + sign * v)) for o, dt in others])
                     for v in modes])  # fmt: skip  # [M,D,h,w]
    # Gain of each motion over the background's, in its worst direction; it must
    # also remove a quarter of the difference (noise is never explained).
    gain = (err_bg[None] - errs).min(1)  # [M,h,w]
    ratio = ((err_bg[None] - errs) / np.maximum(err_bg[None], 1e-3)).min(1)
    best = gain.argmax(0)
    top = np.take_along_axis(ratio, best[None], 0)[0]
    explained = changed & (gain.max(0) > contrast) & (top > 0.25)
    cands: list[_Region] = []
    occ: list[_Region] = []
    for m, v in enumerate(modes):
        sel = (explained & (best == m)).astype(np.uint8)
        sel = cv2.morphologyEx(sel, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        sel = cv2.morphologyEx(sel, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(sel, connectivity=8)
        for k in range(1, n):
            area = int(stats[k, cv2.CC_STAT_AREA])
            if area < min_area:
                continue
            seg = labels == k
            unlike = float(np.linalg.norm(v - person_v)) >= margin
            outside = float((seg & ~grown).sum()) / area
            on_body = int((seg & core).sum()) >= max(min_area // 2, min_body_overlap * area)
            region = _Region(index, seg, (sign * v).astype(np.float32), unlike, outside, on_body)
            cands.append(region)
            if not (unlike and on_body):
                continue
            off_body = float((seg & ~sil_grown).sum()) / area
            if outside >= outside_fraction or off_body >= off_body_fraction:
                occ.append(region)
    return cands, occ


def _arrivals(regions: list[list[_Region]], found: list[list[_Region]], reach: int = 2,
              clear: float = 0.5, adjacent: int = 3) -> list[list[_Region]]:
    """Add the regions on the body that are part of something seen outside the person.

    A region over the body that moves unlike the body but lies almost wholly within the person's
    outline may be a body part (a swinging arm) or an object passing in front (the segmenter often
    counts it as person). It is the object when a region with the same motion lies mostly
    (``clear``) outside the person and either, within ``reach`` frames, lands on it when moved by
    that motion, or, in the same frame, lies within ``adjacent`` working pixels of it (one object
    whose motion region came apart where it crosses the person's edge): a limb never leaves the
    person's outline.
    """
    t = len(regions)
    out = [list(f) for f in found]
    for i in range(t):
        for c in regions[i]:
            if not (c.unlike_person and c.on_body) or any(c is r for r in found[i]):
                continue
            speed = float(np.linalg.norm(c.velocity))
            area = int(c.mask.sum())
            for j in range(max(0, i - reach), min(t, i + reach + 1)):
                if j == i:  # the same motion's region next to it, mostly outside: one object in pieces
                    near = cv2.dilate(c.mask.astype(np.uint8), disk(adjacent)) > 0
                    seen = [r for r in regions[i] if r is not c and r.unlike_person and r.outside >= clear
                            and float(np.linalg.norm(r.velocity - c.velocity)) < 0.5 and (r.mask & near).any()]
                else:
                    seen = [
                        r for r in regions[j]
                        if r.unlike_person and r.outside >= clear
                        and float(np.linalg.norm(r.velocity - c.velocity)) < max(1.5, 0.3 * speed)
                        and (_shift(r.mask, r.velocity * (i - j)) & c.mask).sum() >= 0.3 * min(area, int(r.mask.sum()))
                    ]  # fmt: skip
                if seen:
                    out[i].append(c)
                    break
    return out


def _extent(body: np.ndarray) -> int:
    """Longer side (pixels) of the box around the (non-empty) mask ``body``."""
    ys, xs = np.nonzero(body)
    return int(max(ys.max() - ys.min(), xs.max() - xs.min()) + 1)


def _zones(pm: np.ndarray, sil: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(person and silhouette grown by 5 % of their size, silhouette grown by 5 %,
    silhouette eroded by 2 %, pixels farther than 10 % from both)."""
    body = pm | sil
    size = _extent(body)
    grown = cv2.dilate(body.astype(np.uint8), disk(0.05 * size)).astype(bool)
    sil_grown = cv2.dilate(sil.astype(np.uint8), disk(0.05 * size)).astype(bool)
    core = cv2.erode(sil.astype(np.uint8), disk(0.02 * size)).astype(bool)
    far = ~cv2.dilate(body.astype(np.uint8), disk(0.1 * size)).astype(bool)
    return grown, sil_grown, core, far


def _motions(
    flows: list[tuple[np.ndarray, int, float]], pm: np.ndarray, sil: np.ndarray, min_area: int, window: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per frame: the background's flow and the body's flow relative to it,
    both in the direction of that frame's flow.

    The body's flow is the median flow over the person on the eroded silhouette,
    then the median over ``window`` frames either side: an occluder that covers
    the body for a few frames does not become the body's motion.
    """
    bgs, own = [], []
    for i, (flow, _, sign) in enumerate(flows):
        if not (pm[i] | sil[i]).any():
            bgs.append(np.zeros(2, np.float32))
            own.append(np.full(2, np.nan, np.float32))
            continue
        _, _, core, far = _zones(pm[i], sil[i])
        bg = np.median(flow[far], 0) if far.sum() >= min_area else np.zeros(2, np.float32)
        mine = pm[i] & core
        bgs.append(bg)
        # Stored forward in time, so that the last frame (backward flow) can be pooled.
        own.append(sign * (np.median(flow[mine], 0) - bg) if mine.sum() >= min_area else np.full(2, np.nan))
    own_a = np.stack(own).astype(np.float32)
    person = []
    for i, (_, _, sign) in enumerate(flows):
        near = own_a[max(0, i - window) : i + window + 1]
        near = near[~np.isnan(near[:, 0])]
        person.append(sign * np.median(near, 0) if len(near) else np.zeros(2, np.float32))
    return bgs, person


def _flow_mode(vectors: np.ndarray) -> np.ndarray:
    """The most common flow vector (peak of a smoothed 1-pixel histogram)."""
    lim = float(np.ceil(np.abs(vectors).max())) + 1.0
    bins = int(min(2 * lim, 128))
    hist, ex, ey = np.histogram2d(vectors[:, 0], vectors[:, 1], bins=bins, range=[[-lim, lim], [-lim, lim]])
    hist = cv2.GaussianBlur(hist.astype(np.float32), (3, 3), 0)
    ix, iy = np.unravel_index(int(np.argmax(hist)), hist.shape)
    peak = np.array([(ex[ix] + ex[ix + 1]) / 2, (ey[iy] + ey[iy + 1]) / 2], np.float32)
    close = np.linalg.norm(vectors - peak, axis=-1) < max(1.0, 0.15 * float(np.linalg.norm(peak)))
    return np.median(vectors[close], 0) if close.any() else peak


def _shift(mask: np.ndarray, v: np.ndarray) -> np.ndarray:
    m = np.float32([[1, 0, v[0]], [0, 1, v[1]]])
    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0


def _follow(
    grey: list[np.ndarray],
    regions: list[list[_Region]],
    found: list[list[_Region]],
    backgrounds: list[np.ndarray],
    min_area: int,
    tolerance: float,
    contrast: float,
) -> list[list[_Region]]:
    """Carry occluders through the clip, forwards then backwards.

    An occluder moved by its velocity lands on the next frame; the pixels
    there that look the same (grey-level difference under ``tolerance``) and
    that the background's motion does not explain are still the occluder (with
    the holes they enclose: uniform insides of objects), and so are that
    frame's candidate regions with the same motion that overlap it. The forward pass gathers the parts found in
    earlier frames; the backward pass brings them back to the earlier frames.
    """
    t = len(regions)
    keep = [[_Region(r.frame, r.mask.copy(), r.velocity) for r in f] for f in found]
    for order, step in ((range(t - 1), 1), (range(t - 1, 0, -1), -1)):
        for i in order:
            j = i + step
            for r in keep[i]:
                shift = step * r.velocity
                pred = _shift(r.mask, shift)
                if pred.sum() < min_area:
                    continue
                same_look = _warp_error(grey[j], grey[i], -shift, k=3) < tolerance
                moved = _warp_error(grey[j], grey[i], -step * backgrounds[j], k=3) > contrast
                sure = (pred & same_look & moved).astype(np.uint8)
                hull = fill_holes(cv2.morphologyEx(sure, cv2.MORPH_CLOSE, disk(4)).astype(bool))
                mask = hull
                speed = float(np.linalg.norm(r.velocity))
                velocity = r.velocity
                for c in regions[j]:
                    if not c.unlike_person:
                        continue
                    if float(np.linalg.norm(c.velocity - r.velocity)) >= max(1.5, 0.3 * speed):
                        continue
                    if (c.mask & pred).sum() >= 0.3 * min(int(pred.sum()), int(c.mask.sum())):
                        mask |= c.mask
                        velocity = c.velocity
                if mask.sum() < min_area:
                    continue
                for q in keep[j]:
                    if (q.mask & mask).sum() >= 0.3 * min(int(q.mask.sum()), int(mask.sum())):
                        q.mask |= mask
                        break
                else:
                    keep[j].append(_Region(j, mask, velocity))
    return keep


def _superpixels(lab: np.ndarray, mask: np.ndarray, size: int, pad: int = 8) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """SLIC superpixels (region ``size``) of the uint8 Lab image ``lab`` in the box around the
    (non-empty) ``mask`` grown by ``pad``: ``((y0, y1, x0, x1), labels [y1-y0, x1-x0])``."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, h)
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, w)
    slic = cv2.ximgproc.createSuperpixelSLIC(np.ascontiguousarray(lab[y0:y1, x0:x1]), cv2.ximgproc.SLICO, size)
    slic.iterate(5)
    return (int(y0), int(y1), int(x0), int(x1)), slic.getLabels()


def _snap(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Superpixels more than half inside ``mask`` (searched near the mask only; ``lab``: uint8 Lab)."""
    (y0, y1, x0, x1), labels = _superpixels(lab, mask, 8)
    n = int(labels.max()) + 1
    inside = np.bincount(labels.ravel(), weights=mask[y0:y1, x0:x1].ravel().astype(np.float64), minlength=n)
    total = np.bincount(labels.ravel(), minlength=n)
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = (inside / np.maximum(total, 1) > 0.5)[labels]
    return out
