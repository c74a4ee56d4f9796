"""A PyTorch mirror of our DMFormer (src/models/dmformer/*.ts), for benchmarks and checks.

It is not the reference implementation: it re-states, in plain PyTorch, what our TypeScript
modules compute, with the same module and parameter names as our state dict, so one
safetensors file of our weights loads here with `load_state_dict(strict=True)` and both
sides compute the same function (tools/check_torch_mirror.ts measures how close).

What it mirrors, file by file: swin*.ts (GLIP Swin, stage-1 output not normalised),
bert*.ts (post-LN BERT, the clamped interaction layer), dmmi_branch.ts / fusion.ts (word
gating, deformable encoder, BERT per round), msda.ts (multi-scale deformable attention
through the grid_sample formulation of the reference's CPU path), decoder.ts /
deformable.ts (decoder with box refinement), fpn.ts / vl_block.ts (cross-modal FPN),
mask_head.ts (dynamic convs with relative coordinates), position_encoding.ts,
subject.ts, criterion.ts / matcher.ts / losses.ts / box_ops.ts.

Two behaviours of the reference that our model reproduces on purpose are kept here too:
integer text masks are ADDED to attention logits (not used to block keys) and go through a
bitwise NOT in the 1-D sine code (design doc gotcha 16.1).
"""

import copy
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- configuration (config.ts) ------------------------------------------------------------

SWIN_T = dict(
    hiddenDim=256, numQueries=5, numFrames=5, decLayers=4, dimFeedforward=2048, nheads=8,
    dropout=0.1, numFeatureLevels=4, decNPoints=4, encNPoints=4, numClasses=1,
    withBoxRefine=True, auxLoss=True, maskDim=256, dynamicMaskChannels=8, controllerLayers=3,
    relCoord=True, maskFeatStride=4, maskOutStride=4,
    swin=dict(patchSize=4, embedDim=96, depths=[2, 2, 6, 2], numHeads=[3, 6, 12, 24],
              windowSize=7, mlpRatio=4, dropPathRate=0.2),
    text=dict(vocabSize=30522, hiddenSize=768, numHiddenLayers=12, numAttentionHeads=12,
              intermediateSize=3072, maxPositionEmbeddings=512, typeVocabSize=2,
              layerNormEps=1e-12, hiddenDropout=0.1, attentionDropout=0.1, maxLength=256),
    numInteractions=2, dmmiHeads=8, interactionIntermediate=3072, fpnHeads=8, fpnGroups=8,
    fpnRatios=[8, 4, 2, 1], inputProjGroups=32, useRmhca=False, freezeBackbone=True,
    freezeTextEncoder=True,
)


def _merged(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in out:
            raise KeyError(f"config: unknown key {k!r}")
        out[k] = _merged(out[k], v) if isinstance(v, dict) else copy.deepcopy(v)
    return out


TINY = _merged(SWIN_T, dict(
    hiddenDim=64, numFrames=2, decLayers=2, dimFeedforward=64, maskDim=32,
    swin=dict(embedDim=8, depths=[2, 2, 2, 2], numHeads=[1, 2, 4, 8], dropPathRate=0),
    text=dict(vocabSize=100, hiddenSize=64, numHiddenLayers=2, numAttentionHeads=4,
              intermediateSize=128, maxPositionEmbeddings=64),
    interactionIntermediate=128, freezeBackbone=False, freezeTextEncoder=False,
))

NAMED_CONFIGS = {"swin-t": SWIN_T, "tiny": TINY}


def resolve_config(spec):
    """A name ("swin-t", "tiny") or a dict with an optional "base" name and overrides."""
    if isinstance(spec, str):
        return copy.deepcopy(NAMED_CONFIGS[spec])
    spec = dict(spec)
    return _merged(resolve_config(spec.pop("base", "swin-t")), spec)


# ---- small shared pieces -------------------------------------------------------------------

CLAMP_LIMIT = 50000.0


def clamp_if(x, on):
    return x.clamp(-CLAMP_LIMIT, CLAMP_LIMIT) if on else x


def with_pos(x, pos):
    return x if pos is None else x + pos


class MLP(nn.Module):
    """Linear layers with ReLU between (keys layers.{i}.weight / bias)."""

    def __init__(self, d_in, d_hidden, d_out, n):
        super().__init__()
        dims = [d_in] + [d_hidden] * (n - 1) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(n))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class MultiheadAttention(nn.Module):
    """nn.MultiheadAttention's parameters (packed in_proj, out_proj), sequence-first.

    Written out rather than calling nn.MultiheadAttention because our model ADDS a numeric
    key padding mask to the logits (the PyTorch 1.10-1.12 behaviour the reference ran on);
    a bool mask blocks keys as usual.
    """

    def __init__(self, d, heads, dropout=0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None):
        L, N, E = query.shape
        S, H = key.shape[0], self.heads
        D = E // H
        w, b = self.in_proj_weight, self.in_proj_bias
        q = F.linear(query, w[:E], b[:E]) * (1.0 / math.sqrt(D))
        k = F.linear(key, w[E:2 * E], b[E:2 * E])
        v = F.linear(value, w[2 * E:], b[2 * E:])
        q = q.reshape(L, N * H, D).transpose(0, 1)
        k = k.reshape(S, N * H, D).transpose(0, 1)
        v = v.reshape(S, N * H, D).transpose(0, 1)
        logits = torch.bmm(q, k.transpose(1, 2))
        if key_padding_mask is not None:
            m = key_padding_mask.reshape(N, 1, 1, S)
            logits = logits.view(N, H, L, S)
            logits = logits.masked_fill(m, float("-inf")) if m.dtype == torch.bool \
                else logits + m.to(logits.dtype)
            logits = logits.reshape(N * H, L, S)
        attn = F.dropout(logits.softmax(-1), self.dropout, self.training)
        ctx = torch.bmm(attn, v).transpose(0, 1).reshape(L, N, E)
        return self.out_proj(ctx)


class FeatureResizer(nn.Module):
    def __init__(self, d_in, d_out, dropout):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.layer_norm = nn.LayerNorm(d_out, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.layer_norm(self.fc(x)))


# ---- position codes (position_encoding.ts, fpn.ts textPositionCode) -----------------------

def _interleave(pos, dim_t):
    """Channel k: sin (even k) / cos (odd k) of pos / dim_t[k]."""
    x = pos[..., None] / dim_t
    return torch.stack([x[..., 0::2].sin(), x[..., 1::2].cos()], -1).flatten(-2)


def _dim_t(n, temperature=10000):
    k = torch.arange(n, dtype=torch.float32)
    return temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / n)


def sine_1d(mask, n_feats):
    """Text code [B, n_feats, L] from an integer valid-mask (1 = token) or a bool pad mask.

    Integer masks go through a bitwise NOT (~1 = -2, ~0 = -1) before the cumulative sum,
    as in the reference.
    """
    c = (~mask).float().cumsum(1)
    e = c / (c[:, -1:] + 1e-6) * (2 * math.pi)
    return _interleave(e, _dim_t(n_feats)).permute(0, 2, 1)


def sine_2d(mask, n_feats):
    """2-D code [B, 2 n_feats, H, W] (y channels, then x) from a bool pad mask [B, H, W]."""
    valid = (~mask).float()
    y = valid.cumsum(1)
    x = valid.cumsum(2)
    scale = 2 * math.pi
    y = (y - 0.5) / (y[:, -1:, :] + 1e-6) * scale
    x = (x - 0.5) / (x[:, :, -1:] + 1e-6) * scale
    dim_t = _dim_t(n_feats)
    return torch.cat([_interleave(y, dim_t), _interleave(x, dim_t)], -1).permute(0, 3, 1, 2)


# ---- Swin (swin.ts, swin_block.ts, swin_attention.ts, swin_window.ts) ----------------------

def relative_position_index(ws):
    """Bias-table row of every (query, key) pair of a ws x ws window, [N, N]."""
    ys, xs = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + ws - 1
    dx = xs[:, None] - xs[None, :] + ws - 1
    return dy * (2 * ws - 1) + dx


def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, C)


def window_reverse(windows, ws, H, W):
    C = windows.shape[-1]
    x = windows.view(-1, H // ws, W // ws, ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, H, W, C)


def shift_attn_mask(hp, wp, ws, s):
    """[nW, 1, N, N] additive mask of shifted windows: 0 within a region, -100 across."""
    def band(n):
        v = torch.arange(n)
        return (v >= n - ws).long() + (v >= n - s).long()
    labels = band(hp)[:, None] * 3 + band(wp)[None, :]
    win = window_partition(labels[None, :, :, None].float(), ws).squeeze(-1)
    diff = win[:, :, None] - win[:, None, :]
    return torch.where(diff == 0, 0.0, -100.0)[:, None]


class WindowAttention(nn.Module):
    def __init__(self, dim, ws, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.randn((2 * ws - 1) ** 2, heads) * 0.02)
        # derived table, not part of our state dict
        self.register_buffer("relative_position_index", relative_position_index(ws).flatten(),
                             persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        B_, N, C = x.shape
        H = self.heads
        qkv = self.qkv(x).reshape(B_, N, 3, H, C // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        bias = self.relative_position_bias_table[self.relative_position_index] \
            .view(N, N, H).permute(2, 0, 1)
        attn = q @ k.transpose(-2, -1) + bias
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(B_ // nw, nw, H, N, N) + mask).view(B_, H, N, N)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(B_, N, C)
        return self.proj(x)


def drop_path(x, p, training):
    if not training or p == 0:
        return x
    keep = 1 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x / keep * mask


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim, heads, ws, shift, mlp_ratio, dpr):
        super().__init__()
        self.ws, self.shift, self.dpr = ws, shift, dpr
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, H, W, mask):
        B, _, C = x.shape
        ws, s = self.ws, self.shift
        hp, wp = -(-H // ws) * ws, -(-W // ws) * ws
        # padding after the norm: padded tokens are zeros that attend unmasked
        y = F.pad(self.norm1(x).view(B, H, W, C), (0, 0, 0, wp - W, 0, hp - H))
        if s > 0:
            y = torch.roll(y, (-s, -s), (1, 2))
        y = window_reverse(self.attn(window_partition(y, ws), mask if s > 0 else None),
                           ws, hp, wp)
        if s > 0:
            y = torch.roll(y, (s, s), (1, 2))
        y = y[:, :H, :W].reshape(B, H * W, C)
        x = x + drop_path(y, self.dpr, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.dpr, self.training)


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x, H, W):
        B, _, C = x.shape
        x = F.pad(x.view(B, H, W, C), (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      -1)
        h2, w2 = x.shape[1], x.shape[2]
        return self.reduction(self.norm(x.reshape(B, h2 * w2, 4 * C))), h2, w2


class BasicLayer(nn.Module):
    def __init__(self, dim, depth, heads, ws, mlp_ratio, dprs, downsample):
        super().__init__()
        self.ws = ws
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, heads, ws, 0 if i % 2 == 0 else ws // 2, mlp_ratio, dprs[i])
            for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None
        self._masks = {}

    def _mask(self, H, W, x):
        ws = self.ws
        hp, wp = -(-H // ws) * ws, -(-W // ws) * ws
        key = (hp, wp, x.dtype)
        if key not in self._masks:
            self._masks[key] = shift_attn_mask(hp, wp, ws, ws // 2).to(x.dtype)
        return self._masks[key]

    def forward(self, x, H, W):
        mask = self._mask(H, W, x) if len(self.blocks) > 1 else None
        for blk in self.blocks:
            x = blk(x, H, W, mask)
        nxt = self.downsample(x, H, W) if self.downsample is not None else None
        return x, nxt


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_chans, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        p = self.patch
        h, w = x.shape[-2:]
        x = self.proj(F.pad(x, (0, (-w) % p, 0, (-h) % p)))
        _, _, H, W = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class SwinTransformer(nn.Module):
    """GLIP Swin ("SWINT-FPN-RETINANET"): all stages returned, stage 1 not normalised."""

    def __init__(self, patch=4, embed_dim=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24),
                 window=7, mlp_ratio=4, drop_path_rate=0.2, in_chans=3):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, in_chans, embed_dim)
        total = sum(depths)
        rates = [drop_path_rate * k / (total - 1) if total > 1 else 0.0 for k in range(total)]
        layers, first = [], 0
        for s, depth in enumerate(depths):
            layers.append(BasicLayer(embed_dim * 2 ** s, depth, heads[s], window, mlp_ratio,
                                     rates[first:first + depth], s < len(depths) - 1))
            first += depth
        self.layers = nn.ModuleList(layers)
        self.n_stages = len(depths)
        for s in range(1, len(depths)):
            setattr(self, f"norm{s}", nn.LayerNorm(embed_dim * 2 ** s))

    @classmethod
    def from_config(cls, sw):
        return cls(sw["patchSize"], sw["embedDim"], sw["depths"], sw["numHeads"],
                   sw["windowSize"], sw["mlpRatio"], sw["dropPathRate"])

    def forward(self, images):
        x, H, W = self.patch_embed(images)
        outs = []
        for s, layer in enumerate(self.layers):
            out, nxt = layer(x, H, W)
            if s > 0:
                out = getattr(self, f"norm{s}")(out)
            B, _, C = out.shape
            outs.append(out.view(B, H, W, C).permute(0, 3, 1, 2))
            if nxt is not None:
                x, H, W = nxt
        return outs


# ---- BERT (bert.ts, bert_layer.ts) ---------------------------------------------------------

def extended_mask(mask):
    """(1 - m) * -10000 as [B, 1, 1, L] from a 1 = attend mask."""
    return ((1.0 - mask.float()) * -10000.0)[:, None, None, :]


class BertEmbeddings(nn.Module):
    def __init__(self, t):
        super().__init__()
        h = t["hiddenSize"]
        self.word_embeddings = nn.Embedding(t["vocabSize"], h)
        self.position_embeddings = nn.Embedding(t["maxPositionEmbeddings"], h)
        self.token_type_embeddings = nn.Embedding(t["typeVocabSize"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=t["layerNormEps"])
        self.p = t["hiddenDropout"]

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])
        e = self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids)) \
            + self.position_embeddings(pos)
        return F.dropout(self.LayerNorm(e), self.p, self.training)


class BertSelfAttention(nn.Module):
    def __init__(self, t, clamp=False):
        super().__init__()
        h = t["hiddenSize"]
        self.heads, self.p, self.clamp = t["numAttentionHeads"], t["attentionDropout"], clamp
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def forward(self, x, ext):
        B, L, Hd = x.shape
        nh = self.heads
        d = Hd // nh

        def heads(t):
            return t.view(B, L, nh, d).permute(0, 2, 1, 3)
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = clamp_if(q @ k.transpose(-1, -2) / math.sqrt(d), self.clamp)
        if ext is not None:
            scores = scores + ext
        probs = F.dropout(scores.softmax(-1), self.p, self.training)
        return (probs @ v).permute(0, 2, 1, 3).reshape(B, L, Hd)


class BertResidualOutput(nn.Module):
    def __init__(self, t, d_in, clamp=False):
        super().__init__()
        self.dense = nn.Linear(d_in, t["hiddenSize"])
        self.LayerNorm = nn.LayerNorm(t["hiddenSize"], eps=t["layerNormEps"])
        self.p, self.clamp = t["hiddenDropout"], clamp

    def forward(self, x, residual):
        y = F.dropout(self.dense(x), self.p, self.training)
        return clamp_if(self.LayerNorm(clamp_if(y, self.clamp) + residual), self.clamp)


class BertAttention(nn.Module):
    def __init__(self, t, clamp=False):
        super().__init__()
        self.self = BertSelfAttention(t, clamp)
        self.output = BertResidualOutput(t, t["hiddenSize"])  # never clamped

    def forward(self, x, ext):
        return self.output(self.self(x, ext), x)


class BertIntermediate(nn.Module):
    def __init__(self, t, clamp=False):
        super().__init__()
        self.dense = nn.Linear(t["hiddenSize"], t["intermediateSize"])
        self.clamp = clamp

    def forward(self, x):
        return clamp_if(F.gelu(clamp_if(self.dense(x), self.clamp)), self.clamp)


class BertLayer(nn.Module):
    """Post-LN layer; clamp=True is DMMI's GLIP interaction layer (BertEncoderLayer)."""

    def __init__(self, t, clamp=False):
        super().__init__()
        self.attention = BertAttention(t, clamp)
        self.intermediate = BertIntermediate(t, clamp)
        self.output = BertResidualOutput(t, t["intermediateSize"], clamp)

    def forward(self, x, ext):
        a = self.attention(x, ext)
        return self.output(self.intermediate(a), a)


class BertEncoderLayer(BertLayer):
    """The interaction layer: takes the 1 = token mask itself."""

    def __init__(self, t):
        super().__init__(t, clamp=True)

    def forward(self, x, mask):
        return super().forward(x, extended_mask(mask))


class BertLayerStack(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(t) for _ in range(t["numHiddenLayers"]))


class BertModel(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.embeddings = BertEmbeddings(t)
        self.encoder = BertLayerStack(t)

    def forward(self, ids, mask):
        h = self.embeddings(ids)
        ext = extended_mask(mask)
        for layer in self.encoder.layer:
            h = layer(h, ext)
        return h


class BertTextEncoder(nn.Module):
    """Last layer zeroed at padding, and the masked mean ([CLS], [SEP] included)."""

    def __init__(self, t):
        super().__init__()
        self.model = BertModel(t)

    def forward(self, ids, mask):
        m = mask.float()
        embedded = self.model(ids, mask) * m[..., None]
        return embedded, embedded.sum(1) / m.sum(-1, keepdim=True)


def interaction_config(c):
    """bert-base-uncased with the interaction width, heads and dropout (bert_layer.ts)."""
    p = c["text"]["hiddenDropout"]
    return dict(hiddenSize=c["hiddenDim"], numAttentionHeads=c["dmmiHeads"],
                intermediateSize=c["interactionIntermediate"], layerNormEps=1e-12,
                hiddenDropout=p, attentionDropout=p)


# ---- multi-scale deformable attention (msda.ts, deformable.ts) -----------------------------

def ms_deform_attn_core_pytorch(value, spatial_shapes, sampling_locations, attention_weights):
    """Bilinear sampling of every level with grid_sample (zero padding, align_corners False),
    weighted sum over levels and points: the formulation of the reference's CPU path.
    value [N, S, M, D]; locations [N, Lq, M, L, P, 2] in [0, 1]; weights [N, Lq, M, L, P].
    """
    N, _, M, D = value.shape
    _, Lq, _, L, P, _ = sampling_locations.shape
    values = value.split([h * w for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        v = values[lvl].flatten(2).transpose(1, 2).reshape(N * M, D, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # [N*M, Lq, P, 2]
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros",
                                     align_corners=False))
    weights = attention_weights.transpose(1, 2).reshape(N * M, 1, Lq, L * P)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1).view(N, M * D, Lq)
    return out.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    def __init__(self, d_model, n_levels, n_heads, n_points):
        super().__init__()
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        # the reference initialisation: directional offsets, zero attention logits
        nn.init.zeros_(self.sampling_offsets.weight)
        theta = torch.arange(n_heads, dtype=torch.float32) * (2.0 * math.pi / n_heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(n_heads, 1, 1, 2) \
            .repeat(1, n_levels, n_points, 1)
        grid *= torch.arange(1, n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(self, query, ref, src, shapes, padding_mask=None):
        N, Lq, C = query.shape
        S = src.shape[1]
        M, L, P = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(src)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(N, S, M, C // M)
        offsets = self.sampling_offsets(query).view(N, Lq, M, L, P, 2)
        weights = self.attention_weights(query).view(N, Lq, M, L * P).softmax(-1) \
            .view(N, Lq, M, L, P)
        if ref.shape[-1] == 2:
            norm = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype)
            loc = ref[:, :, None, :, None, :] + offsets / norm[None, None, None, :, None, :]
        else:
            loc = ref[:, :, None, :, None, :2] \
                + offsets / P * ref[:, :, None, :, None, 2:] * 0.5
        return self.output_proj(ms_deform_attn_core_pytorch(value, shapes, loc, weights))


class DeformableTransformerEncoderLayer(nn.Module):
    def __init__(self, d, d_ffn, dropout, n_levels, n_heads, n_points):
        super().__init__()
        self.self_attn = MSDeformAttn(d, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, src, pos, ref, shapes, padding_mask):
        attn = self.self_attn(with_pos(src, pos), ref, src, shapes, padding_mask)
        x = self.norm1(src + self.dropout1(attn))
        hidden = self.dropout2(F.relu(self.linear1(x)))
        return self.norm2(x + self.dropout3(self.linear2(hidden)))


class DeformableTransformerDecoderLayer(nn.Module):
    """Post-norm; norm2 after self-attention, norm1 after cross-attention (reference names)."""

    def __init__(self, d, d_ffn, dropout, n_levels, n_heads, n_points):
        super().__init__()
        self.cross_attn = MSDeformAttn(d, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d)
        self.self_attn = MultiheadAttention(d, n_heads, dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, d_ffn)
        self.dropout3 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d)
        self.dropout4 = nn.Dropout(dropout)
        self.norm3 = nn.LayerNorm(d)

    def forward(self, tgt, query_pos, ref, src, shapes, src_mask):
        q = with_pos(tgt, query_pos).transpose(0, 1)
        x = self.norm2(tgt + self.dropout2(self.self_attn(q, q, tgt.transpose(0, 1))
                                           .transpose(0, 1)))
        cross = self.cross_attn(with_pos(x, query_pos), ref, src, shapes, src_mask)
        x = self.norm1(x + self.dropout1(cross))
        hidden = self.dropout3(F.relu(self.linear1(x)))
        return self.norm3(x + self.dropout4(self.linear2(hidden)))


def inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class DeformableDecoder(nn.Module):
    def __init__(self, n, make):
        super().__init__()
        self.layers = nn.ModuleList(make() for _ in range(n))


class DeformableTransformer(nn.Module):
    """No encoder; reference_points and a decoder with iterative box refinement."""

    def __init__(self, d, n, make):
        super().__init__()
        self.decoder = DeformableDecoder(n, make)
        self.reference_points = nn.Linear(d, 2)

    def forward(self, tgt, query_pos, memory, shapes, memory_mask, valid_ratios, bbox_embed):
        refs = self.reference_points(query_pos).sigmoid()
        hs, boxes, out_refs = [], [], []
        x = tgt
        for k, layer in enumerate(self.decoder.layers):
            ratios = valid_ratios if refs.shape[-1] == 2 else torch.cat([valid_ratios] * 2, -1)
            scaled = refs[:, :, None] * ratios[:, None]
            x = layer(x, query_pos, scaled, memory, shapes, memory_mask)
            logit = inverse_sigmoid(refs)
            if refs.shape[-1] == 2:
                logit = F.pad(logit, (0, 2))
            box = (bbox_embed[k](x) + logit).sigmoid()
            hs.append(x)
            boxes.append(box)
            refs = box.detach()
            out_refs.append(refs)
        return hs, boxes, out_refs


def valid_ratios_of(mask):
    """[N, 2] = (valid columns of row 0 / W, valid rows of column 0 / H)."""
    _, H, W = mask.shape
    rows = (~mask[:, :, 0]).float().sum(1)
    cols = (~mask[:, 0, :]).float().sum(1)
    return torch.stack([cols / W, rows / H], -1)


def encoder_reference_points(shapes, valid_ratios):
    refs = []
    for lvl, (h, w) in enumerate(shapes):
        ry, rx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5,
                                torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
        ry = ry.reshape(1, -1) / (valid_ratios[:, None, lvl, 1] * h)
        rx = rx.reshape(1, -1) / (valid_ratios[:, None, lvl, 0] * w)
        refs.append(torch.stack([rx, ry], -1))
    return torch.cat(refs, 1)[:, :, None] * valid_ratios[:, None]


# ---- DMMI fusion and branch (fusion.ts, dmmi_branch.ts) ------------------------------------

class VisionLanguageFusionModule(nn.Module):
    """out = tgt * MHA(tgt, memory + pos, memory): gating, no residual, no norm."""

    def __init__(self, d, heads):
        super().__init__()
        self.multihead_attn = MultiheadAttention(d, heads, 0.0)

    def forward(self, tgt, memory, key_padding_mask, pos):
        return tgt * self.multihead_attn(tgt, with_pos(memory, pos), memory, key_padding_mask)


def to_clip_sequence(x, t):
    """'(b t) c h w -> (t h w) b c'."""
    bt, c, h, w = x.shape
    return x.view(bt // t, t, c, h, w).permute(1, 3, 4, 0, 2).reshape(t * h * w, bt // t, c)


def from_clip_sequence(x, t, h, w):
    """'(t h w) b c -> (b t) c h w'."""
    _, b, c = x.shape
    return x.view(t, h, w, b, c).permute(3, 0, 4, 1, 2).reshape(b * t, c, h, w)


def flatten_maps(maps):
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)


def split_levels(flat, shapes):
    n, _, d = flat.shape
    parts = flat.split([h * w for h, w in shapes], 1)
    return [p.transpose(1, 2).reshape(n, d, h, w) for p, (h, w) in zip(parts, shapes)]


# ---- cross-modal FPN (fpn.ts, vl_block.ts) -------------------------------------------------

class ConvNormAct(nn.Conv2d):
    """Conv (keys weight / bias) with an optional GroupNorm (norm.*) and ReLU."""

    def __init__(self, cin, cout, k, groups=0, bias=False, relu=False):
        super().__init__(cin, cout, k, padding=(k - 1) // 2, bias=bias)
        bound = math.sqrt(3 / (cin * k * k))  # c2_xavier_fill
        nn.init.uniform_(self.weight, -bound, bound)
        if bias:
            nn.init.zeros_(self.bias)
        self.norm = nn.GroupNorm(groups, cout) if groups else None
        self.use_relu = relu

    def forward(self, x):
        y = super().forward(x)
        if self.norm is not None:
            y = self.norm(y)
        return F.relu(y) if self.use_relu else y


class VisionLanguageBlock(nn.Module):
    def __init__(self, d, heads, d_ffn, dropout, sr):
        super().__init__()
        self.self_attn = MultiheadAttention(d, heads, dropout)
        self.multihead_attn = MultiheadAttention(d, heads, dropout)
        self.linear1 = nn.Linear(d, d_ffn)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))
        self.sr = sr

    def forward(self, tgt, memory, t, h, w, tgt_mask, memory_mask, pos, query_pos):
        x = self._self_attention(with_pos(tgt, query_pos), tgt, t, h, w, tgt_mask)
        tgt = self.norm1(tgt + self.dropout1(x))
        x = self.multihead_attn(with_pos(tgt, query_pos), with_pos(memory, pos), memory,
                                memory_mask)
        tgt = self.norm2(tgt + self.dropout2(x))
        hidden = self.dropout(F.relu(self.linear1(tgt)))
        return self.norm3(tgt + self.dropout3(self.linear2(hidden)))

    def _self_attention(self, qk, v, t, h, w, mask):
        s = self.sr
        if s <= 1:
            return self.self_attn(qk, qk, v, mask)
        # spatial reduction: nearest-resize q/k/v per frame, bilinear back afterwards
        size = (int(h * (1 / s)), int(w * (1 / s)))

        def shrink(x):
            return to_clip_sequence(F.interpolate(from_clip_sequence(x, t, h, w), size=size,
                                                  mode="nearest"), t)
        qk_small = shrink(qk)
        mask_small = None
        if mask is not None:
            b = mask.shape[0]
            m = F.interpolate(mask.float().view(1, b * t, h, w), size=size, mode="nearest")
            mask_small = (m != 0).view(b, t * size[0] * size[1])
        out = self.self_attn(qk_small, qk_small, shrink(v), mask_small)
        out = F.interpolate(from_clip_sequence(out, t, *size), size=(h, w), mode="bilinear",
                            align_corners=False)
        return to_clip_sequence(out, t)


class CrossModalFPNDecoder(nn.Module):
    def __init__(self, channels, d, mask_dim, d_ffn, heads, groups, ratios, dropout):
        super().__init__()
        for i in range(4):
            setattr(self, f"adapter_{i + 1}", ConvNormAct(channels[i], d, 1, groups=groups))
            setattr(self, f"layer_{i + 1}", ConvNormAct(d, d, 3, groups=groups, relu=True))
        self.mask_features = ConvNormAct(d, mask_dim, 3, bias=True)
        for i in range(4):
            setattr(self, f"cross_attn_{i + 1}",
                    VisionLanguageBlock(d, heads, d_ffn, dropout, ratios[i]))
        self.d = d

    def forward(self, stage1, memory, masks, poses, text, text_mask, t):
        words = text.permute(1, 0, 2)
        word_pos = sine_1d(text_mask, self.d).permute(2, 0, 1)
        xs = [stage1] + list(memory)
        y = None
        for i in range(3, -1, -1):
            adapter = getattr(self, f"adapter_{i + 1}")
            block = getattr(self, f"cross_attn_{i + 1}")
            layer = getattr(self, f"layer_{i + 1}")
            bt, _, h, w = poses[i].shape
            fused = block(to_clip_sequence(adapter(xs[i]), t), words, t, h, w,
                          masks[i].reshape(bt // t, t * h * w), text_mask, word_pos,
                          to_clip_sequence(poses[i], t))
            fused = from_clip_sequence(fused, t, h, w)
            if y is not None:
                fused = fused + F.interpolate(y, size=(h, w), mode="nearest")
            y = layer(fused)
        return self.mask_features(y)


# ---- dynamic mask head (mask_head.ts) ------------------------------------------------------

def dynamic_param_layout(mask_dim, channels, layers, rel_coord):
    inputs = mask_dim + (2 if rel_coord else 0)
    weights = [inputs * channels if l == 0 else channels if l == layers - 1
               else channels * channels for l in range(layers)]
    biases = [1 if l == layers - 1 else channels for l in range(layers)]
    return weights, biases


def aligned_bilinear(x, f):
    if f == 1:
        return x
    h, w = x.shape[-2:]
    x = F.pad(x, (0, 1, 0, 1), mode="replicate")
    x = F.interpolate(x, size=(f * h + 1, f * w + 1), mode="bilinear", align_corners=True)
    x = F.pad(x, (f // 2, 0, f // 2, 0), mode="replicate")
    return x[:, :, :f * h, :f * w]


def dynamic_masks(mask_feats, params, centres, image_sizes, c):
    """mask_feats [b, t, C, h, w]; params [b, t, q, P]; centres [b, t, q, 2] (normalised).

    The per-instance 1x1 convs over [features; rel_x; rel_y] as batched products; the
    features part of layer 0 is shared by the q queries of a frame.
    """
    b, t, C, h, w = mask_feats.shape
    q = params.shape[2]
    D, nl = c["dynamicMaskChannels"], c["controllerLayers"]
    wn, bn = dynamic_param_layout(C, D, nl, c["relCoord"])
    pieces = params.split(wn + bn, -1)
    outs = [D if l < nl - 1 else 1 for l in range(nl)]
    ws = [p.reshape(b, t, q, o, -1) for p, o in zip(pieces[:nl], outs)]
    bs = [p.reshape(b, t, q, o, 1) for p, o in zip(pieces[nl:], outs)]
    feats = mask_feats.reshape(b, t, C, h * w)
    x = torch.einsum("btqdc,btcp->btqdp", ws[0][..., :C], feats)
    if c["relCoord"]:
        stride = c["maskFeatStride"]
        scale = torch.tensor([[iw, ih] for ih, iw in image_sizes], dtype=centres.dtype)
        pixels = (centres * scale[:, None, None]).reshape(b, t, q, 2, 1)
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        loc = torch.stack([xs.flatten(), ys.flatten()]).to(centres.dtype) * stride + stride // 2
        x = x + ws[0][..., C:] @ (pixels - loc)
    x = x + bs[0]
    for l in range(1, nl):
        x = ws[l] @ F.relu(x) + bs[l]
    f = c["maskFeatStride"] // c["maskOutStride"]
    logits = aligned_bilinear(x.reshape(b * t * q, 1, h, w), f)
    return logits.reshape(b, t, q, *logits.shape[-2:])


# ---- the model (model.ts, model_parts.ts, subject.ts) --------------------------------------

class BackboneBody(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body


def choose_subjects(prob, positive_maps):
    """Running best chunk by max token probability (strict >), from key 1 / prob 0;
    the batch span S grows only when a chunk becomes the running best."""
    max_span, spans = 0, []
    for i, pmap in enumerate(positive_maps):
        best_key, best_p = 1, 0.0
        for key, (a, e) in pmap.items():
            p = max(prob[i][j] for j in range(a, e + 1))
            if p > best_p:
                best_key, best_p = key, p
                max_span = max(max_span, e - a + 1)
        spans.append(tuple(pmap[best_key]))
    return spans, max(max_span, 1)


def masks_resized(mask, h, w):
    """Nearest resize of a bool mask [n, H, W] (F.interpolate on floats, as the reference)."""
    return F.interpolate(mask[None].float(), size=(h, w), mode="nearest")[0].bool()


class DMFormer(nn.Module):
    def __init__(self, c):
        super().__init__()
        if c["useRmhca"]:
            raise ValueError("the PyTorch mirror does not implement RMHCA (off in the model)")
        self.c = c
        d = c["hiddenDim"]
        sw = c["swin"]
        self.backbone = nn.ModuleList([BackboneBody(SwinTransformer.from_config(sw))])
        self.text_encoder = BertTextEncoder(c["text"])
        self.resizer = FeatureResizer(c["text"]["hiddenSize"], d, c["dropout"])
        widths = [sw["embedDim"] * 2 ** s for s in range(len(sw["depths"]))]
        g = c["inputProjGroups"]
        self.input_proj = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(widths[s], d, 1), nn.GroupNorm(g, d)) for s in (1, 2, 3)]
            + [nn.Sequential(nn.Conv2d(widths[3], d, 3, stride=2, padding=1), nn.GroupNorm(g, d))])
        L = c["numFeatureLevels"]
        self.level_embed_context = nn.Parameter(torch.randn(L, d))
        self.level_embed_subject = nn.Parameter(torch.randn(L, d))
        inter = interaction_config(c)
        self.subject_perceptron_1 = BertEncoderLayer(inter)
        self.subject_perceptron_2 = nn.Linear(d, 2)
        rounds = range(c["numInteractions"])

        def enc():
            return DeformableTransformerEncoderLayer(d, c["dimFeedforward"], c["dropout"], L,
                                                     c["dmmiHeads"], c["encNPoints"])
        for name in ("context", "subject"):
            setattr(self, f"vlfuse_list_{name}", nn.ModuleList(
                VisionLanguageFusionModule(d, c["dmmiHeads"]) for _ in rounds))
            setattr(self, f"visionlayer_list_{name}", nn.ModuleList(enc() for _ in rounds))
            setattr(self, f"bertlayer_list_{name}",
                    nn.ModuleList(BertEncoderLayer(inter) for _ in rounds))
        for name in ("context_v", "context_l", "subject_v", "subject_l"):
            setattr(self, f"resizer_{name}", FeatureResizer(d, d // 2, c["dropout"]))
        self.transformer = DeformableTransformer(d, c["decLayers"], lambda: (
            DeformableTransformerDecoderLayer(d, c["dimFeedforward"], c["dropout"], L,
                                              c["nheads"], c["decNPoints"])))
        self.class_embed = nn.ModuleList(nn.Linear(d, c["numClasses"])
                                         for _ in range(c["decLayers"]))
        self.bbox_embed = nn.ModuleList(MLP(d, d, 4, 3) for _ in range(c["decLayers"]))
        for k, (cls, box) in enumerate(zip(self.class_embed, self.bbox_embed)):
            nn.init.constant_(cls.bias, -math.log((1 - 0.01) / 0.01))
            nn.init.zeros_(box.layers[2].weight)
            with torch.no_grad():
                box.layers[2].bias.copy_(torch.tensor([0.0, 0, -2, -2] if k == 0 else [0.0] * 4))
        self.query_embed = nn.Embedding(c["numQueries"], d)
        self.pixel_decoder = CrossModalFPNDecoder(
            [widths[0], d, d, d], d, c["maskDim"], c["dimFeedforward"], c["fpnHeads"],
            c["fpnGroups"], c["fpnRatios"], c["dropout"])
        wn, bn = dynamic_param_layout(c["maskDim"], c["dynamicMaskChannels"],
                                      c["controllerLayers"], c["relCoord"])
        self.controller = MLP(d, d, sum(wn) + sum(bn), 3)
        for layer in self.controller.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        if c["freezeBackbone"]:
            self.backbone.requires_grad_(False)
        if c["freezeTextEncoder"]:
            self.text_encoder.requires_grad_(False)

    def _branch(self, name, srcs, pos_maps, shapes, mask_flat, ref, t, words, mask, wpos,
                sentence):
        """One DMMI branch: per round word gating per level, the deformable encoder layer over
        all levels, a BERT layer on the words. Returns visual [(b t), N_v, d/2], text [b, d/2]."""
        vlfuse = getattr(self, f"vlfuse_list_{name}")
        vision = getattr(self, f"visionlayer_list_{name}")
        bert = getattr(self, f"bertlayer_list_{name}")
        level_embed = getattr(self, f"level_embed_{name}")
        pos = flatten_maps([p + level_embed[l].view(1, -1, 1, 1) for l, p in enumerate(pos_maps)])
        maps, flat, T = srcs, None, words
        for r in range(len(vision)):
            memory = T.transpose(0, 1)
            maps = [from_clip_sequence(vlfuse[r](to_clip_sequence(x, t), memory, mask, wpos),
                                       t, x.shape[2], x.shape[3]) for x in maps]
            flat = vision[r](flatten_maps(maps), pos, ref, shapes, mask_flat)
            if r < len(vision) - 1:
                maps = split_levels(flat, shapes)
            T = bert[r](T, mask)
        visual = getattr(self, f"resizer_{name}_v")(flat)
        resizer_l = getattr(self, f"resizer_{name}_l")
        # the mean includes padded positions, as in the reference
        text = resizer_l(sentence) + resizer_l(T).mean(1) * 0.5
        return visual, text

    def forward(self, frames, pad_mask, input_ids, attention_mask, positive_maps, image_sizes):
        """frames [b, t, 3, H, W]; pad_mask bool [b, t, H, W]; input_ids, attention_mask
        [b, pad] int64; positive_maps: per caption {key: (first, last)}; image_sizes (h, w)."""
        c = self.c
        d = c["hiddenDim"]
        b, t, _, H, W = frames.shape

        # text
        embedded, aggregate = self.text_encoder(input_ids, attention_mask)
        L = int(attention_mask.sum(1).max())
        text_mask = attention_mask[:, :L]
        words = self.resizer(embedded[:, :L])
        sentence = self.resizer(aggregate)
        word_pos = sine_1d(text_mask, d).permute(2, 0, 1)

        # backbone, masks and 2-D codes per stride
        feats = self.backbone[0].body(frames.reshape(b * t, 3, H, W))
        full_mask = pad_mask.reshape(b * t, H, W)
        level_masks = [masks_resized(full_mask, *f.shape[-2:]) for f in feats]

        # subject perceptron and span choice (a host read-back, as in the model)
        subject = self.subject_perceptron_2(self.subject_perceptron_1(words, text_mask))
        prob = subject.detach().softmax(-1)[..., 1].tolist()
        spans, S = choose_subjects(prob, positive_maps)
        rows = []
        subject_mask = torch.zeros(b, S, dtype=attention_mask.dtype)
        for i, (a, e) in enumerate(spans):
            n = min(e - a + 1, S)
            rows.append(F.pad(words[i, a:a + n], (0, 0, 0, S - n)))
            subject_mask[i, :n] = 1
        subject_words = torch.stack(rows)
        subject_pos = sine_1d(subject_mask, d).permute(2, 0, 1)

        # input projections and the extra stride-64 level
        srcs = [self.input_proj[lvl](feats[s]) for lvl, s in enumerate((1, 2, 3))]
        srcs.append(self.input_proj[3](feats[3]))
        masks = level_masks[1:] + [masks_resized(full_mask, *srcs[3].shape[-2:])]
        shapes = [tuple(s.shape[-2:]) for s in srcs]
        valid_ratios = torch.stack([valid_ratios_of(m) for m in masks], 1)
        poses = [sine_2d(m, d // 2) for m in masks]
        mask_flat = torch.cat([m.flatten(1) for m in masks], 1)
        ref = encoder_reference_points(shapes, valid_ratios)

        # the two DMMI branches
        common = (srcs, poses, shapes, mask_flat, ref, t)
        ctx_v, ctx_t = self._branch("context", *common, words, text_mask, word_pos, sentence)
        sub_v, sub_t = self._branch("subject", *common, subject_words, subject_mask,
                                    subject_pos, sentence)
        memory = torch.cat([ctx_v, sub_v], 2)
        text_embed = torch.cat([ctx_t, sub_t], 1)

        # decoder with box refinement
        q = c["numQueries"]
        tgt = text_embed[:, None, None].expand(b, t, q, d).reshape(b * t, q, d)
        query_pos = self.query_embed.weight[None].expand(b * t, q, d)
        hs, boxes, refs = self.transformer(tgt, query_pos, memory, shapes, mask_flat,
                                           valid_ratios, self.bbox_embed)

        # pixel decoder
        mask_feats = self.pixel_decoder(
            feats[0], split_levels(memory, shapes)[:3], level_masks,
            [sine_2d(m, d // 2) for m in level_masks], words, text_mask, t)
        mf = mask_feats.reshape(b, t, *mask_feats.shape[1:])

        # heads and dynamic masks per decoder layer
        layers = []
        for k, x in enumerate(hs):
            params = self.controller(x).reshape(b, t, q, -1)
            layers.append(dict(
                pred_logits=self.class_embed[k](x).reshape(b, t, q, -1),
                pred_boxes=boxes[k].reshape(b, t, q, 4),
                pred_masks=dynamic_masks(mf, params, refs[k][..., :2].reshape(b, t, q, 2),
                                         image_sizes, c)))
        return dict(layers[-1], aux_outputs=layers[:-1], subject=subject, spans=spans, S=S)


# ---- criterion (criterion.ts, matcher.ts, losses.ts, box_ops.ts) ---------------------------

DEFAULT_WEIGHTS = dict(loss_ce=2, loss_bbox=5, loss_giou=2, loss_mask=2, loss_dice=5, subject=2)
DEFAULT_COSTS = dict(costClass=2, costBbox=5, costGiou=2, costMask=2, costDice=5)


def focal_term(logits, targets, alpha=0.25, gamma=2):
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    pt = p * targets + (1 - p) * (1 - targets)
    return ce * (1 - pt) ** gamma * (alpha * targets + (1 - alpha) * (1 - targets))


def sigmoid_focal_loss(logits, targets, num_boxes):
    return focal_term(logits, targets).mean(1).sum() / num_boxes


def dice_loss(logits, targets, num_boxes):
    p, t = logits.sigmoid().flatten(1), targets.flatten(1)
    num = 2 * (p * t).sum(1) + 1
    return (1 - num / (p.sum(1) + t.sum(1) + 1)).sum() / num_boxes


def cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def paired_giou(a, b, eps=1e-6):
    iw = (torch.min(a[..., 2], b[..., 2]) - torch.max(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.min(a[..., 3], b[..., 3]) - torch.max(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih

    def area(x):
        return (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
    union = area(a) + area(b) - inter
    iou = (inter + eps) / (union + eps)
    cw = (torch.max(a[..., 2], b[..., 2]) - torch.min(a[..., 0], b[..., 0])).clamp(min=0)
    ch = (torch.max(a[..., 3], b[..., 3]) - torch.min(a[..., 1], b[..., 1])).clamp(min=0)
    enc = cw * ch
    return iou - (enc - union + eps) / (enc + eps)


def subsample_target_masks(targets, t, stride):
    """Zero-pad to the batch's largest size rounded up to 32, keep every stride-th pixel from
    stride / 2: [b, t, h, w] floats."""
    H = -(-max(tg["size"][0] for tg in targets) // 32) * 32
    W = -(-max(tg["size"][1] for tg in targets) // 32) * 32
    out = []
    for tg in targets:
        mh, mw = tg["size"]
        padded = torch.zeros(t, H, W)
        padded[:, :mh, :mw] = tg["masks"].float()
        out.append(padded[:, stride // 2::stride, stride // 2::stride])
    return torch.stack(out)


class SetCriterion:
    """Per-clip argmin matching (float64 costs), then focal/L1/GIoU/mask/dice/subject."""

    def __init__(self, num_classes=1, weights=None, costs=None, mask_out_stride=4):
        self.num_classes = num_classes
        self.weights = weights or DEFAULT_WEIGHTS
        self.costs = costs or DEFAULT_COSTS
        self.stride = mask_out_stride

    @torch.no_grad()
    def match(self, pred, targets, masks):
        """Index of the query slot with the lowest total cost, per clip (first minimum)."""
        w = self.costs
        slots = []
        for i, tg in enumerate(targets):
            logits = pred["pred_logits"][i].double()  # [t, q, k]
            boxes = pred["pred_boxes"][i].double()  # [t, q, 4]
            x = pred["pred_masks"][i].double().flatten(2)  # [t, q, hw]
            t, q = logits.shape[:2]
            y = masks[i].double().flatten(1)[:, None]  # [t, 1, hw]
            valid = torch.as_tensor(tg["valid"], dtype=torch.bool)
            cls = torch.as_tensor(tg["labels"]) if self.num_classes > 1 else \
                torch.zeros(t, dtype=torch.long)
            p = logits.gather(2, cls.view(t, 1, 1).expand(t, q, 1))[..., 0].sigmoid()
            pos = 0.25 * (1 - p) ** 2 * -torch.log(p + 1e-8)
            neg = 0.75 * p ** 2 * -torch.log(1 - p + 1e-8)
            n_valid = int(valid.sum())
            cost_class = (pos - neg)[valid].sum(0) / n_valid if n_valid else torch.zeros(q)
            tb = tg["boxes"].double().view(t, 1, 4)
            cost_bbox = (boxes - tb).abs().sum((0, 2)) / t
            cost_giou = -paired_giou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(tb)).sum(0) / t
            cost_mask = focal_term(x, y.expand_as(x)).sum((0, 2)) / (t * x.shape[2])
            ps = x.sigmoid()
            cost_dice = -(2 * (ps * y).sum((0, 2)) + 1) / (ps.sum((0, 2)) + y.sum() + 1)
            total = w["costClass"] * cost_class + w["costBbox"] * cost_bbox \
                + w["costGiou"] * cost_giou + w["costMask"] * cost_mask \
                + w["costDice"] * cost_dice
            slots.append(int(torch.argmin(total)))
        return slots

    def layer_losses(self, pred, targets, masks, slots, num_boxes):
        b, t, q, k = pred["pred_logits"].shape
        onehot = torch.zeros(b, t, q, k)
        for i, tg in enumerate(targets):
            for f in range(t):
                if tg["valid"][f]:
                    onehot[i, f, slots[i], 0 if self.num_classes == 1 else tg["labels"][f]] = 1
        loss_ce = sigmoid_focal_loss(pred["pred_logits"].reshape(b, t * q, k),
                                     onehot.view(b, t * q, k), num_boxes) * (t * q)
        src_boxes = torch.stack([pred["pred_boxes"][i, :, s] for i, s in enumerate(slots)])
        src_boxes = src_boxes.reshape(b * t, 4)
        tgt_boxes = torch.cat([tg["boxes"] for tg in targets]).reshape(b * t, 4)
        giou = paired_giou(cxcywh_to_xyxy(src_boxes), cxcywh_to_xyxy(tgt_boxes))
        src_masks = torch.stack([pred["pred_masks"][i, :, s] for i, s in enumerate(slots)])
        src_masks, tgt_masks = src_masks.reshape(b, -1), masks.reshape(b, -1)
        return dict(
            loss_ce=loss_ce,
            loss_bbox=(src_boxes - tgt_boxes).abs().sum() / num_boxes,
            loss_giou=(1 - giou).sum() / num_boxes,
            loss_mask=sigmoid_focal_loss(src_masks, tgt_masks, num_boxes),
            loss_dice=dice_loss(src_masks, tgt_masks, num_boxes),
        )

    def __call__(self, out, targets, subject_labels=None):
        t = out["pred_logits"].shape[1]
        masks = subsample_target_masks(targets, t, self.stride)
        if tuple(masks.shape[-2:]) != tuple(out["pred_masks"].shape[-2:]):
            raise ValueError(f"criterion: prediction masks {tuple(out['pred_masks'].shape)} vs "
                             f"targets {tuple(masks.shape)}")
        num_boxes = max(sum(int(sum(tg["valid"])) for tg in targets), 1)
        losses, matches = {}, []
        layers = [(out, "")] + [(a, f"_{i}") for i, a in enumerate(out.get("aux_outputs", []))]
        for pred, suffix in layers:
            slots = self.match(pred, targets, masks)
            matches.append(slots)
            for k, v in self.layer_losses(pred, targets, masks, slots, num_boxes).items():
                losses[k + suffix] = v
        if out.get("subject") is not None and subject_labels:
            L = out["subject"].shape[1]
            total = 0
            for i, lab in enumerate(subject_labels):
                n = min(len(lab), L)
                total = total + F.cross_entropy(out["subject"][i, :n],
                                                torch.as_tensor(list(lab[:n])).long())
            losses["subject"] = total
        total = sum(v * self.weights.get(re.sub(r"_\d+$", "", k), 0) for k, v in losses.items())
        return dict(losses=losses, total=total, matches=matches)
