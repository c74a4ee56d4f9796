/**
 * Catalog cases: window_attention (fused Swin window attention: outputs out, lse; gradients of
 * qkv and bias). The reference is plain float64 loops; a custom check also compares the fused
 * op with the composed path (reshape / permute, matmul, softmax) on the backend under test.
 */
import { expect } from "vitest";
import * as T from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { assertClose, uniform } from "./numeric.ts";
import { type Case, type Ctx, E, type GradCase } from "./case_types.ts";
import { type Ref, ref } from "./reference.ts";

let seed = 9100;
function rnd(shape: number[], lo = -1, hi = 1): Ref {
  return ref(shape, uniform(shape.reduce((a, b) => a * b, 1), seed++, lo, hi));
}

/** A Swin-like mask [nW, N, N]: 0 or -100, deterministic. */
function swinMask(nw: number, n: number): Ref {
  const data: number[] = [];
  for (let w = 0; w < nw; w++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) data.push((i * 3 + j * 5 + w * 7) % 4 === 0 ? -100 : 0);
    }
  }
  return ref([nw, n, n], data);
}

/**
 * out[b, i, h * hd + d] = sum_j softmax_j(scale q.k_j + bias[h, i, j] + mask[b % nW, i, j])
 * v_j[d] and lse[b, h, i] (float64, max-shifted), q / k / v read from qkv [B', N, 3, heads, hd].
 */
function windowAttentionRef(
  qkv: Ref,
  bias: Ref,
  mask: Ref | null,
  heads: number,
  scale: number,
): { out: Ref; lse: Ref } {
  const [bw, n, c3] = qkv.shape;
  const c = c3 / 3;
  const hd = c / heads;
  const at = (b: number, r: number, t: number, h: number, d: number) =>
    qkv.data[((b * n + r) * 3 + t) * c + h * hd + d];
  const out = new Array<number>(bw * n * c).fill(0);
  const lse: number[] = [];
  for (let b = 0; b < bw; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) {
        const s: number[] = [];
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += at(b, i, 0, h, d) * at(b, j, 1, h, d);
          const m = mask ? mask.data[((b % mask.shape[0]) * n + i) * n + j] : 0;
          s.push(scale * dot + bias.data[(h * n + i) * n + j] + m);
        }
        const mx = Math.max(...s);
        const e = s.map((v) => Math.exp(v - mx));
        const sum = e.reduce((a, v) => a + v, 0);
        for (let d = 0; d < hd; d++) {
          let o = 0;
          for (let j = 0; j < n; j++) o += (e[j] / sum) * at(b, j, 2, h, d);
          out[(b * n + i) * c + h * hd + d] = o;
        }
        lse.push(mx + Math.log(sum));
      }
    }
  }
  return { out: ref([bw, n, c], out), lse: ref([bw, heads, n], lse) };
}

/** The op itself (both outputs). */
function runOp(c: Ctx, qkv: Ref, bias: Ref, mask: Ref | null, heads: number, scale: number) {
  const ins = [c.r(qkv), c.r(bias), ...(mask ? [c.r(mask)] : [])];
  return T.apply("window_attention", ins, { heads, scale, hasMask: !!mask });
}

export function windowAttentionCases(): Record<string, Case> {
  // 4 windows of 5 tokens, 2 heads of 3 channels, a mask of 2 windows
  const qkv = rnd([4, 5, 18], -2, 2);
  const bias = rnd([2, 5, 5]);
  const mask = swinMask(2, 5);
  // one head, a 2 x 3 window (N = 6), no mask
  const qkv1 = rnd([3, 6, 12], -2, 2);
  const bias1 = rnd([1, 6, 6]);
  // 3 heads of 4, N = 9, mask [nW, 1, N, N] of 3 windows (6 windows: 2 images)
  const qkv3 = rnd([6, 9, 36], -1.5, 1.5);
  const bias3 = rnd([3, 9, 9]);
  const mask3 = swinMask(3, 9);
  // Swin-T sizes: N = 49, head_dim 32
  const qkvT = rnd([2, 49, 96], -1, 1);
  const biasT = rnd([1, 49, 49], -0.5, 0.5);
  const maskT = swinMask(2, 49);
  // a mask for the gradient cases (u8 0 / 1, scaled to 0 / -3 inside)
  const maskBits = (nw: number, n: number) =>
    swinMask(nw, n).data.map((v, k) => (v !== 0 || k % 7 === 3 ? 1 : 0));
  const grad = (
    name: string,
    bw: number,
    n: number,
    heads: number,
    hd: number,
    nw: number,
  ): GradCase => ({
    name,
    inputs: [
      { shape: [bw, n, 3 * heads * hd] },
      { shape: [heads, n, n] },
      ...(nw ? [{ shape: [nw, n, n], dtype: "u8" as const, values: maskBits(nw, n) }] : []),
    ],
    fn: (x: Tensor, b: Tensor, m?: Tensor) =>
      T.windowAttentionCore(x, b, m ? T.mul(T.cast(m, x.dtype), -3) : null, heads, 0.7),
    reaches: ["window_attention_backward"],
  });
  return {
    window_attention: {
      forward: [
        {
          name: "op outputs out, lse: 4 windows of 5, 2 heads of 3, mask of 2 windows",
          run: (c) => runOp(c, qkv, bias, mask, 2, 0.6),
          expect: (({ out, lse }) => [E(out), E(lse)])(windowAttentionRef(qkv, bias, mask, 2, 0.6)),
        },
        {
          name: "one head, N = 6 (a 2 x 3 window), no mask",
          run: (c) => runOp(c, qkv1, bias1, null, 1, 0.5),
          expect: (({ out, lse }) => [E(out), E(lse)])(
            windowAttentionRef(qkv1, bias1, null, 1, 0.5),
          ),
        },
        {
          name: "3 heads, N = 9, mask [nW, 1, N, N] repeated over 2 images",
          run: (c) =>
            T.windowAttentionCore(
              c.r(qkv3),
              c.r(bias3),
              c.r(ref([3, 1, 9, 9], mask3.data)),
              3,
              0.5,
            ),
          expect: E(windowAttentionRef(qkv3, bias3, mask3, 3, 0.5).out),
        },
        {
          name: "Swin-T window: N = 49, head_dim 32, masked",
          run: (c) => T.windowAttentionCore(c.r(qkvT), c.r(biasT), c.r(maskT), 1, 32 ** -0.5),
          expect: E(windowAttentionRef(qkvT, biasT, maskT, 1, 32 ** -0.5).out, {
            rtol: 2e-5,
            atol: 2e-5,
          }),
        },
        {
          name: "equals the composed path (reshape, matmul, softmax), with and without mask",
          check: async (c: Ctx) => {
            const runBoth = (fused: boolean) =>
              T.tidy(() => {
                const f = fused ? T.windowAttentionCore : T.windowAttentionCoreComposed;
                return [
                  f(c.r(qkv), c.r(bias), c.r(mask), 2, 0.6),
                  f(c.r(qkv3), c.r(bias3), c.r(ref([3, 1, 9, 9], mask3.data)), 3, 0.5),
                  f(c.r(qkv1), c.r(bias1), null, 1, 0.5),
                ];
              });
            const fused = runBoth(true);
            const composed = runBoth(false);
            for (let k = 0; k < fused.length; k++) {
              expect(fused[k].shape).toEqual(composed[k].shape);
              const tol = { rtol: 2e-5, atol: 2e-6 };
              assertClose(await fused[k].data(), await composed[k].data(), tol, `case ${k}`);
            }
            [...fused, ...composed].forEach((t) => t.dispose());
          },
        },
        {
          name: "float64",
          needs: ["f64"],
          run: (c) =>
            T.windowAttentionCore(c.r(qkv, "f64"), c.r(bias, "f64"), c.r(mask, "f64"), 2, 0.6),
          expect: E(windowAttentionRef(qkv, bias, mask, 2, 0.6).out, { dtype: "f64" }),
        },
      ],
      grad: [
        grad("qkv and bias: 4 windows of 5, 2 heads of 3, mask of 2 windows", 4, 5, 2, 3, 2),
        grad("one head, N = 6, no mask", 3, 6, 1, 4, 0),
        grad("3 heads of 1 channel, N = 4, mask of 1 window", 2, 4, 3, 1, 1),
        grad("9 windows (several bias-gradient groups), N = 3", 9, 3, 1, 2, 3),
      ],
    },
  };
}
