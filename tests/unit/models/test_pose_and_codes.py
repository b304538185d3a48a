"""Pose encoders (Moore/MIMO PoseGuider, paper encoder, Champ guidance encoders) and vertex codes."""

from __future__ import annotations

import pytest
import torch
from _mimo_tiny import randomize_

from mimo_core.models.pose_encoders import (
    ChampGuidanceEncoder,
    GuidanceEncoderSet,
    PaperPoseEncoder,
    PoseGuider,
)
from mimo_core.models.vertex_codes import ANNY_VERTICES, SMPL_VERTICES, VertexCodes


@pytest.mark.parametrize(
    "encoder",
    [
        PoseGuider(320, conditioning_channels=3),
        PaperPoseEncoder(conditioning_channels=16),
        ChampGuidanceEncoder(320, conditioning_channels=3),
    ],
    ids=["pose_guider", "paper", "champ"],
)
def test_zero_initialised_output_and_shapes(encoder):
    channels = encoder.conditioning_channels
    video = torch.rand(2, channels, 3, 32, 32)
    out = encoder(video)
    assert out.shape == (2, 320, 3, 4, 4)
    assert (
        torch.count_nonzero(out) == 0
    )  # zero-initialised output layer: training starts from the image model
    assert encoder(video[:, :, 0]).shape == (2, 320, 4, 4)
    with pytest.raises(ValueError, match="input channels"):
        encoder(torch.rand(2, channels + 1, 32, 32))


@pytest.mark.parametrize("cls", [PoseGuider, PaperPoseEncoder])
def test_encoders_work_per_frame(cls):
    encoder = randomize_(
        cls(conditioning_channels=3) if cls is PoseGuider else cls(conditioning_channels=3), seed=1
    )
    video = torch.rand(1, 3, 2, 32, 32)
    out = encoder(video)
    torch.testing.assert_close(out[:, :, 1], encoder(video[:, :, 1]))
    assert (out[:, :, 0] - out[:, :, 1]).abs().max() > 0


def test_pose_guider_layer_layout():
    guider = PoseGuider(320, conditioning_channels=3, block_out_channels=(16, 32, 96, 256))
    strides = [block.stride[0] for block in guider.blocks]
    assert strides == [1, 2, 1, 2, 1, 2]
    assert all(block.kernel_size == (3, 3) for block in guider.blocks)


def test_paper_encoder_uses_4x4_stride_2_convs():
    encoder = PaperPoseEncoder(conditioning_channels=16)
    convs = [m for m in encoder.conv_layers if isinstance(m, torch.nn.Conv2d)]
    down = [c for c in convs if c.stride == (2, 2)]
    assert [c.kernel_size for c in down] == [(4, 4)] * 3
    assert [c.out_channels for c in down] == [16, 32, 64]
    assert convs[-1].out_channels == 128 and encoder.final_proj.kernel_size == (1, 1)


def test_guidance_set_sums_encoders():
    depth = randomize_(ChampGuidanceEncoder(320, 3), seed=2)
    normal = randomize_(ChampGuidanceEncoder(320, 3), seed=3)
    guidance = GuidanceEncoderSet({"depth": depth, "normal": normal})
    maps = {"depth": torch.rand(1, 3, 2, 32, 32), "normal": torch.rand(1, 3, 2, 32, 32)}
    torch.testing.assert_close(guidance(maps), depth(maps["depth"]) + normal(maps["normal"]))
    with pytest.raises(KeyError, match="normal"):
        guidance({"depth": maps["depth"]})


def test_vertex_codes():
    codes = VertexCodes(num_vertices=SMPL_VERTICES, dim=16)
    assert codes().shape == (6890, 16)
    batch = codes(torch.zeros(2, SMPL_VERTICES, 3))
    assert batch.shape == (2, 6890, 16)
    batch.sum().backward()
    assert codes.codes.grad is not None and torch.all(codes.codes.grad == 2)
    assert VertexCodes(ANNY_VERTICES, 8)().shape == (13718, 8)
    with pytest.raises(ValueError, match="6890"):
        codes(torch.zeros(1, 100, 3))
