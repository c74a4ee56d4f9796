import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { getBackend } from "../src/backend/backend.ts";
import { tensor } from "../src/ops/creation.ts";
import { mul } from "../src/ops/elementwise.ts";
import { sum } from "../src/ops/reduce.ts";
import { runParity } from "../src/parity/run.ts";
import {
  alignedBilinear,
  DynamicMaskHead,
  type DynamicMaskOptions,
  dynamicMaskWithCoords,
  dynamicParamLayout,
} from "../src/models/dmformer/mask_head.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { testBackends } from "./helpers/backends.ts";
import { assertClose, prod, uniform } from "./helpers/numeric.ts";

const backends = await testBackends();

for (const [name, backend] of backends) {
  describe(`dynamic mask head fixture on ${name}`, () => {
    test.skipIf(backend === null)("mask_head matches the reference", async () => {
      const report = await runParity(fixturePath("mask_head"), backend!);
      const failed = report.rows.filter((r) => r.status !== "pass");
      expect(failed.map((r) => `${r.name}: ${r.status} ${r.detail ?? ""}`)).toEqual([]);
      expect(report.rows.length).toBe(11);
      expect(report.ok).toBe(true);
    });
  });
}

const cpu = getBackend("cpu");
const rand = (shape: number[], seed: number, lo = -1, hi = 1, dtype: "f32" | "f64" = "f32") =>
  tensor(Float64Array.from(uniform(prod(shape), seed, lo, hi)), shape, { dtype, backend: cpu });

/** Bilinear sample of a replicate-extended [h, w] plane at (y, x). */
function sample(plane: ArrayLike<number>, h: number, w: number, y: number, x: number): number {
  const at = (i: number, j: number) => plane[Math.min(i, h - 1) * w + Math.min(j, w - 1)];
  const i0 = Math.floor(y);
  const j0 = Math.floor(x);
  const dy = y - i0;
  const dx = x - j0;
  return (1 - dy) * ((1 - dx) * at(i0, j0) + dx * at(i0, j0 + 1)) +
    dy * ((1 - dx) * at(i0 + 1, j0) + dx * at(i0 + 1, j0 + 1));
}

describe("aligned bilinear", () => {
  // Output (i, j) reads the align-corners resize of the bottom/right-padded map at
  // (max(i - f div 2, 0), ...), i.e. the input at source (max(i - f div 2, 0) / f, ...).
  for (const f of [2, 3]) {
    test(`factor ${f} equals the direct formula`, async () => {
      const [n, c, h, w] = [2, 2, 5, 7];
      const x = rand([n, c, h, w], 11 + f);
      const y = alignedBilinear(x, f);
      expect(y.shape).toEqual([n, c, f * h, f * w]);
      const xs = await x.data();
      const expected = new Float64Array(n * c * f * h * f * w);
      const half = Math.floor(f / 2);
      for (let p = 0; p < n * c; p++) {
        const plane = xs.subarray(p * h * w, (p + 1) * h * w);
        for (let i = 0; i < f * h; i++) {
          for (let j = 0; j < f * w; j++) {
            const sy = Math.max(i - half, 0) / f;
            const sx = Math.max(j - half, 0) / f;
            expected[(p * f * h + i) * f * w + j] = sample(plane, h, w, sy, sx);
          }
        }
      }
      assertClose(await y.data(), expected, { atol: 1e-6 }, `factor ${f}`);
    });
  }

  test("factor 1 is the identity and bad factors are rejected", () => {
    const x = rand([1, 1, 3, 4], 3);
    expect(alignedBilinear(x, 1)).toBe(x);
    expect(() => alignedBilinear(x, 1.5)).toThrow(/integer/);
  });
});

/** Direct per-instance, per-pixel evaluation in the reference's parameter layout. */
function referenceMasks(
  features: ArrayLike<number>,
  params: ArrayLike<number>,
  centres: ArrayLike<number>,
  sizes: [number, number][],
  dims: { b: number; t: number; q: number; C: number; h: number; w: number },
  o: DynamicMaskOptions,
): Float64Array {
  const { b, t, q, C, h, w } = dims;
  const D = o.dynamicMaskChannels;
  const { weightNums, biasNums, total } = dynamicParamLayout({ ...o, maskDim: C });
  const starts: number[] = [];
  [...weightNums, ...biasNums].reduce((at, n) => (starts.push(at), at + n), 0);
  const L = weightNums.length;
  const out = new Float64Array(b * t * q * h * w);
  for (let bi = 0; bi < b; bi++) {
    for (let f = 0; f < t; f++) {
      for (let k = 0; k < q; k++) {
        const inst = (bi * t + f) * q + k;
        const P = (i: number) => params[inst * total + i];
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) {
            let x: number[] = [];
            for (let c = 0; c < C; c++) x.push(features[(((bi * t + f) * C + c) * h + i) * w + j]);
            if (o.relCoord) {
              x.push(centres[2 * inst] * sizes[bi][1] - (4 * j + 2));
              x.push(centres[2 * inst + 1] * sizes[bi][0] - (4 * i + 2));
            }
            for (let l = 0; l < L; l++) {
              const outs = l < L - 1 ? D : 1;
              const y = Array.from({ length: outs }, (_, r) => {
                let acc = P(starts[L + l] + r);
                x.forEach((v, s) => (acc += P(starts[l] + r * x.length + s) * v));
                return l < L - 1 ? Math.max(acc, 0) : acc;
              });
              x = y;
            }
            out[(inst * h + i) * w + j] = x[0];
          }
        }
      }
    }
  }
  return out;
}

describe("dynamic mask convs", () => {
  const dims = { b: 2, t: 2, q: 3, C: 5, h: 4, w: 6 };
  const sizes: [number, number][] = [[15, 22], [13, 24]];

  for (const relCoord of [true, false]) {
    test(`batched matmuls equal a per-pixel evaluation (relCoord ${relCoord})`, async () => {
      const o: DynamicMaskOptions = {
        maskDim: dims.C,
        dynamicMaskChannels: 4,
        controllerLayers: 3,
        relCoord,
        maskFeatStride: 4,
        maskOutStride: 4,
      };
      const { b, t, q, C, h, w } = dims;
      const P = dynamicParamLayout(o).total;
      const feats = rand([b, t, C, h, w], 21);
      // small weights keep the ~20-pixel relative coordinates from dominating
      const params = rand([b, t * q, P], 22, -0.2, 0.2);
      const centres = rand([b, t * q, 2], 23, 0, 1);
      const got = dynamicMaskWithCoords(feats, params, centres, sizes, o);
      expect(got.shape).toEqual([b, t * q, h, w]);
      const expected = referenceMasks(
        await feats.data(),
        await params.data(),
        await centres.data(),
        sizes,
        dims,
        o,
      );
      assertClose(await got.data(), expected, { atol: 1e-5, rtol: 1e-4 }, "mask logits");
    });
  }

  test("gradients wrt parameters and mask features match finite differences (f64)", async () => {
    const o: DynamicMaskOptions = {
      maskDim: 3,
      dynamicMaskChannels: 2,
      controllerLayers: 3,
      relCoord: true,
      maskFeatStride: 4,
      maskOutStride: 2,
    };
    const [b, t, q, C, h, w] = [1, 2, 2, 3, 3, 2];
    const P = dynamicParamLayout(o).total;
    const feats = rand([b, t, C, h, w], 31, -1, 1, "f64");
    const params = rand([b, t * q, P], 32, -0.3, 0.3, "f64");
    const centres = rand([b, t * q, 2], 33, 0, 1, "f64");
    const weight = rand([b, t * q, 2 * h, 2 * w], 34, -1, 1, "f64");
    const imageSizes: [number, number][] = [[10, 7]];
    const loss = (f: typeof feats, p: typeof params) =>
      sum(mul(dynamicMaskWithCoords(f, p, centres, imageSizes, o), weight));
    const f0 = feats.requireGrad();
    const p0 = params.requireGrad();
    loss(f0, p0).backward();
    for (const [leaf, name] of [[f0, "features"], [p0, "params"]] as const) {
      const base = Float64Array.from(await leaf.data());
      const analytic = await leaf.grad!.data();
      const eps = 1e-6;
      const numeric = new Float64Array(base.length);
      for (let i = 0; i < base.length; i++) {
        const at = (delta: number) => {
          const v = Float64Array.from(base);
          v[i] += delta;
          const moved = tensor(v, leaf.shape, { dtype: "f64", backend: cpu });
          return name === "features" ? loss(moved, params) : loss(feats, moved);
        };
        numeric[i] = ((await at(eps).item()) - (await at(-eps).item())) / (2 * eps);
      }
      assertClose(analytic, numeric, { atol: 1e-6, rtol: 1e-5 }, name);
    }
  });

  test("the module's controller emits the reference parameter count", () => {
    const head = new DynamicMaskHead(256);
    expect(head.controller.layers.map((l) => l.weight.shape)).toEqual([[256, 256], [256, 256], [
      2153,
      256,
    ]]);
    expect(head.namedParameters().map(([k]) => k)).toEqual([
      "controller.layers.0.weight",
      "controller.layers.0.bias",
      "controller.layers.1.weight",
      "controller.layers.1.bias",
      "controller.layers.2.weight",
      "controller.layers.2.bias",
    ]);
  });
});
