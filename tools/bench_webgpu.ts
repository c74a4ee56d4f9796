/**
 * WebGPU backend micro-benchmarks: matmul, conv2d, softmax, layer_norm and per-op dispatch
 * overhead. Times with timestamp queries when the device has them (GPU time of the compute
 * passes), else with a fenced wall clock (await sync).
 *
 *   deno run -A tools/bench_webgpu.ts [--quick] [--wall] [--kernels] [--cpu]
 *
 * --kernels also times 1024^3 with each matmul kernel (tiled / rows / ubo / image); --cpu
 * times the CPU reference backend's matmul and softmax under the same machine load, for
 * context. On CPU adapters the image matmul copies row-major operands into textures between
 * passes; timestamps do not cover those copies (a few percent of a large product), the wall
 * clock does.
 */
import * as T from "../mod.ts";
import type { Tensor } from "../mod.ts";
import { webgpuBackend } from "../src/backend/webgpu/mod.ts";

const args = new Set(Deno.args);
const quick = args.has("--quick");
const forceWall = args.has("--wall");
const kernels = args.has("--kernels");
const withCpu = args.has("--cpu");

const gpu = await webgpuBackend();
const rt = gpu.runtime;
const useTimestamps = rt.hasTimestamps && !forceWall;

/** Milliseconds per call of `fn` (which records GPU work and returns tensors to free). */
async function time(
  fn: () => Tensor[] | Tensor,
  reps: number,
): Promise<{ gpu: number | null; wall: number }> {
  const run = () => {
    const out = fn();
    for (const t of Array.isArray(out) ? out : [out]) t.dispose();
  };
  run();
  await gpu.sync();
  let gpuMs: number | null = null;
  if (useTimestamps) {
    const ms = await rt.gpuTime(() => {
      for (let i = 0; i < reps; i++) run();
    });
    await gpu.sync();
    gpuMs = ms === null ? null : ms / reps;
  }
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await gpu.sync();
  return { gpu: gpuMs, wall: (performance.now() - t0) / reps };
}

interface Row {
  name: string;
  value: number;
  unit: string;
  ms: number;
  clock: string;
}

const rows: Row[] = [];
function report(name: string, t: { gpu: number | null; wall: number }, work: number, unit: string) {
  const ms = t.gpu ?? t.wall;
  rows.push({
    name,
    value: work / (ms / 1e3),
    unit,
    ms,
    clock: t.gpu !== null ? "timestamp" : "wall",
  });
  const last = rows[rows.length - 1];
  console.log(
    `${name.padEnd(34)} ${last.value.toFixed(2).padStart(9)} ${unit.padEnd(8)} ${
      ms.toFixed(3).padStart(10)
    } ms  (${last.clock}${t.gpu !== null ? `, wall ${t.wall.toFixed(3)} ms` : ""})`,
  );
}

const b = { backend: gpu };
const gen = new T.Generator(1);
const rand = (shape: number[]) => T.keep(T.sub(T.rand(shape, { ...b, generator: gen }), 0.5));

console.log(
  `device: ${gpu.context.description}${gpu.context.isFallback ? " (software adapter)" : ""}`,
);
console.log(`timing: ${useTimestamps ? "timestamp queries" : "fenced wall clock"}\n`);

for (const n of quick ? [512, 1024] : [1024, 2048]) {
  const x = rand([n, n]);
  const y = rand([n, n]);
  const t = await time(() => T.matmul(x, y), n >= 2048 ? 2 : 4);
  report(`matmul ${n}x${n}x${n}`, t, 2 * n ** 3 / 1e9, "GFLOP/s");
  x.dispose();
  y.dispose();
}

if (kernels) {
  const n = 1024;
  const x = rand([n, n]);
  const y = rand([n, n]);
  for (const k of ["tiled", "rows", "ubo", "image"] as const) {
    (rt.options as { matmul: string }).matmul = k;
    const t = await time(() => T.matmul(x, y), 2);
    report(`matmul ${n}^3, ${k} kernel`, t, 2 * n ** 3 / 1e9, "GFLOP/s");
  }
  rt.options.matmul = "auto";
  x.dispose();
  y.dispose();
}

if (withCpu) {
  const cpu = T.getBackend("cpu");
  const n = 1024;
  const x = T.rand([n, n], { backend: cpu });
  const y = T.rand([n, n], { backend: cpu });
  let t0 = performance.now();
  T.matmul(x, y).dispose();
  const ms = performance.now() - t0;
  rows.push({ name: "cpu", value: 0, unit: "", ms, clock: "wall" });
  console.log(
    `${`cpu reference matmul ${n}^3`.padEnd(34)} ${
      (2 * n ** 3 / 1e9 / (ms / 1e3)).toFixed(2).padStart(9)
    } GFLOP/s  ${ms.toFixed(3).padStart(10)} ms  (wall)`,
  );
  const s2 = T.rand([4096, 1024], { backend: cpu });
  t0 = performance.now();
  T.softmax(s2, -1).dispose();
  const sm = performance.now() - t0;
  console.log(
    `${"cpu reference softmax [4096, 1024]".padEnd(34)} ${
      (2 * 4096 * 1024 * 4 / 1e9 / (sm / 1e3)).toFixed(2).padStart(9)
    } GB/s     ${sm.toFixed(3).padStart(10)} ms  (wall)`,
  );
}

{
  const C = 256;
  const H = 64;
  const x = rand([1, C, H, H]);
  const w = rand([C, C, 3, 3]);
  const t = await time(() => T.conv2d(x, w, null, { padding: 1 }), quick ? 1 : 2);
  const flops = (2 * C * C * 9 * H * H) / 1e9;
  report(`conv2d 3x3 ${C}->${C} @ ${H}x${H}`, t, flops, "GFLOP/s");
  // input and weight gradients: two GEMMs of the forward's size
  const grads = await time(() => {
    const xg = T.keep(x.detach());
    xg.requireGrad();
    const wg = T.keep(w.detach());
    wg.requireGrad();
    T.tidy(() => T.sum(T.conv2d(xg, wg, null, { padding: 1 })).backward());
    return [xg.grad!, wg.grad!, xg, wg];
  }, quick ? 1 : 2);
  report(`conv2d 3x3 ${C}->${C} fwd + bwd`, grads, 3 * flops, "GFLOP/s");
  x.dispose();
  w.dispose();
}

{
  const [r, c] = [4096, 1024];
  const x = rand([r, c]);
  const t = await time(() => T.softmax(x, -1), 5);
  report(`softmax [${r}, ${c}]`, t, (2 * r * c * 4) / 1e9, "GB/s");
  const w = T.keep(T.ones([c], b));
  const bias = T.keep(T.zeros([c], b));
  const tl = await time(() => T.tidy(() => T.layerNorm(x, [c], w, bias)), 3);
  report(`layer_norm [${r}, ${c}]`, tl, (2 * r * c * 4) / 1e9, "GB/s");
  for (const t2 of [x, w, bias]) t2.dispose();
}

{
  // one dispatch per op (same-shape operands), CPU-side encode cost and fenced total
  const x = T.keep(T.ones([64], b));
  const n = quick ? 300 : 2000;
  let y = T.add(x, x);
  await y.data();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const next = T.add(y, x);
    y.dispose();
    y = next;
  }
  const encode = (performance.now() - t0) / n;
  await y.data();
  const total = (performance.now() - t0) / n;
  y.dispose();
  x.dispose();
  console.log(
    `${"dispatch overhead (add, 64 elems)".padEnd(34)} ${
      (total * 1e3).toFixed(1).padStart(9)
    } us/op` +
      `    (encode ${(encode * 1e3).toFixed(1)} us/op)`,
  );
}

const s = gpu.stats();
console.log(
  `\npipelines ${s.pipelines}, dispatches ${s.dispatches}, submits ${s.submits}, ` +
    `GPU memory ${(s.allocatedBytes / 2 ** 20).toFixed(1)} MiB (${
      (s.pooledBytes / 2 ** 20).toFixed(1)
    } pooled)`,
);
