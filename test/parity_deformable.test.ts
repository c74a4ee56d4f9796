import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { tensor } from "../src/ops/creation.ts";
import { runParity } from "../src/parity/run.ts";
import {
  getReferencePoints,
  getValidRatio,
  scaleReferencePoints,
} from "../src/models/dmformer/deformable.ts";
import {
  type HostMask,
  positionEmbeddingSine2DHost,
  sine1D,
  sine2D,
} from "../src/models/dmformer/position_encoding.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { testBackends } from "./helpers/backends.ts";
import { assertClose } from "./helpers/numeric.ts";

/** Fixture -> whether it needs the msda kernel (a backend without it skips that fixture). */
const FIXTURES: Record<string, boolean> = {
  msda_core: true,
  msdeform_attn_module: true,
  deform_encoder_layer: true,
  deform_decoder_layer: true,
  pos_sine: false,
  vl_fusion: false,
  feature_resizer: false,
};

const backends = await testBackends();

for (const [name, backend] of backends) {
  describe(`deformable-attention fixtures on ${name}`, () => {
    for (const [fixture, needsMsda] of Object.entries(FIXTURES)) {
      const runnable = backend !== null && (!needsMsda || backend.kernels["msda"] !== undefined);
      test.skipIf(!runnable)(`${fixture} matches the reference`, async () => {
        const report = await runParity(fixturePath(fixture), backend!);
        expect(report.implemented).toBe(true);
        const failed = report.rows.filter((r) => r.status !== "pass");
        expect(failed.map((r) => `${r.name}: ${r.status} ${r.detail ?? ""}`)).toEqual([]);
        expect(report.rows.length).toBeGreaterThan(0);
        expect(report.ok).toBe(true);
      });
    }
  });
}

const TWO_PI = 2 * Math.PI;

describe("sine position codes", () => {
  const mask1d = (rows: number[][], dtype: "bool" | "int"): HostMask => ({
    data: rows.flat(),
    shape: [rows.length, rows[0].length],
    dtype,
  });
  // channel 2k of the 1-D code is sin(E / 10000^(2k/F))
  const sinChannel = (code: Float32Array, F: number, L: number, b: number, k: number, j: number) =>
    code[(b * F + 2 * k) * L + j];

  test("1-D code, unpadded integer mask: E_j = (j + 1) / n * 2 pi (same as the bool mask)", () => {
    const F = 8;
    const fromInt = sine1D(mask1d([[1, 1, 1, 1, 1]], "int"), { numPosFeats: F });
    const fromBool = sine1D(mask1d([[0, 0, 0, 0, 0]], "bool"), { numPosFeats: F });
    assertClose(fromInt, fromBool, { atol: 1e-5 }, "int vs bool");
    for (let j = 0; j < 5; j++) {
      expect(sinChannel(fromInt, F, 5, 0, 0, j)).toBeCloseTo(Math.sin(((j + 1) / 5) * TWO_PI), 5);
    }
  });

  test("1-D code, padded integer mask reproduces the bitwise-not quirk (gotcha 16.1)", () => {
    const F = 4;
    const L = 6;
    const n = 4; // valid tokens, then 2 padded
    const code = sine1D(mask1d([[1, 1, 1, 1, 0, 0]], "int"), { numPosFeats: F });
    // steps -2 (valid) and -1 (pad): C = -2, -4, -6, -8, -9, -10; E_j = C_j / C_last * 2 pi
    for (let j = 0; j < L; j++) {
      const c = j < n ? -2 * (j + 1) : -2 * n - (j - n + 1);
      const e = (c / (-2 * n - (L - n))) * TWO_PI;
      expect(sinChannel(code, F, L, 0, 0, j)).toBeCloseTo(Math.sin(e), 5);
      expect(code[(0 * F + 1) * L + j]).toBeCloseTo(Math.cos(e), 5);
    }
    const corrected = sine1D(mask1d([[1, 1, 1, 1, 0, 0]], "int"), {
      numPosFeats: F,
      mode: "valid",
    });
    expect(sinChannel(corrected, F, L, 0, 0, 1)).toBeCloseTo(Math.sin((2 / n) * TWO_PI), 5);
  });

  test("2-D code without padding: y channels then x channels of (i + 0.5) / h * 2 pi", () => {
    const F = 4;
    const [H, W] = [3, 5];
    const code = sine2D({ data: new Array(H * W).fill(0), shape: [1, H, W] }, { numPosFeats: F });
    const at = (c: number, i: number, j: number) => code[(c * H + i) * W + j];
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const y = ((i + 0.5) / H) * TWO_PI;
        const x = ((j + 0.5) / W) * TWO_PI;
        const freq = 10000 ** (2 / F);
        expect(at(0, i, j)).toBeCloseTo(Math.sin(y), 5);
        expect(at(1, i, j)).toBeCloseTo(Math.cos(y), 5);
        expect(at(2, i, j)).toBeCloseTo(Math.sin(y / freq), 5);
        expect(at(F, i, j)).toBeCloseTo(Math.sin(x), 5);
        expect(at(F + 3, i, j)).toBeCloseTo(Math.cos(x / freq), 5);
      }
    }
  });
});

test("2-D code of several frames: each frame's block equals its code alone (shared masks reused)", () => {
  const [H, W, F] = [4, 6, 8];
  const plane = H * W;
  const padded = (b: number, p: number) => (b === 2 ? p % W >= 4 : Math.floor(p / W) === 3);
  const masks = [0, 1, 2, 3].map((b) => Array.from({ length: plane }, (_, p) => +padded(b, p)));
  const all = sine2D({ data: masks.flat(), shape: [4, H, W], dtype: "bool" }, { numPosFeats: F });
  masks.forEach((m, b) => {
    const alone = sine2D({ data: m, shape: [1, H, W], dtype: "bool" }, { numPosFeats: F });
    expect(Array.from(all.subarray(b * 2 * F * plane, (b + 1) * 2 * F * plane)))
      .toEqual(Array.from(alone));
  });
});

for (const [name, backend] of backends) {
  test.skipIf(backend === null)(
    `2-D code tensor on ${name}: the host code of every frame (shared, unpadded, mixed masks)`,
    async () => {
      const [H, W, F] = [5, 7, 4];
      const plane = H * W;
      const padRight = Array.from({ length: plane }, (_, p) => +(p % W >= 5));
      const padBottom = Array.from({ length: plane }, (_, p) => +(Math.floor(p / W) === 4));
      const none = new Array<number>(plane).fill(0);
      const cases = [[none, none, none], [none], [padRight, padRight, padRight], [
        padRight,
        padBottom,
        padRight,
      ]];
      for (const masks of cases) {
        const mask: HostMask = { data: masks.flat(), shape: [3, H, W], dtype: "bool" };
        const code = positionEmbeddingSine2DHost(mask, backend!, { numPosFeats: F });
        expect(code.shape).toEqual([3, 2 * F, H, W]);
        expect(Array.from(await code.data())).toEqual(Array.from(sine2D(mask, { numPosFeats: F })));
        code.dispose();
      }
    },
  );
}

describe("valid ratios and reference points", () => {
  // one image 4 x 6 whose last row and last two columns are padding
  const padded = Array.from({ length: 24 }, (_, p) => Math.floor(p / 6) === 3 || p % 6 >= 4);
  const mask = tensor(padded, [1, 4, 6]);

  test("valid ratio counts valid columns of row 0 and valid rows of column 0 (x first)", async () => {
    assertClose(await getValidRatio(mask).data(), [4 / 6, 3 / 4], {}, "valid ratio");
  });

  test("encoder reference points: base point over the valid area, scaled per level", async () => {
    const ratios = tensor([[[4 / 6, 3 / 4], [0.5, 1]]]); // [1, L = 2, 2]
    const shapes: [number, number][] = [[4, 6], [2, 3]];
    const refs = getReferencePoints(shapes, ratios);
    expect(refs.shape).toEqual([1, 24 + 6, 2, 2]);
    const data = await refs.data();
    const point = (s: number, l: number) => [data[(s * 2 + l) * 2], data[(s * 2 + l) * 2 + 1]];
    // level-0 token (i = 1, j = 2): base = (2.5 / (4/6 * 6), 1.5 / (3/4 * 4))
    const base = [2.5 / 4, 1.5 / 3];
    assertClose(point(8, 0), [base[0] * (4 / 6), base[1] * 0.75], {}, "level 0");
    assertClose(point(8, 1), [base[0] * 0.5, base[1] * 1], {}, "level 1");
    // level-1 token (i = 1, j = 0): base = (0.5 / (0.5 * 3), 1.5 / (1 * 2))
    assertClose(point(24 + 3, 0), [(0.5 / 1.5) * (4 / 6), 0.75 * 0.75], {}, "level-1 token");
  });

  test("decoder reference input scales points by (rx, ry) and boxes by (rx, ry, rx, ry)", async () => {
    const ratios = tensor([[[0.5, 0.25], [1, 0.5]]]);
    const boxes = scaleReferencePoints(tensor([[[0.2, 0.4, 0.6, 0.8]]]), ratios);
    expect(boxes.shape).toEqual([1, 1, 2, 4]);
    assertClose(await boxes.data(), [0.1, 0.1, 0.3, 0.2, 0.2, 0.2, 0.6, 0.4], {}, "boxes");
    const points = scaleReferencePoints(tensor([[[0.2, 0.4]]]), ratios);
    assertClose(await points.data(), [0.1, 0.1, 0.2, 0.2], {}, "points");
  });
});
