import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { getBackend } from "../src/backend/backend.ts";
import { tensor } from "../src/ops/creation.ts";
import { mul } from "../src/ops/elementwise.ts";
import { sum } from "../src/ops/reduce.ts";
import { runParity } from "../src/parity/run.ts";
import { Fixture } from "../src/parity/fixture.ts";
import { compareTensor } from "../src/parity/compare.ts";
import { fpnDecoderAdapter } from "../src/parity/adapters/fpn_decoder.ts";
import { CrossModalFPNDecoder, textPositionCode } from "../src/models/dmformer/fpn.ts";
import { clipSequenceToMaps, mapsToClipSequence } from "../src/models/dmformer/vl_block.ts";
import { type HostMask, sine1D } from "../src/models/dmformer/position_encoding.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { testBackends } from "./helpers/backends.ts";
import { assertClose, ints, prod, uniform } from "./helpers/numeric.ts";

const backends = await testBackends();

for (const [name, backend] of backends) {
  describe(`cross-modal FPN fixture on ${name}`, () => {
    test.skipIf(backend === null)("fpn_decoder matches the reference", async () => {
      const report = await runParity(fixturePath("fpn_decoder"), backend!);
      const failed = report.rows.filter((r) => r.status !== "pass");
      expect(failed.map((r) => `${r.name}: ${r.status} ${r.detail ?? ""}`)).toEqual([]);
      expect(report.rows.length).toBe(1);
      expect(report.ok).toBe(true);
    });
  });
}

describe("cross-modal FPN pieces", () => {
  const cpu = getBackend("cpu");

  test("the stride-4 map before mask_features matches dbg.y", async () => {
    const fx = await Fixture.load(fixturePath("fpn_decoder"), cpu);
    const { values } = await fpnDecoderAdapter.run(fx);
    const y = values.get("dbg.y")!;
    const row = compareTensor(
      "dbg.y",
      await y.data(),
      y.shape,
      fx.raw("dbg.y"),
      fx.tolerance("dbg.y"),
    );
    expect(row.status, row.detail).toBe("pass");
  });

  test("text position code equals the host sine1D for integer and bool masks", async () => {
    const rows = [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]];
    for (const dtype of ["int", "bool"] as const) {
      const data = rows.flat().map((v) => (dtype === "bool" ? 1 - v : v));
      const host: HostMask = { data, shape: [2, 6], dtype };
      const mask = tensor(Int32Array.from(data), [2, 6], {
        dtype: dtype === "bool" ? "bool" : "i32",
        backend: cpu,
      });
      for (const F of [64, 256]) {
        const code = textPositionCode(mask, F);
        expect(code.shape).toEqual([2, F, 6]);
        assertClose(
          await code.data(),
          sine1D(host, { numPosFeats: F }),
          { atol: 1e-6 },
          `${dtype} F=${F}`,
        );
      }
    }
  });

  test("clip sequences are frame-major then row-major and round-trip to maps", async () => {
    const [b, t, c, h, w] = [2, 3, 2, 2, 4];
    const values = Float32Array.from({ length: b * t * c * h * w }, (_, i) => i);
    const maps = tensor(values, [b * t, c, h, w], { backend: cpu });
    const seq = mapsToClipSequence(maps, t);
    expect(seq.shape).toEqual([t * h * w, b, c]);
    const s = await seq.data();
    // token (f, i, j) of clip bi, channel ci comes from maps[bi*t + f, ci, i, j]
    const at = (f: number, i: number, j: number, bi: number, ci: number) =>
      s[(((f * h + i) * w + j) * b + bi) * c + ci];
    expect(at(2, 1, 3, 1, 1)).toBe((((1 * t + 2) * c + 1) * h + 1) * w + 3);
    expect(at(1, 0, 2, 0, 0)).toBe(((1 * c + 0) * h + 0) * w + 2);
    assertClose(await clipSequenceToMaps(seq, { t, h, w }).data(), values, { atol: 0 });
  });

  test("a small FPN trains: finite gradients reach every parameter", async () => {
    const [b, t, d, L] = [2, 2, 16, 5];
    const sizes = [[16, 12], [8, 6], [4, 3], [2, 2]];
    const fpn = new CrossModalFPNDecoder({
      featureChannels: [8, d, d, d],
      convDim: d,
      maskDim: 8,
      dimFeedforward: 32,
      nhead: 4,
      dropout: 0,
    });
    let seed = 1;
    const rand = (shape: number[]) =>
      tensor(Float32Array.from(uniform(prod(shape), seed++)), shape, { backend: cpu });
    const masks = sizes.map(([h, w]) => {
      const m = new Uint8Array(b * t * h * w);
      for (let f = 0; f < b * t; f++) {
        for (let i = 0; i < h; i++) m[(f * h + i) * w + w - 1] = f % 2; // pad the last column
      }
      return tensor(m, [b * t, h, w], { dtype: "bool", backend: cpu });
    });
    const out = fpn.forward({
      stage1: rand([b * t, 8, ...sizes[0]]),
      memory: sizes.slice(1).map((s) => rand([b * t, d, ...s])),
      masks,
      poses: sizes.map((s) => rand([b * t, d, ...s])),
      text: rand([b, L, d]),
      textMask: tensor(Int32Array.from(ints(b * L, 7, 0, 2)), [b, L], {
        dtype: "i32",
        backend: cpu,
      }),
      t,
    });
    expect(out.shape).toEqual([b * t, 8, 16, 12]);
    sum(mul(out, rand([...out.shape]))).backward();
    for (const [key, p] of fpn.namedParameters()) {
      expect(p.grad, key).toBeTruthy();
      const g = await p.grad!.data();
      expect(g.every(Number.isFinite), key).toBe(true);
      expect(g.some((v) => v !== 0), key).toBe(true);
    }
  });
});
