// Shared by window_attention_forward / window_attention_backward (f32; see
// src/ops/window_attention.ts): qkv [B', N, 3C] with the last axis read as [3, heads, HD]
// (q | k | v), bias [heads, N, N], mask [nW, N, N] (window b adds mask[b % nW]).
// A workgroup works on one (window, head) at a time; SHARED: two N x HD operands of it sit in
// workgroup memory (sa, sb), else they are read from storage. Threads own rows.
// Header: WG, HD, HDA (max(HD, 1): private array size), SH (N * HD or 1), NMAX (N), SHARED,
// and fn mask_at(w, i, j) (0 without a mask). Loops over channels run to the constant HD, so
// that they unroll and the private arrays they index become registers; loops over rows run to
// N read from the parameters (a CPU adapter's compiler spends seconds unrolling those).
// Params: [0] windows, [1] C, [2] heads, [3] nW, [4] scale (f32), [5] N.

fn nr() -> u32 { return pu(5u); }

var<workgroup> sa: array<f32, SH>;
var<workgroup> sb: array<f32, SH>;

// Element d of row r of part t (0 q, 1 k, 2 v) of window b, head h.
fn qkv_at(b: u32, r: u32, t: u32, h: u32, d: u32) -> f32 {
  let c = pu(1u);
  return qkv[(b * nr() + r) * 3u * c + t * c + h * HD + d];
}

// bias[h, i, j] + mask[b % nW, i, j]
fn bias_mask(b: u32, h: u32, i: u32, j: u32) -> f32 {
  return bias_[(h * nr() + i) * nr() + j] + mask_at(b % pu(3u), i, j);
}
