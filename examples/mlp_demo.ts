/**
 * A small real computation on the engine: a 2-layer MLP learns to classify points of two
 * interleaved spirals with AdamW, printing its falling loss.
 *
 *   deno run -A examples/mlp_demo.ts [--steps 300] [--backend cpu|webgpu]
 */
import { parseArgs } from "node:util";
import { add, cat, cos, crossEntropy, full, mul, rand, relu, sin } from "../src/ops/mod.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { tidy } from "../src/tensor/memory.ts";
import { Linear, Module } from "../src/nn/mod.ts";
import { AdamW } from "../src/optim/mod.ts";
import { selectBackendByName } from "../src/backend/select_name.ts";
import type { Tensor } from "../src/tensor/tensor.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "300" },
    backend: { type: "string", default: "cpu" },
  },
});

const backend = await selectBackendByName(values.backend!);
manualSeed(7);

class Mlp extends Module {
  fc1 = new Linear(2, 32);
  fc2 = new Linear(32, 2);
  forward(x: Tensor): Tensor {
    return this.fc2.forward(relu(this.fc1.forward(x)));
  }
}

/** Two spirals: class 0 and class 1, n points each, with a little noise. */
function spirals(n: number): { x: Tensor; y: Tensor } {
  const t = mul(rand([n, 1], { backend }), 3 * Math.PI);
  const r = mul(t, 1 / (3 * Math.PI));
  const arm = (phase: number) => cat([mul(r, cos(add(t, phase))), mul(r, sin(add(t, phase)))], 1);
  const noise = () => mul(add(rand([n, 2], { backend }), -0.5), 0.05);
  const x = cat([add(arm(0), noise()), add(arm(Math.PI), noise())], 0);
  const y = cat([full([n], 0, { dtype: "i32", backend }), full([n], 1, { dtype: "i32", backend })]);
  return { x, y };
}

const model = new Mlp();
await model.to(backend);
const opt = new AdamW([{ params: model.parameters(), lr: 0.02, weightDecay: 0 }]);
const { x, y } = spirals(128);
const steps = Number(values.steps);
console.log(`MLP 2→32→2 on 256 spiral points, AdamW lr 0.02, backend ${backend.name}`);
for (let step = 1; step <= steps; step++) {
  const loss = tidy(() => {
    const l = crossEntropy(model.forward(x), y);
    opt.zeroGrad();
    l.backward();
    opt.step();
    return l;
  });
  if (step === 1 || step % 25 === 0) {
    console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(4)}`);
  }
  loss.dispose();
}
