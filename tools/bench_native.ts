/**
 * Native backend benchmark: sgemm 1024^3 / 2048^3 and a 3x3 conv 256->256 at 64x64 (forward,
 * input grad, weight grad), against the TypeScript cpu backend and, when
 * `/usr/bin/python3 -c 'import torch'` works, PyTorch with torch.set_num_threads(threads).
 *
 *   deno run -A tools/bench_native.ts [--threads=2] [--isa=avx2] [--reps=5]
 *     [--no-cpu] [--no-torch] [--no-ops] [--cpu-2048] [--python=/usr/bin/python3]
 *     [--json=out.json]
 *
 * A second table times memory-bound and transcendental ops through the engine (allocation
 * and dispatch included) on both backends.
 *
 * GFLOP/s counts 2 M N K for a matmul and 2 N O OH OW C KH KW for each conv pass.
 */
import process from "node:process";
import * as T from "../mod.ts";
import type { Backend, Tensor } from "../mod.ts";
import { createNativeBackend, type IsaName } from "../src/backend/native/mod.ts";

const arg = (name: string) =>
  Deno.args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`))?.split("=")[1] ??
    (Deno.args.includes(`--${name}`) ? "" : undefined);

const threads = Number(arg("threads") ?? 2);
const reps = Number(arg("reps") ?? 5);
const python = arg("python") ?? "/usr/bin/python3";

const nat = await createNativeBackend();
T.registerBackend(nat);
if (arg("isa")) nat.lib.setIsa(arg("isa") as IsaName);
nat.lib.setThreads(threads);
const cpu = T.getBackend("cpu");

interface Row {
  name: string;
  gflop: number;
  native?: number;
  /** GFLOP per (process CPU second / threads): what the run gives when it has the cores. */
  nativeCpu?: number;
  nativeOp?: number;
  cpu?: number;
  torch?: number;
}

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** CPU seconds of the whole process (every thread). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

let lastCpu = Infinity;

/**
 * Best wall time (seconds) of `reps` runs after one warm-up; `lastCpu` gets the smallest
 * process CPU time of a run divided by the thread count (the wall time on idle cores).
 */
function best(fn: () => void, n = reps, par = 1): number {
  fn();
  let t = Infinity;
  lastCpu = Infinity;
  for (let i = 0; i < n; i++) {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    fn();
    t = Math.min(t, (performance.now() - t0) / 1000);
    lastCpu = Math.min(lastCpu, (cpuSeconds() - c0) / par);
  }
  return t;
}

function sgemmRow(n: number, withCpu: boolean): Row {
  const gflop = (2 * n * n * n) / 1e9;
  const a = rand(n * n, 1);
  const b = rand(n * n, 2);
  const c = new Float32Array(n * n);
  const row: Row = { name: `sgemm ${n}^3`, gflop };
  const s = nat.lib.symbols;
  const N = BigInt(n);
  row.native = gflop / best(() => s.dmf_sgemm(0, 0, N, N, N, a, N, b, N, c, N, 0), reps, threads);
  row.nativeCpu = gflop / lastCpu;
  // through the engine: T.matmul on the native backend (allocation + dispatch included)
  const run = (be: Backend) => () =>
    T.tidy(() => {
      T.matmul(T.tensor(a, [n, n], { backend: be }), T.tensor(b, [n, n], { backend: be }));
    });
  row.nativeOp = gflop / best(run(nat));
  if (withCpu) row.cpu = gflop / best(run(cpu), 1);
  return row;
}

const CONV = { N: 1, C: 256, O: 256, H: 64, W: 64, K: 3 };

function convRows(withCpu: boolean): Row[] {
  const { N, C, O, H, W, K } = CONV;
  const gflop = (2 * N * O * H * W * C * K * K) / 1e9;
  const xv = rand(N * C * H * W, 3);
  const wv = rand(O * C * K * K, 4);
  const gv = rand(N * O * H * W, 5);
  const passes = (be: Backend) => {
    const x = T.tensor(xv, [N, C, H, W], { backend: be });
    const w = T.tensor(wv, [O, C, K, K], { backend: be });
    const g = T.tensor(gv, [N, O, H, W], { backend: be });
    const attrs = {
      stride: [1, 1],
      padding: [1, 1],
      dilation: [1, 1],
      groups: 1,
      outSize: [H, W],
    };
    const fwd = () => T.tidy(() => void T.conv2d(x, w, null, { padding: 1 }));
    const dx = () =>
      T.tidy(() => void T.apply1("conv2d_input_grad", [g, w], { ...attrs, inputShape: x.shape }));
    const dw = () =>
      T.tidy(() => void T.apply1("conv2d_weight_grad", [x, g], { ...attrs, weightShape: w.shape }));
    return { fwd, dx, dw, dispose: () => [x, w, g].forEach((t: Tensor) => t.dispose()) };
  };
  const rows: Row[] = [];
  const n = passes(nat);
  const c = withCpu ? passes(cpu) : undefined;
  const label = `conv 3x3 ${C}->${O} @${H}x${W}`;
  for (const k of ["fwd", "dx", "dw"] as const) {
    const row: Row = { name: `${label} ${k}`, gflop };
    row.native = gflop / best(n[k], reps, threads);
    row.nativeCpu = gflop / lastCpu;
    if (c) row.cpu = gflop / best(c[k], 1);
    rows.push(row);
  }
  n.dispose();
  c?.dispose();
  return rows;
}

const TORCH_SCRIPT = `
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
reps = int(sys.argv[2])
def best(fn):
    fn()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); t = min(t, time.perf_counter() - t0)
    return t
out = {"version": torch.__version__, "threads": torch.get_num_threads()}
with torch.no_grad():
    for n in (1024, 2048):
        a = torch.randn(n, n); b = torch.randn(n, n)
        out[f"sgemm {n}^3"] = 2 * n**3 / 1e9 / best(lambda: torch.mm(a, b))
    x = torch.randn(1, 256, 64, 64); w = torch.randn(256, 256, 3, 3); g = torch.randn(1, 256, 64, 64)
    fl = 2 * 256 * 64 * 64 * 256 * 9 / 1e9
    name = "conv 3x3 256->256 @64x64"
    out[name + " fwd"] = fl / best(lambda: torch.nn.functional.conv2d(x, w, padding=1))
    out[name + " dx"] = fl / best(lambda: torch.nn.grad.conv2d_input(x.shape, w, g, padding=1))
    out[name + " dw"] = fl / best(lambda: torch.nn.grad.conv2d_weight(x, w.shape, g, padding=1))
print(json.dumps(out))
`;

async function torchNumbers(): Promise<Record<string, number | string> | string> {
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", TORCH_SCRIPT, String(threads), String(Math.max(2, Math.min(reps, 3)))],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      const err = new TextDecoder().decode(r.stderr).trim().split("\n").pop();
      return `python/torch failed: ${err}`;
    }
    return JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
  } catch (e) {
    return `no ${python}: ${e instanceof Error ? e.message : e}`;
  }
}

const withCpu = arg("no-cpu") === undefined;
console.log(
  `native: isa ${nat.lib.isa()} (best ${nat.lib.bestIsa()}), ${nat.lib.threads()} threads; ` +
    `${navigator.hardwareConcurrency} CPUs; ${nat.lib.path}`,
);
const rows: Row[] = [
  sgemmRow(1024, withCpu),
  sgemmRow(2048, withCpu && arg("cpu-2048") !== undefined),
  ...convRows(withCpu),
];
let torchInfo = "torch: skipped (--no-torch)";
if (arg("no-torch") === undefined) {
  const t = await torchNumbers();
  if (typeof t === "string") {
    torchInfo = `torch: ${t}`;
  } else {
    torchInfo = `torch ${t.version}, ${t.threads} threads`;
    for (const r of rows) if (typeof t[r.name] === "number") r.torch = t[r.name] as number;
  }
}
console.log(torchInfo);
console.log(
  `load average ${Deno.loadavg().map((v) => v.toFixed(2)).join(" ")} (other processes share ` +
    `the cores: the CPU-time column divides each run's process CPU time by ${threads} threads)`,
);

const f = (v?: number) => (v === undefined ? "-" : v.toFixed(1));
const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : "-");
const table = rows.map((r) => ({
  bench: r.name,
  "native GFLOP/s": f(r.native),
  "native, CPU-time based": f(r.nativeCpu),
  "native via T.matmul": f(r.nativeOp),
  "cpu (TS)": f(r.cpu),
  torch: f(r.torch),
  "native/cpu": ratio(r.native, r.cpu),
  "native/torch": ratio(r.native, r.torch),
}));
console.table(table);

/** Memory-bound and transcendental ops through the engine (allocation included), in ms. */
function opRows(): Record<string, string>[] {
  const n = 1 << 22;
  const v = rand(n, 9).map((x) => 8 * x);
  const ops: [string, (x: Tensor, y: Tensor) => Tensor][] = [
    ["add 4M", (x, y) => T.add(x, y)],
    [
      "mul 4096x1024 by a row",
      (x, y) => T.mul(T.reshape(x, [4096, 1024]), T.slice(y, [[0, 1024]])),
    ],
    ["gelu 4M", (x) => T.gelu(x)],
    ["exp 4M", (x) => T.exp(x)],
    ["softmax 4096x1024", (x) => T.softmax(T.reshape(x, [4096, 1024]))],
    ["sum rows 4096x1024", (x) => T.sum(T.reshape(x, [4096, 1024]), -1)],
    ["permute 64x256x256 (0,2,1)", (x) => T.permute(T.reshape(x, [64, 256, 256]), [0, 2, 1])],
  ];
  return ops.map(([name, op]) => {
    const time = (be: Backend, r: number) => {
      const x = T.tensor(v, [n], { backend: be });
      const y = T.tensor(v.slice().reverse(), [n], { backend: be });
      const t = best(() => T.tidy(() => void op(x, y)), r);
      x.dispose();
      y.dispose();
      return t * 1000;
    };
    const tn = time(nat, reps);
    const tc = withCpu ? time(cpu, 1) : undefined;
    return {
      op: name,
      "native ms": tn.toFixed(2),
      "cpu (TS) ms": tc === undefined ? "-" : tc.toFixed(2),
      "cpu/native": tc === undefined ? "-" : `${(tc / tn).toFixed(1)}x`,
    };
  });
}
if (arg("no-ops") === undefined) console.table(opRows());

const json = arg("json");
if (json) {
  await Deno.writeTextFile(
    json,
    JSON.stringify(
      { isa: nat.lib.isa(), threads, torch: torchInfo, loadavg: Deno.loadavg(), rows },
      null,
      2,
    ),
  );
}
