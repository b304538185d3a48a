from __future__ import annotations

import numpy as np
import pytest

from mimo_core.preprocess.reference import _framed_box, person_mask, prepare_reference


def test_astronaut_is_cut_out_and_framed(astronaut):
    mask_full = person_mask(astronaut)
    h, w = mask_full.shape
    assert mask_full[h // 2, w // 2] > 0.5  # the astronaut fills the centre of the photo
    assert 0.2 < (mask_full > 0.5).mean() < 0.8
    img, mask = prepare_reference(astronaut, size=(384, 256), background=(1.0, 1.0, 1.0))
    assert img.shape == (384, 256, 3) and mask.shape == (384, 256)
    assert img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert mask[192, 128] > 0.5
    # outside the person the background colour is used
    outside = mask < 0.01
    assert outside.any()
    assert (np.abs(img[outside] - 1.0) < 0.02).mean() > 0.99  # a few edge pixels blend when resizing


def test_uint8_input_and_custom_background(astronaut):
    img, mask = prepare_reference((astronaut * 255).astype(np.uint8), size=(128, 128), background=(0, 0, 0))
    assert img.shape == (128, 128, 3)
    assert np.median(img[mask < 0.01]) < 0.01


def test_framed_box_has_target_aspect():
    x0, y0, x1, y1 = _framed_box(np.array([10, 20, 30, 120], np.float32), 0.0, 1.0)
    assert abs((x1 - x0) - (y1 - y0)) <= 1 and (x0 + x1) / 2 == pytest.approx(20, abs=1)


def test_no_person_is_an_error():
    with pytest.raises(ValueError, match="no person"):
        prepare_reference(np.full((128, 128, 3), 0.5, np.float32), size=(64, 64))
