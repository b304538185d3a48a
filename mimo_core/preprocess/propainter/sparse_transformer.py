"""Temporal sparse window transformer of ProPainter (soft split / composition,
sparse window attention with rolled and pooled tokens, fusion feed-forward).

Token grids are [B,T,Hn,Wn,C]. Key names follow the published checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

Pair = tuple[int, int]


def _n_tokens(size: int, k: int, s: int, p: int) -> int:
    return int((size + 2 * p - (k - 1) - 1) / s + 1)


class SoftSplit(nn.Module):
    """Overlapping patches of [N,C,H,W] -> tokens [B,T,Hn,Wn,hidden]."""

    def __init__(self, channel: int, hidden: int, kernel_size: Pair, stride: Pair, padding: Pair) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.t2t = nn.Unfold(kernel_size=kernel_size, stride=stride, padding=padding)
        self.embedding = nn.Linear(kernel_size[0] * kernel_size[1] * channel, hidden)

    def forward(self, x: torch.Tensor, b: int, output_size: Pair) -> torch.Tensor:
        f_h = _n_tokens(output_size[0], self.kernel_size[0], self.stride[0], self.padding[0])
        f_w = _n_tokens(output_size[1], self.kernel_size[1], self.stride[1], self.padding[1])
        feat = self.embedding(self.t2t(x).permute(0, 2, 1))
        return feat.view(b, -1, f_h, f_w, feat.size(2))


class SoftComp(nn.Module):
    """Tokens [B,T,Hn,Wn,hidden] -> folded features [B*T,C,H,W] (+3x3 conv)."""

    def __init__(self, channel: int, hidden: int, kernel_size: Pair, stride: Pair, padding: Pair) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.embedding = nn.Linear(hidden, kernel_size[0] * kernel_size[1] * channel)
        self.bias_conv = nn.Conv2d(channel, channel, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor, t: int, output_size: Pair) -> torch.Tensor:
        b_, _, _, _, c_ = x.shape
        feat = self.embedding(x.reshape(b_, -1, c_))
        b, _, c = feat.shape
        feat = feat.view(b * t, -1, c).permute(0, 2, 1)
        feat = F.fold(feat, output_size=output_size, kernel_size=self.kernel_size, stride=self.stride,
                      padding=self.padding)
        return self.bias_conv(feat)


class FusionFeedForward(nn.Module):
    """MLP whose hidden activations are folded/unfolded to mix overlapping patches."""

    def __init__(self, dim: int, hidden_dim: int, t2t_params: dict) -> None:
        super().__init__()
        self.fc1 = nn.Sequential(nn.Linear(dim, hidden_dim))
        self.fc2 = nn.Sequential(nn.GELU(), nn.Linear(hidden_dim, dim))
        self.t2t_params = t2t_params
        self.kernel_shape = t2t_params["kernel_size"][0] * t2t_params["kernel_size"][1]
        if hidden_dim % self.kernel_shape:
            raise ValueError(f"ffn hidden_dim={hidden_dim} must be a multiple of {self.kernel_shape}")

    def forward(self, x: torch.Tensor, output_size: Pair) -> torch.Tensor:
        """x [B,N,dim] -> [B,N,dim]."""
        p = self.t2t_params
        n_vecs = 1
        for i, k in enumerate(p["kernel_size"]):
            n_vecs *= _n_tokens(output_size[i], k, p["stride"][i], p["padding"][i])
        x = self.fc1(x)
        b, n, c = x.shape
        fold = dict(output_size=output_size, kernel_size=p["kernel_size"], padding=p["padding"], stride=p["stride"])
        normalizer = x.new_ones(b, n, self.kernel_shape).view(-1, n_vecs, self.kernel_shape).permute(0, 2, 1)
        normalizer = F.fold(normalizer, **fold)
        x = F.fold(x.view(-1, n_vecs, c).permute(0, 2, 1), **fold)
        x = F.unfold(x / normalizer, kernel_size=p["kernel_size"], padding=p["padding"], stride=p["stride"])
        return self.fc2(x.permute(0, 2, 1).contiguous().view(b, n, c))


def window_partition(x: torch.Tensor, window_size: Pair, n_head: int) -> torch.Tensor:
    """[B,T,H,W,C] -> [B,nH,nW,heads,T,wh,ww,C/heads]."""
    b, t, h, w, c = x.shape
    x = x.view(b, t, h // window_size[0], window_size[0], w // window_size[1], window_size[1], n_head, c // n_head)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).contiguous()


def _rolled_valid_index(window_size: Pair, expand_size: Pair) -> torch.Tensor:
    """Indices of the rolled key tokens that lie outside the window itself."""
    wh, ww = window_size
    eh, ew = expand_size
    masks = [torch.ones(wh, ww, device="cpu") for _ in range(4)]
    masks[0][:-eh, :-ew] = 0
    masks[1][:-eh, ew:] = 0
    masks[2][eh:, :-ew] = 0
    masks[3][eh:, ew:] = 0
    return torch.stack(masks, 0).flatten(0).nonzero(as_tuple=False).view(-1)


class SparseWindowAttention(nn.Module):
    """Window attention; windows touching the hole attend to rolled + pooled tokens over time."""

    def __init__(self, dim: int, n_head: int, window_size: Pair, pool_size: Pair = (4, 4)) -> None:
        super().__init__()
        if dim % n_head:
            raise ValueError(f"dim={dim} not divisible by n_head={n_head}")
        self.key = nn.Linear(dim, dim)
        self.query = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.n_head = n_head
        self.window_size = window_size
        self.pool_layer = nn.Conv2d(dim, dim, kernel_size=pool_size, stride=pool_size, padding=(0, 0), groups=dim)
        with torch.no_grad():
            self.pool_layer.weight.fill_(1.0 / (pool_size[0] * pool_size[1]))
            self.pool_layer.bias.fill_(0)
        self.expand_size = ((window_size[0] + 1) // 2, (window_size[1] + 1) // 2)
        self.register_buffer("valid_ind_rolled", _rolled_valid_index(window_size, self.expand_size))
        self.max_pool = nn.MaxPool2d(window_size, window_size, (0, 0))

    def _windows(self, a: torch.Tensor, b: int, n_win: int, t: int, c_head: int) -> torch.Tensor:
        wh, ww = self.window_size
        return window_partition(a, self.window_size, self.n_head).view(b, n_win, self.n_head, t, wh * ww, c_head)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, t_ind: torch.Tensor | None = None) -> torch.Tensor:
        """x [B,T,H,W,C], mask [B,Tl,H,W,1] (local frames) -> [B,T,H,W,C]."""
        b, t, h, w, c = x.shape
        wh, ww = self.window_size
        c_head = c // self.n_head
        n_wh, n_ww = math.ceil(h / wh), math.ceil(w / ww)
        new_h, new_w = n_wh * wh, n_ww * ww
        pad_r, pad_b = new_w - w, new_h - h
        if pad_r > 0 or pad_b > 0:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b, 0, 0))
            mask = F.pad(mask, (0, 0, 0, pad_r, 0, pad_b, 0, 0))
        n_win = n_wh * n_ww
        q, k, v = self.query(x), self.key(x), self.value(x)
        win_q = self._windows(q.contiguous(), b, n_win, t, c_head)
        win_k = self._windows(k.contiguous(), b, n_win, t, c_head)
        win_v = self._windows(v.contiguous(), b, n_win, t, c_head)

        eh, ew = self.expand_size
        shifts = ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))
        roll_k = torch.cat([self._windows(torch.roll(k, s, dims=(2, 3)), b, n_win, t, c_head) for s in shifts], 4)
        roll_v = torch.cat([self._windows(torch.roll(v, s, dims=(2, 3)), b, n_win, t, c_head) for s in shifts], 4)
        roll_k = roll_k[:, :, :, :, self.valid_ind_rolled]
        roll_v = roll_v[:, :, :, :, self.valid_ind_rolled]
        win_k = torch.cat((win_k, roll_k), dim=4)
        win_v = torch.cat((win_v, roll_v), dim=4)

        pool_x = self.pool_layer(x.view(b * t, new_h, new_w, c).permute(0, 3, 1, 2))
        _, _, p_h, p_w = pool_x.shape
        pool_x = pool_x.permute(0, 2, 3, 1).view(b, t, p_h, p_w, c)

        def pooled(proj: nn.Linear) -> torch.Tensor:
            pk = proj(pool_x).unsqueeze(1).repeat(1, n_win, 1, 1, 1, 1)
            pk = pk.view(b, n_win, t, p_h, p_w, self.n_head, c_head).permute(0, 1, 5, 2, 3, 4, 6)
            return pk.contiguous().view(b, n_win, self.n_head, t, p_h * p_w, c_head)

        win_k = torch.cat((win_k, pooled(self.key)), dim=4)
        win_v = torch.cat((win_v, pooled(self.value)), dim=4)

        out = torch.zeros_like(win_q)
        l_t = mask.size(1)
        wmask = self.max_pool(mask.reshape(b * l_t, new_h, new_w)).view(b, l_t, n_win).sum(dim=1)
        scale = 1.0 / math.sqrt(c_head)
        for i in range(b):
            hole_ind = wmask[i].nonzero(as_tuple=False).view(-1)
            n_m = len(hole_ind)
            if n_m > 0:
                q_t = win_q[i, hole_ind].view(n_m, self.n_head, t * wh * ww, c_head)
                k_t, v_t = win_k[i, hole_ind], win_v[i, hole_ind]
                if t_ind is not None:
                    k_t = k_t[:, :, t_ind.view(-1)].view(n_m, self.n_head, -1, c_head)
                    v_t = v_t[:, :, t_ind.view(-1)].view(n_m, self.n_head, -1, c_head)
                else:
                    k_t = k_t.reshape(n_m, self.n_head, -1, c_head)
                    v_t = v_t.reshape(n_m, self.n_head, -1, c_head)
                att = F.softmax((q_t @ k_t.transpose(-2, -1)) * scale, dim=-1)
                out[i, hole_ind] = (att @ v_t).view(-1, self.n_head, t, wh * ww, c_head)
            free_ind = (wmask[i] == 0).nonzero(as_tuple=False).view(-1)
            q_s = win_q[i, free_ind]
            k_s = win_k[i, free_ind, :, :, : wh * ww]
            v_s = win_v[i, free_ind, :, :, : wh * ww]
            att = F.softmax((q_s @ k_s.transpose(-2, -1)) * scale, dim=-1)
            out[i, free_ind] = att @ v_s

        out = out.view(b, n_wh, n_ww, self.n_head, t, wh, ww, c_head)
        out = out.permute(0, 4, 1, 5, 2, 6, 3, 7).contiguous().view(b, t, new_h, new_w, c)
        if pad_r > 0 or pad_b > 0:
            out = out[:, :, :h, :w, :]
        return self.proj(out)


class TemporalSparseTransformer(nn.Module):
    """Pre-norm block: sparse window attention + fusion feed-forward."""

    def __init__(self, dim: int, n_head: int, window_size: Pair, pool_size: Pair, ffn_hidden: int,
                 t2t_params: dict) -> None:
        super().__init__()
        self.attention = SparseWindowAttention(dim, n_head, window_size, pool_size)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, ffn_hidden, t2t_params)

    def forward(self, x: torch.Tensor, fold_size: Pair, mask: torch.Tensor,
                t_ind: torch.Tensor | None = None) -> torch.Tensor:
        b, t, h, w, c = x.shape
        x = x + self.attention(self.norm1(x), mask, t_ind)
        y = self.norm2(x)
        return x + self.mlp(y.view(b, t * h * w, c), fold_size).view(b, t, h, w, c)


class TemporalSparseTransformerBlock(nn.Module):
    """``depths`` blocks; hole windows see every ``t_dilation``-th frame, alternating offsets."""

    def __init__(self, dim: int, n_head: int, window_size: Pair, pool_size: Pair, depths: int, ffn_hidden: int,
                 t2t_params: dict) -> None:
        super().__init__()
        self.transformer = nn.Sequential(
            *[TemporalSparseTransformer(dim, n_head, window_size, pool_size, ffn_hidden, t2t_params)
              for _ in range(depths)]
        )
        self.depths = depths

    def forward(self, x: torch.Tensor, fold_size: Pair, l_mask: torch.Tensor, t_dilation: int = 2) -> torch.Tensor:
        if self.depths % t_dilation:
            raise ValueError(f"depths={self.depths} must be a multiple of t_dilation={t_dilation}")
        t = x.size(1)
        t_inds = [torch.arange(i, t, t_dilation) for i in range(t_dilation)] * (self.depths // t_dilation)
        for i in range(self.depths):
            x = self.transformer[i](x, fold_size, l_mask, t_inds[i].to(x.device))
        return x
