/** Primitive ops: matmul, conv2d, reductions, softmax, layer_norm, strided copy. */
import { conv2d, layerNorm, matmul, neg, permute, rand, softmax, sum } from "../../src/ops/mod.ts";
import type { Backend } from "../../src/backend/backend.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import { type BenchCase, matmulFlops, shapeStr, type Suite } from "./types.ts";

const F32 = 4;

function inputs(backend: Backend, ...shapes: number[][]): Tensor[] {
  return shapes.map((s) => rand(s, { backend }));
}

const disposeAll = (ts: Tensor[]) => () => ts.forEach((t) => t.dispose());

export function matmulCase(backend: Backend, n: number): BenchCase {
  return {
    name: `matmul ${n}`,
    shape: `${shapeStr(n, n)} x ${shapeStr(n, n)}`,
    flops: matmulFlops(n, n, n),
    bytes: 3 * n * n * F32,
    efficiency: { cpu: n >= 1024 ? 0.4 : 0.8 },
    note: "2n^3",
    setup() {
      const [a, b] = inputs(backend, [n, n], [n, n]);
      return { run: () => matmul(a, b), dispose: disposeAll([a, b]) };
    },
  };
}

/** A memcpy-like elementwise op: read n floats, write n floats. */
export function copyCase(backend: Backend, n: number): BenchCase {
  return {
    name: `copy ${n >= 1 << 20 ? `${n >> 20}M` : n} f32`,
    shape: shapeStr(n),
    bytes: 2 * n * F32,
    efficiency: { cpu: 0.5 },
    note: "neg(x): read + write",
    setup() {
      const [x] = inputs(backend, [n]);
      return { run: () => neg(x), dispose: disposeAll([x]) };
    },
  };
}

const DISPATCH_OPS = 1000;

/** Launch overhead: a chain of 1000 negations of a 256-float tensor; median / 1000 = per op. */
export function dispatchCase(backend: Backend): BenchCase {
  return {
    name: `dispatch ${DISPATCH_OPS} tiny ops`,
    shape: `${DISPATCH_OPS} x neg(${shapeStr(256)})`,
    efficiency: { cpu: 0.5 },
    note: `per-op launch overhead = median / ${DISPATCH_OPS}`,
    setup() {
      const [x] = inputs(backend, [256]);
      const run = () => {
        let y = neg(x);
        for (let i = 1; i < DISPATCH_OPS; i++) {
          const next = neg(y);
          y.dispose();
          y = next;
        }
        return y;
      };
      return { run, dispose: disposeAll([x]) };
    },
  };
}

export const primitives: Suite = {
  name: "primitives",
  title: "Primitive ops",
  cases({ backend, quick }) {
    const sizes = quick ? [32, 64] : [256, 512, 1024, 2048];
    const cases: BenchCase[] = sizes.map((n) => matmulCase(backend, n));

    const [cin, cout, hw] = quick ? [8, 8, 8] : [256, 256, 64];
    cases.push({
      name: `conv2d 3x3 ${cin}->${cout}`,
      shape: `${shapeStr(1, cin, hw, hw)} * ${shapeStr(cout, cin, 3, 3)} pad 1`,
      flops: 2 * cout * hw * hw * cin * 9,
      bytes: (cin * hw * hw + cout * cin * 9 + cout * hw * hw) * F32,
      efficiency: { cpu: 0.4 },
      note: "2 * O*H*W * C*9",
      setup() {
        const [x, w] = inputs(backend, [1, cin, hw, hw], [cout, cin, 3, 3]);
        return { run: () => conv2d(x, w, null, { padding: 1 }), dispose: disposeAll([x, w]) };
      },
    });

    const [rows, cols] = quick ? [64, 64] : [4096, 4096];
    const n = rows * cols;
    for (const axis of [1, 0]) {
      cases.push({
        name: `sum axis ${axis}`,
        shape: shapeStr(rows, cols),
        flops: n,
        bytes: (n + (axis === 1 ? rows : cols)) * F32,
        efficiency: { cpu: 0.3 },
        note: "one add per element",
        setup() {
          const [x] = inputs(backend, [rows, cols]);
          return { run: () => sum(x, axis), dispose: disposeAll([x]) };
        },
      });
    }
    cases.push({
      name: "softmax last axis",
      shape: shapeStr(rows, cols),
      bytes: 2 * n * F32,
      efficiency: { cpu: 0.05 },
      note: "bytes: read x, write y",
      setup() {
        const [x] = inputs(backend, [rows, cols]);
        return { run: () => softmax(x, -1), dispose: disposeAll([x]) };
      },
    });

    const [tok, ch] = quick ? [64, 32] : [24100, 256];
    cases.push({
      name: `layer_norm ${ch}`,
      shape: shapeStr(tok, ch),
      bytes: (2 * tok * ch + 2 * ch) * F32,
      efficiency: { cpu: 0.03 },
      note: "bytes: read x, gamma, beta, write y",
      setup() {
        const [x, g, b] = inputs(backend, [tok, ch], [ch], [ch]);
        return { run: () => layerNorm(x, [ch], g, b), dispose: disposeAll([x, g, b]) };
      },
    });

    const nchw = quick ? [1, 8, 6, 10] : [5, 256, 90, 160];
    const count = nchw.reduce((a, b) => a * b, 1);
    cases.push({
      name: "strided copy NCHW->NHWC",
      shape: shapeStr(...nchw),
      bytes: 2 * count * F32,
      efficiency: { cpu: 0.2 },
      note: "permute [0, 2, 3, 1]: read + write",
      setup() {
        const [x] = inputs(backend, nchw);
        return { run: () => permute(x, [0, 2, 3, 1]), dispose: disposeAll([x]) };
      },
    });
    cases.push(copyCase(backend, quick ? 1 << 16 : 1 << 24));
    cases.push(dispatchCase(backend));
    return cases;
  },
};
