"""Load the three published ProPainter checkpoints from one folder.

Files (https://github.com/sczhou/ProPainter/releases/tag/v0.1.0):
``ProPainter.pth``, ``recurrent_flow_completion.pth``, ``raft-things.pth``.
Every file is read with ``torch.load(weights_only=True)``. Network widths are
read from the tensor shapes, so smaller models saved in the same layout load
too; every load is strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .flow_completion import RecurrentFlowCompleteNet
from .generator import InpaintGenerator, ProPainterConfig
from .raft import RaftConfig, RaftFlow

PROPAINTER_FILE = "ProPainter.pth"
FLOW_COMPLETION_FILE = "recurrent_flow_completion.pth"
RAFT_FILE = "raft-things.pth"
RELEASE_URL = "https://github.com/sczhou/ProPainter/releases/tag/v0.1.0"


@dataclass
class ProPainterModels:
    """The three networks, in eval mode on the same device."""

    raft: RaftFlow
    flow_complete: RecurrentFlowCompleteNet
    generator: InpaintGenerator

    def to(self, device: torch.device | str) -> ProPainterModels:
        """Move all three networks to ``device`` (in place); returns self."""
        for m in (self.raft, self.flow_complete, self.generator):
            m.to(device)
        return self


def _read(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and set(state) == {"state_dict"}:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a plain state dict of tensors")
    return state


def _shape(state: dict[str, torch.Tensor], key: str, path: Path | str) -> torch.Size:
    if key not in state:
        raise ValueError(f"{path}: expected key {key!r} is missing; is this the right checkpoint?")
    return state[key].shape


def generator_config_from_state(state: dict[str, torch.Tensor], path: Path | str = "state") -> ProPainterConfig:
    """Infer ``ProPainterConfig`` from ``ProPainter.pth`` tensor shapes (4 heads, 5x9 windows assumed)."""
    depths = len({m.group(1) for k in state if (m := re.match(r"transformers\.transformer\.(\d+)\.", k))})
    return ProPainterConfig(
        base_width=_shape(state, "encoder.layers.0.weight", path)[0],
        hidden=_shape(state, "ss.embedding.weight", path)[0],
        depths=depths,
        ffn_hidden=_shape(state, "transformers.transformer.0.mlp.fc1.0.weight", path)[0],
        pool_size=tuple(_shape(state, "transformers.transformer.0.attention.pool_layer.weight", path)[2:]),
        deform_groups=_shape(state, "feat_prop_module.deform_align.backward_1.conv_offset.6.weight", path)[0] // 27,
    )


def flow_completion_widths(state: dict[str, torch.Tensor], path: Path | str = "state") -> tuple[int, int]:
    """(base, deform_groups) of a ``recurrent_flow_completion.pth`` state."""
    base = _shape(state, "downsample.0.weight", path)[0]
    groups = _shape(state, "feat_prop_module.deform_align.backward_.conv_offset.6.weight", path)[0] // 27
    return base, groups


def raft_config_from_state(state: dict[str, torch.Tensor], path: Path | str = "state") -> RaftConfig:
    """Infer ``RaftConfig`` from ``raft-things.pth`` tensor shapes."""
    p = "module." if any(k.startswith("module.") for k in state) else ""

    def out(key: str) -> int:
        return _shape(state, p + key, path)[0]

    def enc(name: str) -> tuple[int, ...]:
        return (out(f"{name}.conv1.weight"), out(f"{name}.layer1.0.conv1.weight"),
                out(f"{name}.layer2.0.conv1.weight"), out(f"{name}.layer3.0.conv1.weight"),
                out(f"{name}.conv2.weight"))

    corr_in = _shape(state, p + "update_block.encoder.convc1.weight", path)[1]
    levels, radius = 0, 0
    for r in range(4, 0, -1):
        if corr_in % (2 * r + 1) ** 2 == 0 and 1 <= corr_in // (2 * r + 1) ** 2 <= 6:
            levels, radius = corr_in // (2 * r + 1) ** 2, r
            break
    if not levels:
        raise ValueError(f"{path}: cannot read correlation levels/radius from {corr_in} input channels")
    return RaftConfig(
        feature_layers=enc("fnet"),
        context_layers=enc("cnet"),
        corr_levels=levels,
        corr_radius=radius,
        corr_layers=(out("update_block.encoder.convc1.weight"), out("update_block.encoder.convc2.weight")),
        flow_layers=(out("update_block.encoder.convf1.weight"), out("update_block.encoder.convf2.weight")),
        motion_out=out("update_block.encoder.conv.weight") + 2,
        hidden=out("update_block.gru.convz1.weight"),
        flow_head_hidden=out("update_block.flow_head.conv1.weight"),
        mask_hidden=out("update_block.mask.0.weight"),
    )


def _strict_load(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path} does not match the expected layout: missing {result.missing_keys[:8]}, "
            f"unexpected {result.unexpected_keys[:8]}"
        )


def load_propainter(folder: str | Path, device: torch.device | str = "cpu") -> ProPainterModels:
    """Load ``ProPainter.pth``, ``recurrent_flow_completion.pth`` and ``raft-things.pth`` from ``folder``.

    Raises:
        FileNotFoundError: naming the missing file and the folder.
        ValueError: when a file does not have the published key layout.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"ProPainter folder {root} does not exist (expected {PROPAINTER_FILE}, "
                                f"{FLOW_COMPLETION_FILE}, {RAFT_FILE}; see {RELEASE_URL})")
    paths = {name: root / name for name in (PROPAINTER_FILE, FLOW_COMPLETION_FILE, RAFT_FILE)}
    for name, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f"ProPainter checkpoint {name} not found in {root} (download it from {RELEASE_URL})")

    gen_state = _read(paths[PROPAINTER_FILE])
    generator = InpaintGenerator(generator_config_from_state(gen_state, paths[PROPAINTER_FILE]))
    _strict_load(generator, gen_state, paths[PROPAINTER_FILE])

    flow_state = _read(paths[FLOW_COMPLETION_FILE])
    base, groups = flow_completion_widths(flow_state, paths[FLOW_COMPLETION_FILE])
    flow_complete = RecurrentFlowCompleteNet(base, groups)
    _strict_load(flow_complete, flow_state, paths[FLOW_COMPLETION_FILE])

    raft_state = _read(paths[RAFT_FILE])
    raft = RaftFlow(raft_config_from_state(raft_state, paths[RAFT_FILE]))
    raft.load_official_state_dict(raft_state, source=str(paths[RAFT_FILE]))

    models = ProPainterModels(raft=raft.eval(), flow_complete=flow_complete.eval(), generator=generator.eval())
    return models.to(device)


def save_propainter(models: ProPainterModels, folder: str | Path) -> None:
    """Write the three files in the published layout (plain state dicts; RAFT ``module.``-prefixed)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    torch.save(models.generator.state_dict(), root / PROPAINTER_FILE)
    torch.save(models.flow_complete.state_dict(), root / FLOW_COMPLETION_FILE)
    torch.save(models.raft.official_state_dict(), root / RAFT_FILE)
