import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { runParity } from "../src/parity/run.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { testBackends } from "./helpers/backends.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig, SWIN_T } from "../src/models/dmformer/config.ts";

const backends = await testBackends();

describe("whole DMFormer", () => {
  for (const [name, backend] of backends) {
    test.skipIf(!backend)(
      `dmmi_tiny on ${name}: eval outputs, losses, 20 gradients and one AdamW step match`,
      async () => {
        const report = await runParity(fixturePath("dmmi_tiny"), backend!);
        const failed = report.rows.filter((r) => r.status !== "pass");
        expect(failed.map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
        expect(report.rows.length).toBe(63);
      },
    );
  }

  test("swin-t configuration has the reference's parameter count and key names", () => {
    const model = new DMFormer(SWIN_T);
    const keys = [...model.stateDict().keys()];
    const values = model.parameters().reduce((s, p) => s + p.size, 0);
    // design doc §15: 836 entries, about 171.7 M values, counting the 24 duplicated
    // transformer.decoder.bbox_embed tensors (530,448 values) and the 13 buffers
    // (12 relative_position_index of 49x49, position_ids [1, 512]) we derive instead
    expect(keys.length + 24 + 13).toBe(836);
    expect(Math.abs(values + 530448 + 12 * 49 * 49 + 512 - 171.7e6)).toBeLessThan(0.05e6);
    expect(keys).toContain("backbone.0.body.layers.2.blocks.5.attn.qkv.weight");
    expect(keys).toContain("text_encoder.model.encoder.layer.11.output.LayerNorm.bias");
    expect(keys).toContain("controller.layers.2.weight");
    expect(keys.some((k) => k.startsWith("transformer.decoder.bbox_embed"))).toBe(false);
    expect(model.stateDict().get("controller.layers.2.weight")!.shape).toEqual([2153, 256]);
    model.dispose();
  });

  test("config files: overrides merge, unknown keys and wrong types are rejected", () => {
    const c = resolveConfig({ base: "tiny", hiddenDim: 32, swin: { embedDim: 16 } });
    expect(c.hiddenDim).toBe(32);
    expect(c.swin.embedDim).toBe(16);
    expect(c.swin.depths).toEqual([2, 2, 2, 2]);
    expect(() => resolveConfig({ base: "tiny", hiddenDims: 3 } as never)).toThrow(
      /unknown key "hiddenDims"/,
    );
    expect(() => resolveConfig({ base: "tiny", hiddenDim: "3" } as never)).toThrow(
      /expected number/,
    );
    expect(() => resolveConfig("swin-x")).toThrow(/unknown model config "swin-x"/);
  });
});
