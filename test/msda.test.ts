import { describe, expect, test } from "vitest";
import {
  add,
  cat,
  gridSample,
  msda,
  mul,
  noGrad,
  permute,
  ShapeError,
  stack,
  sub,
  sum,
  type Tensor,
  tensor,
} from "../mod.ts";
import type { SpatialShapes } from "../src/ops/deform_attn.ts";
import { MSDeformAttn } from "../src/models/dmformer/msda.ts";
import { gradcheck } from "./helpers/gradcheck.ts";
import { assertClose, rng } from "./helpers/numeric.ts";

interface Problem {
  N: number;
  M: number;
  D: number;
  Lq: number;
  P: number;
  shapes: SpatialShapes;
  value: Float64Array;
  loc: Float64Array;
  attn: Float64Array;
}

function tokens(shapes: SpatialShapes): number {
  return shapes.reduce((s, [h, w]) => s + h * w, 0);
}

/** Random problem; locations spread over [-0.3, 1.3] so some points fall outside the map. */
function problem(shapes: SpatialShapes, seed: number, N = 2, M = 2, D = 3, Lq = 4, P = 3): Problem {
  const r = rng(seed);
  const L = shapes.length;
  const S = tokens(shapes);
  const value = Float64Array.from({ length: N * S * M * D }, () => 2 * r() - 1);
  const loc = Float64Array.from({ length: N * Lq * M * L * P * 2 }, () => 1.6 * r() - 0.3);
  const attn = Float64Array.from({ length: N * Lq * M * L * P }, () => r());
  return { N, M, D, Lq, P, shapes, value, loc, attn };
}

/** Sets some points of every level exactly on pixel centres, map edges and just outside. */
function putOnBorders(p: Problem): void {
  const L = p.shapes.length;
  const special = (
    size: number,
  ) => [0, 1, 0.5 / size, (size - 0.5) / size, -0.5 / size, (size + 0.5) / size];
  let k = 0;
  for (let i = 0; i < p.loc.length / 2; i++) {
    const l = Math.floor(i / p.P) % L;
    const [h, w] = p.shapes[l];
    if (i % 2 === 0) {
      const xs = special(w);
      const ys = special(h);
      p.loc[2 * i] = xs[k % xs.length];
      p.loc[2 * i + 1] = ys[Math.floor(k / xs.length) % ys.length];
      k++;
    }
  }
}

/** The spec (§9.1 step 5-6) as a plain loop: one bilinear sample per (n, q, m, l, p). */
function directMsda(p: Problem): Float64Array {
  const { N, M, D, Lq, P, shapes } = p;
  const L = shapes.length;
  const S = tokens(shapes);
  const out = new Float64Array(N * Lq * M * D);
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Lq; q++) {
      for (let m = 0; m < M; m++) {
        let start = 0;
        for (let l = 0; l < L; l++) {
          const [H, W] = shapes[l];
          const pixel = (yy: number, xx: number, d: number) =>
            yy < 0 || yy >= H || xx < 0 || xx >= W
              ? 0
              : p.value[((n * S + start + yy * W + xx) * M + m) * D + d];
          for (let pt = 0; pt < P; pt++) {
            const i = (((n * Lq + q) * M + m) * L + l) * P + pt;
            const u = p.loc[2 * i] * W - 0.5;
            const v = p.loc[2 * i + 1] * H - 0.5;
            const x0 = Math.floor(u);
            const y0 = Math.floor(v);
            const fx = u - x0;
            const fy = v - y0;
            for (let d = 0; d < D; d++) {
              const s = (1 - fy) * ((1 - fx) * pixel(y0, x0, d) + fx * pixel(y0, x0 + 1, d)) +
                fy * ((1 - fx) * pixel(y0 + 1, x0, d) + fx * pixel(y0 + 1, x0 + 1, d));
              out[((n * Lq + q) * M + m) * D + d] += p.attn[i] * s;
            }
          }
          start += H * W;
        }
      }
    }
  }
  return out;
}

function inputs(p: Problem): [Tensor, Tensor, Tensor] {
  const L = p.shapes.length;
  const opts = { dtype: "f64" as const };
  return [
    tensor(p.value, [p.N, tokens(p.shapes), p.M, p.D], opts),
    tensor(p.loc, [p.N, p.Lq, p.M, L, p.P, 2], opts),
    tensor(p.attn, [p.N, p.Lq, p.M, L, p.P], opts),
  ];
}

/** The reference's pure-PyTorch core: one grid_sample per level, weights applied after. */
function gridSampleMsda(value: Tensor, loc: Tensor, attn: Tensor, shapes: SpatialShapes): Tensor {
  const [N, , M, D] = value.shape;
  const [, Lq, , L, P] = loc.shape;
  let start = 0;
  const perLevel = shapes.map(([H, W], l) => {
    const v = permute(value.narrow(1, start, H * W), [0, 2, 3, 1]).reshape([N * M, D, H, W]);
    start += H * W;
    const grid = permute(loc.narrow(3, l, 1).reshape([N, Lq, M, P, 2]), [0, 2, 1, 3, 4]).reshape([
      N * M,
      Lq,
      P,
      2,
    ]);
    return gridSample(v, sub(mul(grid, 2), 1)); // [N*M, D, Lq, P]
  });
  const sampled = stack(perLevel, 3); // [N*M, D, Lq, L, P]
  const w = permute(attn, [0, 2, 1, 3, 4]).reshape([N * M, 1, Lq, L, P]);
  const out = sum(mul(sampled, w), [3, 4]).reshape([N, M * D, Lq]);
  return permute(out, [0, 2, 1]);
}

describe("msda op (multi-scale deformable attention core)", () => {
  test("matches a direct per-sample loop, with points outside the map and on its borders", () => {
    const p = problem([[3, 5], [2, 2], [4, 1], [1, 3]], 11);
    putOnBorders(p);
    const out = msda(...inputs(p), p.shapes);
    expect(out.shape).toEqual([p.N, p.Lq, p.M * p.D]);
    assertClose(out.dataSync(), directMsda(p), { rtol: 1e-12, atol: 1e-12 }, "msda output");
  });

  test("float32 inputs give the float32 rounding of the float64 result", () => {
    const p = problem([[3, 5], [2, 2]], 12);
    for (const a of [p.value, p.loc, p.attn]) a.forEach((x, i) => (a[i] = Math.fround(x)));
    const [v, l, w] = inputs(p).map((t) => t.cast("f32"));
    const out = msda(v, l, w, p.shapes);
    expect(out.dtype).toBe("f32");
    assertClose(out.dataSync(), directMsda(p), { rtol: 1e-6, atol: 1e-6 }, "msda f32 output");
  });

  test("gradients for value, locations and weights match finite differences (float64)", () => {
    const p = problem([[3, 4], [2, 3], [1, 2]], 21, 1, 2, 2, 3, 2);
    const report = gradcheck(
      (v, l, w) => msda(v, l, w, p.shapes),
      inputs(p),
      { rtol: 1e-6, atol: 1e-8 },
    );
    expect(report.ops.has("msda_backward")).toBe(true);
    const locGrad = report.analytic[1];
    expect(locGrad.some((g) => g !== 0)).toBe(true);
    expect(locGrad.some((g) => g === 0)).toBe(true); // points fully outside the map
  });

  test("output and gradients equal the grid_sample composition, border points included", () => {
    const shapes: SpatialShapes = [[4, 8], [2, 4], [1, 2]];
    const p = problem(shapes, 31);
    putOnBorders(p);
    const run = (f: (v: Tensor, l: Tensor, w: Tensor) => Tensor) => {
      const xs = inputs(p).map((t) => t.requireGrad());
      const out = f(xs[0], xs[1], xs[2]);
      const cot = tensor(
        Float64Array.from({ length: out.size }, (_, i) => Math.sin(i + 1)),
        out.shape,
        {
          dtype: "f64",
        },
      );
      out.backward(cot);
      return [out, ...xs.map((x) => x.grad!)].map((t) => t.dataSync());
    };
    const ours = run((v, l, w) => msda(v, l, w, shapes));
    const composed = run((v, l, w) => gridSampleMsda(v, l, w, shapes));
    ["output", "grad value", "grad locations", "grad weights"].forEach((what, i) =>
      assertClose(ours[i], composed[i], { rtol: 1e-12, atol: 1e-12 }, what)
    );
  });

  test("rejects inconsistent shapes with a readable error", () => {
    const p = problem([[3, 5], [2, 2]], 41);
    const [v, l, w] = inputs(p);
    expect(() => msda(v, l, w, [[3, 5], [2, 3]])).toThrow(ShapeError);
    expect(() => msda(v, l, w, [[3, 5], [2, 3]])).toThrow(/tokens/);
    expect(() => msda(v, l, cat([w, w], 0), p.shapes)).toThrow(/attention weights/);
  });
});

describe("MSDeformAttn module", () => {
  test("initialisation follows §9.1: directional offsets, uniform attention", async () => {
    const attn = new MSDeformAttn(16, 2, 8, 3);
    const bias = await attn.sampling_offsets.bias!.data();
    const at = (m: number, l: number, p: number) =>
      [0, 1].map((k) => bias[((m * 2 + l) * 3 + p) * 2 + k]);
    // float32 angles, like the reference: (cos, sin) of 2 pi m / 8 are exact only to ~1e-6
    const near = (got: number[], want: number[]) =>
      assertClose(got, want, { atol: 1e-5 }, "offset bias");
    near(at(0, 0, 0), [1, 0]);
    near(at(1, 1, 2), [3, 3]);
    near(at(2, 0, 0), [0, 1]);
    near(at(7, 0, 1), [2, -2]);
    expect(Array.from(await attn.sampling_offsets.weight.data()).every((x) => x === 0)).toBe(true);
    expect(Array.from(await attn.value_proj.bias!.data()).every((x) => x === 0)).toBe(true);

    const shapes: SpatialShapes = [[2, 4], [1, 2]];
    const r = rng(5);
    const query = tensor(Array.from({ length: 3 * 16 }, () => r()), [1, 3, 16]);
    const refs = tensor(Array.from({ length: 3 * 2 * 2 }, () => r()), [1, 3, 2, 2]);
    const input = tensor(Array.from({ length: 10 * 16 }, () => r()), [1, 10, 16]);
    const out = noGrad(() => attn.forward(query, refs, input, shapes));
    assertClose(
      await out.attentionWeights.data(),
      new Array(3 * 8 * 2 * 3).fill(1 / 6),
      {},
      "weights",
    );
    const locs = await out.samplingLocations.data();
    const refData = await refs.data();
    // query 1, head 1, level 0, point 2: ref + (3, 3) / (W, H)
    const i = (((1 * 8 + 1) * 2 + 0) * 3 + 2) * 2;
    expect(locs[i]).toBeCloseTo(refData[(1 * 2 + 0) * 2] + 3 / 4, 6);
    expect(locs[i + 1]).toBeCloseTo(refData[(1 * 2 + 0) * 2 + 1] + 3 / 2, 6);
  });

  test("padded tokens contribute nothing: an all-padded input gives the output bias", async () => {
    const attn = new MSDeformAttn(8, 1, 2, 2);
    const shapes: SpatialShapes = [[2, 3]];
    const r = rng(6);
    const query = tensor(Array.from({ length: 4 * 8 }, () => r()), [1, 4, 8]);
    const refs = tensor(Array.from({ length: 4 * 2 }, () => r()), [1, 4, 1, 2]);
    const input = tensor(Array.from({ length: 6 * 8 }, () => r()), [1, 6, 8]);
    const mask = tensor(new Array(6).fill(true), [1, 6]);
    noGrad(() => {
      attn.output_proj.bias = add(attn.output_proj.bias!, 0.25);
    });
    const { output } = noGrad(() => attn.forward(query, refs, input, shapes, mask));
    assertClose(await output.data(), new Array(4 * 8).fill(0.25), {}, "all-padded output");
  });
});
