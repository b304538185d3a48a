"""Load the released HMR 2.0 checkpoint (``epoch=35-step=1000000.ckpt``) into :class:`Hmr2Model`.

The file is a PyTorch Lightning checkpoint: the weights are under ``'state_dict'`` with no prefix.
Keys used: ``backbone.*`` and ``smpl_head.*`` (all of them must be present, with the expected shapes).
Keys ignored (documented in :data:`IGNORED_PREFIXES`): ``discriminator.*`` (the adversarial pose prior,
training only), ``smpl.*`` (the SMPL layer's buffers; the pelvis data below is read from them when
present, nothing else), ``initialized`` (a training flag), and any other wrapper entry (``epoch``,
``optimizer_states``, ``hyper_parameters``...). Files are read with
:func:`mimo_core.body.hmr2.safe_pickle.load_checkpoint_file` (no full unpickling).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import Hmr2Config
from .model import Hmr2Model
from .safe_pickle import load_checkpoint_file

#: accepted file names inside the model folder, in order of preference.
CHECKPOINT_NAMES = ("epoch=35-step=1000000.ckpt", "hmr2.ckpt")
USED_PREFIXES = ("backbone.", "smpl_head.")
IGNORED_PREFIXES = ("discriminator.", "smpl.", "initialized")


@dataclass
class SmplPelvisData:
    """The SMPL rest pelvis as a linear function of betas: ``J0(b) = template + shapedirs @ b``.

    Read from the checkpoint's ``smpl.J_regressor`` / ``smpl.v_template`` / ``smpl.shapedirs`` buffers.

    Attributes:
        template: ``[3]`` pelvis of the mean shape (metres).
        shapedirs: ``[3, S]`` change of the pelvis per beta.
    """

    template: torch.Tensor
    shapedirs: torch.Tensor

    def pelvis(self, betas: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` rest pelvis for ``betas [..., S']`` (extra or missing betas count as zero)."""
        s = min(int(betas.shape[-1]), int(self.shapedirs.shape[-1]))
        b = betas[..., :s].to(self.template)
        return self.template + b @ self.shapedirs[:, :s].T


@dataclass
class Hmr2Checkpoint:
    """A loaded HMR 2.0 checkpoint.

    Attributes:
        model: the network, in eval mode.
        ignored_keys: state-dict keys that were present and not loaded.
        pelvis: SMPL rest-pelvis data when the file holds the SMPL buffers, else ``None``.
    """

    model: Hmr2Model
    ignored_keys: list[str]
    pelvis: SmplPelvisData | None


def find_checkpoint(folder: str | Path) -> Path:
    """The HMR 2.0 checkpoint inside ``folder`` (or ``folder`` itself when it is a file)."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    for name in CHECKPOINT_NAMES:
        for candidate in (folder / name, folder / "checkpoints" / name):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"no HMR 2.0 checkpoint in {folder}: expected one of {list(CHECKPOINT_NAMES)} (the 4D-Humans release "
        "hmr2_data.tar.gz holds logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt)"
    )


def unwrap_lightning(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a Lightning checkpoint (or the dict itself when it already is one)."""
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{source}: expected a Lightning checkpoint with a 'state_dict' of tensors")
    return {str(k): v for k, v in obj.items()}


def split_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``(model keys, ignored keys)``; a ``module.`` / ``model.`` wrapper prefix is removed first."""
    sd = dict(state_dict)
    for prefix in ("module.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    used = {k: v for k, v in sd.items() if k.startswith(USED_PREFIXES)}
    return used, sorted(k for k in sd if k not in used)


def pelvis_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> SmplPelvisData | None:
    """SMPL rest-pelvis data from the ``smpl.*`` buffers, or ``None`` when they are absent."""
    names = ("smpl.J_regressor", "smpl.v_template", "smpl.shapedirs")
    if not all(n in state_dict for n in names):
        return None
    j0 = state_dict["smpl.J_regressor"][0].double()  # [V]
    v_template = state_dict["smpl.v_template"].double()  # [V,3]
    shapedirs = state_dict["smpl.shapedirs"].double()  # [V,3,S]
    if j0.shape[0] != v_template.shape[0] or shapedirs.shape[:2] != v_template.shape:
        raise ValueError(
            f"checkpoint SMPL buffers disagree: J_regressor {tuple(state_dict['smpl.J_regressor'].shape)}, "
            f"v_template {tuple(v_template.shape)}, shapedirs {tuple(shapedirs.shape)}"
        )
    template = (j0 @ v_template).float()
    dirs = torch.einsum("v,vcs->cs", j0, shapedirs).float()
    if not bool(torch.isfinite(template).all()) or float(template.abs().sum()) == 0.0:
        return None  # zero-filled placeholders carry no body
    return SmplPelvisData(template=template, shapedirs=dirs)


def build_model(
    state_dict: Mapping[str, torch.Tensor], config: Hmr2Config | None = None, source: str = "checkpoint"
) -> Hmr2Model:
    """An :class:`Hmr2Model` holding ``state_dict`` (model keys only; exact names and shapes required)."""
    config = config or Hmr2Config.official()
    with torch.device("meta"):
        model = Hmr2Model(config)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source} does not match the HMR 2.0 architecture {config}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''} ({len(missing)}), "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''} ({len(unexpected)}), "
            f"wrong shapes {wrong[:5]}"
        )
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True, assign=True)
    return model.eval()


def load_hmr2(
    path: str | Path,
    config: Hmr2Config | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Hmr2Checkpoint:
    """Load a Lightning HMR 2.0 checkpoint (a file, or a folder holding one of :data:`CHECKPOINT_NAMES`).

    Args:
        path: checkpoint file or folder.
        config: architecture; ``None`` = the released model (:meth:`Hmr2Config.official`).
        device, dtype: where and in which precision the network runs.
    Returns:
        :class:`Hmr2Checkpoint` with the model in eval mode and the list of ignored keys.
    """
    file = find_checkpoint(path)
    state_dict = unwrap_lightning(load_checkpoint_file(file), str(file))
    used, ignored = split_state_dict(state_dict)
    model = build_model(used, config, str(file)).to(device=device, dtype=dtype)
    return Hmr2Checkpoint(model=model, ignored_keys=ignored, pelvis=pelvis_from_state_dict(state_dict))
