import type { Fixture, ParityResult } from "../fixture.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { permute, reshape } from "../../ops/shape_ops.ts";
import { swinConfigFromReference, SwinTransformer } from "../../models/dmformer/swin.ts";

/** Runs the fixture's Swin (eval, no grads) and names stage s output `out.stage{s+1}`. */
export function runSwinFixture(fx: Fixture): Promise<ParityResult> {
  const model = new SwinTransformer(swinConfigFromReference(fx.json("config")));
  model.eval().loadStateDict(fx.params(), { strict: true });
  const image = fx.tensor("in.image");
  const values = new Map<string, Tensor>();
  noGrad(() => {
    const outs = model.forward(image);
    model.config.outIndices.forEach((s, i) => values.set(`out.stage${s + 1}`, outs[i]));
    // checkpoints that localise a mismatch (not checked by the harness)
    const { x, h, w } = model.patch_embed.forward(image);
    values.set("dbg.patch_embed", permute(reshape(x, [x.shape[0], h, w, -1]), [0, 3, 1, 2]));
    if (fx.has("dbg.block0")) values.set("dbg.block0", model.layers[0].blocks[0].forward(x, h, w));
  });
  image.dispose();
  model.dispose();
  return Promise.resolve({ values });
}
