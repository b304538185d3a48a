"""GPU check: the full-size MIMO network in fp16 on CUDA, and the whole pipeline on CUDA.

Prints (1) one denoising step of the SD1.5-size video UNet (8 input channels, motion modules,
reference attention) for a CFG batch of one 24-frame window at 512x512 (64x64 latents): time and
peak memory; the ReferenceNet pass that is made once per video; (2) the tiny pipeline generating
on CUDA in fp16 vs CPU fp32 (same seed): the largest difference.

    python bench/gpu_check.py            # needs a CUDA device
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mimo_core.models import SD15_UNET_CONFIG, MotionModuleConfig, ReferenceNet, VideoUNet  # noqa: E402
from mimo_core.models.reference import cfg_reference_mask  # noqa: E402


def cuda_time(fn, repeats: int = 5) -> float:
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def full_size_step(frames: int = 24, size: int = 64) -> None:
    dev, dt = torch.device("cuda"), torch.float16
    unet = VideoUNet(dict(SD15_UNET_CONFIG, in_channels=8), MotionModuleConfig()).to(dev, dt).eval()
    refnet = ReferenceNet(**SD15_UNET_CONFIG).to(dev, dt).eval()
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    x = torch.randn(2, 8, frames, size, size, device=dev, dtype=dt)
    ctx = torch.randn(2, 1, 768, device=dev, dtype=dt)
    pose = torch.randn(2, 320, frames, size, size, device=dev, dtype=dt) * 0.1
    t = torch.tensor([500, 500], device=dev)
    with torch.inference_mode():
        ref_latent = torch.randn(1, 4, size, size, device=dev, dtype=dt)
        torch.cuda.reset_peak_memory_stats()
        ref_time = cuda_time(lambda: refnet.encode(ref_latent, ctx[:1]), repeats=3)
        reference = refnet.encode(ref_latent, ctx[:1]).repeat(2)
        mask = cfg_reference_mask(1).to(dev)
        torch.cuda.reset_peak_memory_stats()
        with_ref = cuda_time(lambda: unet(x, t, ctx, pose_features=pose, reference=reference, reference_mask=mask))
        peak = torch.cuda.max_memory_allocated() / 2**30
        no_ref = cuda_time(lambda: unet(x, t, ctx, pose_features=pose))
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print(f"video UNet: {params:.0f} M parameters, fp16, CFG batch 2 x {frames} frames x {size * 8}x{size * 8}")
    print(f"  one step with reference attention: {with_ref * 1000:.0f} ms (peak {peak:.1f} GiB)")
    print(f"  one step without reference attention: {no_ref * 1000:.0f} ms "
          f"(reference attention overhead {100 * (with_ref / no_ref - 1):.0f}%)")
    print(f"  ReferenceNet pass (once per video): {ref_time * 1000:.0f} ms")
    print(f"  25 steps of one window: {25 * with_ref:.1f} s")


def tiny_pipeline_cuda() -> None:
    from scripts.make_tiny_mimo import build_tiny_pipeline

    pipe = build_tiny_pipeline(8, seed=0)
    g = torch.Generator().manual_seed(1)
    ref = torch.rand(64, 64, 3, generator=g)
    pose = torch.rand(12, 64, 64, 3, generator=g)
    scene = torch.rand(12, 64, 64, 3, generator=g)
    cpu = pipe.generate(ref, pose, scene, steps=4, window=8, overlap=2, seed=3)
    pipe.to(torch.device("cuda"), torch.float16)
    gpu = pipe.generate(ref, pose, scene, steps=4, window=8, overlap=2, seed=3)
    diff = (cpu - gpu.float().cpu()).abs()
    print(f"tiny pipeline 12 frames: CUDA fp16 vs CPU fp32 max |diff| {diff.max():.4f}, mean {diff.mean():.5f}, "
          f"finite={bool(torch.isfinite(gpu).all())}")


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("bench/gpu_check.py: no CUDA device here, nothing measured")
        raise SystemExit(0)
    tiny_pipeline_cuda()
    full_size_step()
