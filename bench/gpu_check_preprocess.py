"""GPU check of the full preprocessing path: Depth Anything V2, HMR 2.0 and ProPainter on CUDA.

Prints (1) for the networks at their released sizes, randomly initialised (the
official weights are not bundled; the architectures and sizes are the released
ones, so time and memory are those of the real models): time per frame and peak
memory on CUDA in fp16 and fp32 --
Depth Anything V2 Small / Base / Large on a 16:9 frame at the released input
size (518 px short side), HMR 2.0 (ViT-H) on 256x192 person crops, ProPainter
(RAFT + flow completion + generator) on a 24-frame 432x240 clip with a hole in
every frame, with PyTorch's default settings (cuDNN may use TF32 in fp32
convolutions); (2) the tiny random models of the tests on CUDA vs CPU (same
weights, same input, TF32 off): the largest difference of each output, and for
ProPainter of each stage fed the CPU result of the stage before.

    python bench/gpu_check_preprocess.py            # needs a CUDA device
    python bench/gpu_check_preprocess.py --device cpu --quick   # the code path only, small sizes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mimo_core.body.hmr2 import Hmr2Config, Hmr2Model  # noqa: E402
from mimo_core.preprocess.propainter import (  # noqa: E402
    InpaintGenerator,
    ProPainterModels,
    RaftFlow,
    RecurrentFlowCompleteNet,
)
from mimo_core.preprocess.propainter.inference import propainter_inpaint  # noqa: E402

# Depth Anything V2 (relative depth) sizes: DINOv2 backbone width / depth / heads, the
# blocks read by the neck, the neck's widths and the fusion width.
DEPTH_SIZES = {
    "small": (384, 12, 6, [3, 6, 9, 12], [48, 96, 192, 384], 64),
    "base": (768, 12, 12, [3, 6, 9, 12], [96, 192, 384, 768], 128),
    "large": (1024, 24, 16, [5, 12, 18, 24], [256, 512, 1024, 1024], 256),
}


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev: torch.device, repeats: int = 3) -> float:  # noqa: ANN001
    """Median wall time of ``fn()`` after one warm-up call."""
    fn()
    sync(dev)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def peak_gib(dev: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if dev.type == "cuda" else "n/a"


def reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def depth_model(size: str, quick: bool):  # noqa: ANN201 - a transformers model
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    width, depth, heads, out_idx, neck, fusion = DEPTH_SIZES[size]
    if quick:
        width, depth, heads, out_idx, neck, fusion = 32, 4, 2, [1, 2, 3, 4], [8, 16, 32, 32], 16
    backbone = Dinov2Config(
        hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads, intermediate_size=4 * width,
        patch_size=14, image_size=518, out_indices=out_idx, reshape_hidden_states=False,
    )
    cfg = DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=neck, fusion_hidden_size=fusion,
        reassemble_hidden_size=width, patch_size=14, head_hidden_size=32, depth_estimation_type="relative",
    )
    return DepthAnythingForDepthEstimation(cfg).eval()


def check_depth(dev: torch.device, quick: bool) -> None:
    h, w = (70, 126) if quick else (518, 924)  # 16:9, multiples of 14, as the processor sizes a 1920x1080 frame
    batch = 4
    for size in ("small",) if quick else ("small", "base", "large"):
        model = depth_model(size, quick)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        for dtype in (torch.float16, torch.float32) if dev.type == "cuda" else (torch.float32,):
            m = model.to(dev, dtype)
            x = torch.randn(batch, 3, h, w, device=dev, dtype=dtype)
            reset_peak(dev)
            with torch.inference_mode():
                s = timed(lambda m=m, x=x: m(pixel_values=x).predicted_depth, dev)
                out = m(pixel_values=x).predicted_depth
            finite = bool(torch.isfinite(out).all())
            print(f"depth {size:5s} ({params:.1f} M params) {str(dtype)[6:]:7s} {h}x{w}, batch {batch}: "
                  f"{1000 * s / batch:.1f} ms/frame, peak {peak_gib(dev)}, output finite: {finite}")
        del model


def check_hmr2(dev: torch.device, quick: bool) -> None:
    cfg = Hmr2Config(embed_dim=32, depth=2, num_heads=2, head_dim=32, head_depth=2, head_heads=2,
                     head_dim_head=8, head_mlp_dim=32) if quick else Hmr2Config()
    model = Hmr2Model(cfg).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    batch = 24
    for dtype in (torch.float16, torch.float32) if dev.type == "cuda" else (torch.float32,):
        m = model.to(dev, dtype)
        x = torch.randn(batch, 3, *cfg.image_size, device=dev, dtype=dtype)
        reset_peak(dev)
        with torch.inference_mode():
            s = timed(lambda m=m, x=x: m(x), dev)
        print(f"hmr2 ({params:.0f} M params) {str(dtype)[6:]:7s} {batch} crops {cfg.image_size}: "
              f"{1000 * s / batch:.1f} ms/crop, peak {peak_gib(dev)}")


def hole_clip(frames: int, h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    clip = np.stack([
        np.stack([0.5 + 0.4 * np.sin((xx + 3 * t) / 9.0), 0.5 + 0.4 * np.cos(yy / 7.0), np.full((h, w), 0.3)], -1)
        for t in range(frames)
    ]).astype(np.float32)
    clip += rng.normal(0, 0.02, clip.shape).astype(np.float32)
    holes = np.zeros((frames, h, w), np.float32)
    for t in range(frames):  # a person-sized box walking across
        x0 = int(w * 0.2 + t * w * 0.02)
        holes[t, int(0.2 * h) : int(0.9 * h), x0 : x0 + w // 6] = 1.0
    return np.clip(clip, 0, 1), holes


def check_propainter(dev: torch.device, quick: bool) -> None:
    sys.path.insert(0, str(REPO / "tests" / "unit" / "propainter"))
    if quick:
        from _propainter_tiny import make_tiny_models

        models = make_tiny_models()
    else:
        models = ProPainterModels(
            raft=RaftFlow().eval(), flow_complete=RecurrentFlowCompleteNet().eval(), generator=InpaintGenerator().eval()
        )
    params = sum(p.numel() for n in (models.raft, models.flow_complete, models.generator) for p in n.parameters()) / 1e6
    frames, h, w = (6, 48, 80) if quick else (24, 240, 432)
    clip, holes = hole_clip(frames, h, w)
    for dtype in (torch.float16, torch.float32) if dev.type == "cuda" else (torch.float32,):
        reset_peak(dev)
        propainter_inpaint(clip, holes, models, device=dev, dtype=dtype)  # warm-up
        marks: list[float] = []

        def mark(done: int, total: int, marks: list[float] = marks) -> None:
            sync(dev)
            marks.append(time.perf_counter())

        start = time.perf_counter()
        out = propainter_inpaint(clip, holes, models, device=dev, dtype=dtype, progress=mark)
        s = time.perf_counter() - start
        stages = np.diff([start, *marks[:3], marks[-1]]) * 1000 / frames
        print(f"propainter ({params:.1f} M params) {str(dtype)[6:]:7s} {frames} frames {h}x{w}: "
              f"{1000 * s / frames:.1f} ms/frame (flows {stages[0]:.1f}, flow completion {stages[1]:.1f}, "
              f"propagation {stages[2]:.1f}, generator {stages[3]:.1f}), peak {peak_gib(dev)}, "
              f"output finite: {bool(np.isfinite(out).all())}")
    if dev.type == "cuda":  # RAFT's convolutions with TF32 turned off (cuDNN then avoids its fast kernels)
        before = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            s = timed(lambda: propainter_inpaint(clip, holes, models, device=dev), dev, repeats=1)
        finally:
            torch.backends.cudnn.allow_tf32 = before
        print(f"propainter float32 with cuDNN TF32 off: {1000 * s / frames:.1f} ms/frame")


def check_tiny_agreement(dev: torch.device) -> None:
    """The tests' tiny random models: CUDA fp32 vs CPU fp32 on the same input."""
    sys.path.insert(0, str(REPO / "tests" / "unit" / "propainter"))
    sys.path.insert(0, str(REPO / "tests" / "unit" / "hmr2"))
    from _hmr2_tiny import tiny_model
    from _propainter_tiny import make_tiny_models

    torch.manual_seed(0)
    depth = depth_model("small", quick=True)
    x = torch.randn(2, 3, 70, 126)
    with torch.inference_mode():
        a = depth(pixel_values=x).predicted_depth
        b = depth.to(dev)(pixel_values=x.to(dev)).predicted_depth.cpu()
    print(f"tiny depth: {dev.type} vs cpu largest difference {float((a - b).abs().max()):.2e} (output scale {float(a.abs().max()):.2e})")

    hmr = tiny_model()
    crops = torch.randn(3, 3, *hmr.config.image_size)
    with torch.inference_mode():
        pa = hmr(crops)
        pb = hmr.to(dev)(crops.to(dev))
    diffs = {k: float((getattr(pa, k) - getattr(pb, k).cpu()).abs().max()) for k in ("body_pose", "betas", "cam_crop")}
    print("tiny hmr2: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))

    clip, holes = hole_clip(6, 48, 80)
    out_cpu = propainter_inpaint(clip, holes, make_tiny_models(), device="cpu")
    out_dev = propainter_inpaint(clip, holes, make_tiny_models(), device=dev)
    # Stage by stage, each fed the CPU result of the stage before, to tell which one differs.
    from mimo_core.preprocess.propainter.inference import (
        _dilate,
        complete_flows,
        compute_flows,
        propagate_images,
    )

    cpu_models, dev_models = make_tiny_models(), make_tiny_models().to(dev)
    x = torch.from_numpy(clip).permute(0, 3, 1, 2).unsqueeze(0) * 2 - 1
    m = torch.from_numpy(_dilate(holes > 0.5, 4)).float()[None, :, None]
    with torch.no_grad():
        stages = {}
        flows = compute_flows(cpu_models, x, 20)
        stages["RAFT flows (px)"] = (flows[0], compute_flows(dev_models, x.to(dev), 20)[0])
        done = complete_flows(cpu_models, flows, m, 80)
        on_dev = complete_flows(dev_models, (flows[0].to(dev), flows[1].to(dev)), m.to(dev), 80)
        stages["flow completion (px)"] = (done[0], on_dev[0])
        prop = propagate_images(cpu_models, x, done, m, 80)
        stages["propagation (-1..1)"] = (
            prop[0], propagate_images(dev_models, x.to(dev), (done[0].to(dev), done[1].to(dev)), m.to(dev), 80)[0]
        )
    print("tiny propainter stages, largest difference: " + ", ".join(
        f"{k} {float((a - b.cpu()).abs().max()):.2e} of {float(a.abs().max()):.2e}" for k, (a, b) in stages.items()
    ))
    diff = np.abs(out_cpu - out_dev).max(-1)[holes > 0.5]
    print(f"tiny propainter: {dev.type} vs cpu, hole pixels: largest difference {float(diff.max()):.2e}, "
          f"mean {float(diff.mean()):.2e}, share over 1/255 {float((diff > 1 / 255).mean()):.4f} (0..1 pixels)")


def profile_raft(dev: torch.device, quick: bool) -> None:
    """The kernels that take the time in one bidirectional RAFT pass (12 frames, 432x240, 20 updates)."""
    from torch.profiler import ProfilerActivity, profile

    raft = RaftFlow().eval().to(dev)
    frames, h, w = (4, 64, 64) if quick else (12, 240, 432)
    x = torch.rand(1, frames, 3, h, w, device=dev) * 2 - 1
    with torch.no_grad():
        raft(x, iters=20)
        sync(dev)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=activities) as prof:
            raft(x, iters=20)
            sync(dev)
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=60))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the code path, times nothing useful)")
    parser.add_argument("--profile-raft", action="store_true", help="only profile RAFT's kernels")
    args = parser.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check (use --device cpu --quick for the code path)")
        return
    if dev.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}")
    if args.profile_raft:
        profile_raft(dev, args.quick)
        return
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # fp32 as on the CPU for the comparison
        check_tiny_agreement(dev)
    # The timings run with PyTorch's defaults, as the nodes do (cuDNN may use TF32 for fp32 convolutions).
    check_depth(dev, args.quick)
    check_hmr2(dev, args.quick)
    check_propainter(dev, args.quick)


if __name__ == "__main__":
    main()
