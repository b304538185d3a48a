"""Reference attention: ReferenceNet writes self-attention inputs, the video UNet reads them.

Semantics (Moore-AnimateAnyone, also used by Champ and the official MIMO release):

* ReferenceNet is an SD1.5 ``UNet2DConditionModel`` run once per sample on the reference image latents
  at timestep 0 with the CLIP image embedding as cross-attention context. The input of every
  self-attention layer (``attn1``, i.e. the ``norm1`` output of each transformer block) is recorded.
* In the denoising UNet, each ``attn1`` uses its own tokens as queries and the concatenation
  ``[own tokens, reference tokens]`` as keys and values; the reference tokens of a video are repeated for
  each of its frames. Layers are matched by module path (``down_blocks.0.attentions.0...attn1``).
* Classifier-free guidance: Moore runs the unconditional half of the batch with zero CLIP context *and*
  plain self-attention (no reference tokens). Pass ``reference_mask`` (see :func:`cfg_reference_mask`) to
  get exactly that; without a mask every video attends to the reference.

Everything is done with attention processors installed on individual ``Attention`` modules; no diffusers
class is patched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from torch import nn

from .run_state import VideoRunState


@dataclass
class ReferenceFeatures:
    """Recorded ReferenceNet self-attention inputs, one entry per ``attn1`` module path.

    ``features[name]``: ``[B, L, C]`` tokens of the reference image (``L`` = h*w at that block's resolution).
    Compute once per sample with :meth:`ReferenceNet.encode` and pass to every denoising step.
    """

    features: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        """Number of reference images (0 when empty)."""
        first = next(iter(self.features.values()), None)
        return 0 if first is None else first.shape[0]

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> ReferenceFeatures:
        """Copy on another device / dtype."""
        return ReferenceFeatures({k: v.to(device=device, dtype=dtype) for k, v in self.features.items()})

    def repeat(self, times: int) -> ReferenceFeatures:
        """Tile the batch ``times`` times (``[B, L, C]`` -> ``[times*B, L, C]``)."""
        return ReferenceFeatures({k: v.repeat(times, 1, 1) for k, v in self.features.items()})

    def detach(self) -> ReferenceFeatures:
        """Features cut from the autograd graph."""
        return ReferenceFeatures({k: v.detach() for k, v in self.features.items()})


def cfg_reference_mask(batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Mask for a ``[uncond; cond]`` batch of ``2*batch_size`` videos: ``False`` (no reference) then ``True``."""
    return torch.cat(
        [torch.zeros(batch_size, dtype=torch.bool), torch.ones(batch_size, dtype=torch.bool)]
    ).to(device)


def self_attention_paths(unet: nn.Module) -> list[str]:
    """Module paths of the ``attn1`` layer of every ``BasicTransformerBlock`` in ``unet``, in module order."""
    return [
        f"{name}.attn1" for name, module in unet.named_modules() if isinstance(module, BasicTransformerBlock)
    ]


class ReferenceWriteProcessor:
    """``attn1`` processor that records its input into ``store[name]`` and then attends normally."""

    def __init__(self, name: str, store: dict[str, torch.Tensor]) -> None:
        self.name = name
        self.store = store
        self.base = AttnProcessor2_0()

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.store[self.name] = hidden_states
        return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceReadProcessor:
    """``attn1`` processor attending over ``[own tokens, reference tokens]`` when the run state holds features.

    ``hidden_states``: ``[B*F, L, C]`` (frames of a video contiguous). Reference tokens ``[B or 1, Lr, C]``
    are repeated over the ``F`` frames. Videos whose ``reference_mask`` entry is ``False`` use plain
    self-attention.
    """

    def __init__(self, name: str, state: VideoRunState) -> None:
        self.name = name
        self.state = state
        self.base = AttnProcessor2_0()

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        reference = self.state.reference
        if reference is None or encoder_hidden_states is not None:
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if self.name not in reference.features:
            raise KeyError(
                f"reference features have no entry for {self.name!r}; they were recorded from a ReferenceNet "
                "with a different block layout than this UNet"
            )
        frames = self.state.num_frames
        videos = hidden_states.shape[0] // frames
        ref = reference.features[self.name].to(dtype=hidden_states.dtype, device=hidden_states.device)
        if ref.shape[0] == 1 and videos > 1:
            ref = ref.expand(videos, -1, -1)
        elif ref.shape[0] != videos:
            raise ValueError(
                f"reference features hold {ref.shape[0]} images but the UNet got {videos} videos; "
                "pass one reference per video or a single one (use ReferenceFeatures.repeat for CFG batches)"
            )
        if ref.shape[-1] != hidden_states.shape[-1]:
            raise ValueError(
                f"reference tokens at {self.name!r} have {ref.shape[-1]} channels, UNet tokens have "
                f"{hidden_states.shape[-1]}"
            )
        keys_values = torch.cat([hidden_states, ref.repeat_interleave(frames, dim=0)], dim=1)
        mask = self.state.reference_mask
        if mask is None or bool(mask.all()):
            return self.base(attn, hidden_states, keys_values, attention_mask, temb)
        rows = mask.to(hidden_states.device).repeat_interleave(frames)
        with_ref = rows.nonzero(as_tuple=True)[0]
        without_ref = (~rows).nonzero(as_tuple=True)[0]
        parts = [self.base(attn, hidden_states[without_ref], None, attention_mask, temb)]
        if with_ref.numel():
            parts.append(
                self.base(attn, hidden_states[with_ref], keys_values[with_ref], attention_mask, temb)
            )
        order = torch.cat([without_ref, with_ref])
        stacked = torch.cat(parts, dim=0)
        return torch.empty_like(stacked).index_copy(0, order, stacked)


def install_reference_readers(unet: nn.Module, state: VideoRunState) -> int:
    """Put a :class:`ReferenceReadProcessor` on every ``attn1`` of ``unet``; returns how many."""
    paths = self_attention_paths(unet)
    for path in paths:
        unet.get_submodule(path).set_processor(ReferenceReadProcessor(path, state))
    return len(paths)


class ReferenceNet(UNet2DConditionModel):
    """SD1.5 UNet used as an image feature writer; it has no ``conv_norm_out`` / ``conv_out``.

    Its state dict is the SD1.5 UNet's minus those four tensors (682 keys at full size), as in the released
    ``reference_unet.pth`` files.
    """

    def __init__(self, **unet_config) -> None:
        super().__init__(**unet_config)
        self.conv_norm_out = None
        self.conv_act = None
        self.conv_out = nn.Identity()
        self._recorded: dict[str, torch.Tensor] = {}
        for path in self_attention_paths(self):
            self.get_submodule(path).set_processor(ReferenceWriteProcessor(path, self._recorded))

    def encode(
        self,
        latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: float | torch.Tensor = 0,
    ) -> ReferenceFeatures:
        """Record the reference features of ``latents``.

        ``latents``: ``[B, 4, h, w]`` VAE latents of the reference image (already scaled by 0.18215);
        ``encoder_hidden_states``: ``[B, L, D]`` CLIP context (``[B, 1, 768]`` for sd-image-variations).
        Returns one ``[B, h_i*w_i, C_i]`` tensor per self-attention layer.
        """
        if latents.ndim != 4:
            raise ValueError(
                f"ReferenceNet.encode expects latents [B, C, h, w], got shape {tuple(latents.shape)}"
            )
        if encoder_hidden_states.shape[0] != latents.shape[0]:
            raise ValueError(
                f"encoder_hidden_states batch {encoder_hidden_states.shape[0]} != latents batch {latents.shape[0]}"
            )
        self._recorded.clear()
        t = torch.as_tensor(timestep, device=latents.device)
        super().forward(latents, t, encoder_hidden_states, return_dict=False)
        features = ReferenceFeatures(dict(self._recorded))
        self._recorded.clear()
        return features

    def load_state_dict(
        self, state_dict: Mapping[str, torch.Tensor], strict: bool = True, assign: bool = False
    ):
        """Load weights, ignoring the SD1.5 output head (``conv_norm_out.*``, ``conv_out.*``) if present."""
        state_dict = {
            k: v for k, v in state_dict.items() if not k.startswith(("conv_norm_out.", "conv_out."))
        }
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
