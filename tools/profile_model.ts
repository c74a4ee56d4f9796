/**
 * Where the time of one DMFormer inference goes, per kernel (the bench's clip and caption):
 *
 *   deno run -A tools/profile_model.ts [--backend native|cuda|webgpu|cpu] [--config swin-t|tiny]
 *     [--runs 2] [--sync] [--shapes]
 *
 * Prints the wall time of each run, then the per-kernel profile of the last run. On queued
 * backends a kernel's time is only its launch unless --sync (cuda: synchronise after every
 * kernel, so each row holds its run time). The gap between the wall time and the kernel
 * total is host work between launches (TypeScript, uploads, read-backs). --shapes also prints
 * the 30 slowest (kernel, input shapes) pairs.
 */
import { parseArgs } from "node:util";
import { selectBackendByName } from "../src/backend/select_name.ts";
import { setBackend } from "../src/backend/backend.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { noGrad } from "../src/tensor/autograd.ts";
import { tidyAsync } from "../src/tensor/memory.ts";
import { formatProfile, startProfile, stopProfile, sumByKernel } from "../src/ops/profile.ts";
import { captions, INFER, INFER_QUICK, video } from "./bench/model.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "native" },
    config: { type: "string", default: "swin-t" },
    runs: { type: "string", default: "2" },
    sync: { type: "boolean" },
    shapes: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "usage: deno run -A tools/profile_model.ts [--backend NAME] [--config swin-t|tiny] " +
      "[--runs N] [--sync] [--shapes]",
  );
  Deno.exit(0);
}

const backend = await selectBackendByName(values.backend!);
await setBackend(values.backend!);
const spec = values.config === "tiny" ? INFER_QUICK : INFER;
const cfg = resolveConfig(values.config!);
const net = new DMFormer(cfg);
net.eval();
net.requiresGrad(false);
await net.to(backend);
const clip = video(spec, backend);
const caps = captions(spec, cfg.text.vocabSize);
const syncDebug = (backend as { setSyncDebug?: (on: boolean) => void }).setSyncDebug;

const runs = Math.max(1, Number(values.runs));
for (let i = 0; i < runs; i++) {
  const last = i === runs - 1;
  if (last && values.sync) syncDebug?.call(backend, true);
  if (last) startProfile({ shapes: values.shapes });
  // every tensor of the forward is freed when the timed region ends
  const ms = await tidyAsync(async () => {
    await backend.sync();
    const t0 = performance.now();
    await noGrad(() => net.forward(clip, caps, [[spec.h, spec.w]]));
    await backend.sync();
    return performance.now() - t0;
  });
  const rows = last ? stopProfile() : [];
  console.log(`run ${i + 1}: ${ms.toFixed(1)} ms${last && values.sync ? " (synchronised)" : ""}`);
  if (last) {
    const kernels = rows.reduce((s, r) => s + r.ms, 0);
    console.log(formatProfile(sumByKernel(rows), 40));
    if (values.shapes) console.log(formatProfile(rows, 30));
    console.log(`host time between kernels: ${(ms - kernels).toFixed(1)} ms`);
  }
}
