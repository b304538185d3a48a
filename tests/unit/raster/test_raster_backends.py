"""Backend selection and the nvdiffrast adapter's coordinate conversions.

nvdiffrast itself needs CUDA; on machines without it the adapter's conversion
into clip space and back out of nvdiffrast's output format is checked against a
stand-in that follows nvdiffrast's documented conventions.
"""

import logging

import pytest
import torch

from mimo_core.raster import available_backends, rasterize, select_backend
from mimo_core.raster import backend as backend_module
from mimo_core.raster import nvdiffrast_backend as nvd
from mimo_core.raster.torch_backend import rasterize_torch


def random_mesh(n_frames=2, n_faces=120, size=40, seed=3):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(n_frames, n_faces, 1, 2, generator=gen) * size
    offsets = (torch.rand(n_frames, n_faces, 3, 2, generator=gen) - 0.5) * 10
    depth = 1.0 + 4.0 * torch.rand(n_frames, n_faces, 3, 1, generator=gen)
    verts = torch.cat([centres + offsets, depth], dim=-1).reshape(n_frames, n_faces * 3, 3)
    return verts, torch.arange(n_faces * 3).reshape(n_faces, 3)


def fake_nvdiffrast_rasterize(clip: torch.Tensor, tri: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Stand-in for ``dr.rasterize``: NDC (-1,-1) is the corner of row 0 / column 0,
    output ``(u, v, z/w, id + 1)`` with barycentrics weighting (v0, v1, v2) as
    ``(u, v, 1-u-v)``. Triangles with a vertex at ``w <= 0`` are discarded."""
    w = clip[..., 3]
    px = torch.stack([(clip[..., 0] / w + 1) * width / 2, (clip[..., 1] / w + 1) * height / 2, w], -1)
    rast = rasterize_torch(px, tri.long(), height, width)
    zw = torch.zeros_like(rast.depth)
    out = torch.stack([rast.bary[..., 0], rast.bary[..., 1], zw, (rast.face_id + 1).float()], -1)
    return out


@pytest.mark.parametrize("cull", ["none", "back"])
def test_nvdiffrast_conversion_round_trip_matches_torch_backend(cull):
    verts, faces = random_mesh()
    h, w = 36, 40
    ref = rasterize_torch(verts, faces, h, w, cull=cull)
    near, far = nvd.depth_range(verts[..., 2], 1e-6)
    assert near <= float(verts[..., 2].min()) and far >= float(verts[..., 2].max())
    clip = nvd.pixel_to_clip(verts, h, w, near, far)
    z_ndc = clip[..., 2] / clip[..., 3]
    assert float(z_ndc.min()) > -1 and float(z_ndc.max()) < 1
    drop = nvd._dropped_faces(verts, faces, cull, 1e-6)
    if cull == "back":
        assert drop.any() and not drop.all()
        # Hide dropped triangles as the adapter does: unwelded, w = -1.
        clip = clip[:, faces.reshape(-1)].reshape(2, -1, 3, 4)
        clip = torch.where(drop[..., None, None], torch.tensor([0.0, 0.0, 0.0, -1.0]), clip).reshape(2, -1, 4)
        tri = torch.arange(faces.numel()).reshape(-1, 3)
    else:
        assert not drop.any()
        tri = faces
    out = nvd.from_nvdiffrast_output(fake_nvdiffrast_rasterize(clip, tri, h, w), faces, verts[..., 2])
    assert torch.equal(out.face_id, ref.face_id)
    assert torch.allclose(out.bary, ref.bary, atol=1e-5)
    assert torch.allclose(out.depth, ref.depth, rtol=1e-5)


def test_available_backends_and_cpu_selection():
    names = available_backends()
    assert names[0] == "torch"
    assert select_backend(None, "cpu") == "torch"
    assert select_backend("auto", "cpu") == "torch"
    assert select_backend("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="unknown raster backend"):
        select_backend("pyrender", "cpu")


def test_missing_nvdiffrast_logs_once_and_falls_back(monkeypatch, caplog):
    monkeypatch.setattr(nvd, "is_available", lambda: False)
    monkeypatch.setattr(backend_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="mimo"):
        assert select_backend("nvdiffrast", "cuda") == "torch"
        assert select_backend("nvdiffrast", "cuda") == "torch"
    messages = [r.getMessage() for r in caplog.records if r.name == "mimo"]
    assert len(messages) == 1 and "nvdiffrast" in messages[0] and "not installed" in messages[0]
    assert select_backend(None, "cuda") == "torch"


def test_nvdiffrast_requested_for_cpu_tensors_falls_back(monkeypatch, caplog):
    monkeypatch.setattr(backend_module, "_warned", set())
    verts, faces = random_mesh(1, 10, 16)
    with caplog.at_level(logging.WARNING, logger="mimo"):
        rast = rasterize(verts, faces, 16, 16, backend="nvdiffrast")
    assert torch.equal(rast.face_id, rasterize_torch(verts, faces, 16, 16).face_id)
    assert any("CUDA" in r.getMessage() for r in caplog.records if r.name == "mimo")


def test_nvdiffrast_adapter_refuses_cpu_tensors():
    verts, faces = random_mesh(1, 4, 8)
    with pytest.raises(ValueError, match="CUDA"):
        nvd.rasterize_nvdiffrast(verts, faces, 8, 8)


@pytest.mark.skipif(
    not (torch.cuda.is_available() and nvd.is_available()), reason="needs CUDA and nvdiffrast"
)
def test_nvdiffrast_matches_torch_backend_on_gpu():
    verts, faces = random_mesh(2, 200, 64)
    verts = verts.cuda()
    ref = rasterize_torch(verts, faces.cuda(), 64, 64)
    out = nvd.rasterize_nvdiffrast(verts, faces.cuda(), 64, 64)
    agree = (out.face_id == ref.face_id).float().mean()
    assert agree > 0.995  # edge-rule differences on pixel centres exactly on edges only
    both = (out.face_id == ref.face_id) & (ref.face_id >= 0)
    assert torch.allclose(out.bary[both], ref.bary[both], atol=1e-3)
    assert torch.allclose(out.depth[both], ref.depth[both], rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_backend_on_gpu_matches_cpu():
    verts, faces = random_mesh(2, 200, 64)
    cpu = rasterize_torch(verts, faces, 64, 64)
    gpu = rasterize_torch(verts.cuda(), faces.cuda(), 64, 64)
    assert torch.equal(gpu.face_id.cpu(), cpu.face_id)
    assert torch.allclose(gpu.bary.cpu(), cpu.bary, atol=1e-6)
