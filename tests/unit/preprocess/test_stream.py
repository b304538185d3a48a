from __future__ import annotations

import numpy as np

from mimo_core.preprocess.stream import preprocess_video_stream
from mimo_core.video_io import probe_video, read_video


def test_stream_writes_masks_and_track_in_chunks(tmp_path, demo_path, walking_track):
    calls = []
    res = preprocess_video_stream(
        demo_path, tmp_path / "out", chunk_size=5, max_side=512, start=80, stride=4, max_frames=12,
        progress=lambda done, total: calls.append(done),
    )
    assert calls == [5, 10, 12]
    assert res.frame_count == 12 and res.size == (288, 512)
    info = probe_video(res.mask_video)
    assert (info.width, info.height, info.frame_count) == (512, 288, 12)
    with np.load(res.track_file) as z:
        assert z["boxes"].shape == (12, 4) and z["landmarks"].shape == (12, 33, 4)
        assert list(z["lost_frames"]) == res.lost_frames
    # Same result as tracking the whole clip at once (the tracker state spans chunks).
    np.testing.assert_allclose(
        np.load(res.track_file)["boxes"], walking_track.boxes, atol=1.0, equal_nan=True
    )
    masks = read_video(res.mask_video)[..., 0]
    agree = ((masks > 0.5) == (walking_track.masks > 0.5)).mean()
    assert agree > 0.995
