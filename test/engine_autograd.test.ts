/** Autograd semantics (seeds, accumulation, noGrad, detach, broadcasting, shared inputs) and memory. */
import { describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Tensor } from "../mod.ts";
import { assertClose, uniform } from "./helpers/numeric.ts";

const t = (v: number[], shape?: number[]) => T.tensor(v, shape ?? [v.length]);
const leaf = (v: number[], shape?: number[]) => t(v, shape).requireGrad();
const grad = (x: Tensor) => {
  if (!x.grad) throw new Error("no gradient");
  return Array.from(x.grad.dataSync());
};

describe("backward", () => {
  test("a scalar output seeds with 1", () => {
    const x = leaf([1, -2, 3]);
    T.sum(T.mul(x, x)).backward();
    assertClose(grad(x), [2, -4, 6]);
    expect(x.grad!.shape).toEqual([3]);
  });

  test("a non-scalar output takes an explicit gradient of its shape", () => {
    const x = leaf([1, 2, 3, 4], [2, 2]);
    const y = T.mul(x, 3);
    expect(() => y.backward()).toThrow(/\[2, 2\].*pass a gradient/);
    expect(() => y.backward(t([1, 2, 3]))).toThrow(
      /gradient \[3\] f32 does not match output \[2, 2\]/,
    );
    y.backward(t([1, 0, -1, 2], [2, 2]));
    assertClose(grad(x), [3, 0, -3, 6]);
  });

  test("a one-element output of any rank seeds with 1; backward on the leaf itself", () => {
    const x = leaf([2], [1, 1]);
    T.mul(x, 5).backward();
    assertClose(grad(x), [5]);
    const y = leaf([7], []);
    y.backward();
    assertClose(grad(y), [1]);
  });

  test("gradients accumulate into .grad across backward calls", () => {
    const x = leaf([1, 2]);
    T.sum(T.mul(x, x)).backward();
    T.sum(T.mul(x, 10)).backward();
    assertClose(grad(x), [12, 14]);
    x.grad!.dispose();
    x.grad = null;
    T.sum(x).backward();
    assertClose(grad(x), [1, 1]);
  });

  test("only leaves that require grad receive .grad; intermediates and constants do not", () => {
    const x = leaf([1, 2]);
    const c = t([3, 4]);
    const h = T.mul(x, c);
    T.sum(h).backward();
    assertClose(grad(x), [3, 4]);
    expect(c.grad).toBeNull();
    expect(h.grad).toBeNull();
    expect(h.requiresGrad).toBe(false);
    expect(h.node?.op).toBe("mul");
  });

  test("requireGrad: float only, can be switched off", () => {
    expect(() => T.tensor([1], [1], { dtype: "i32" }).requireGrad()).toThrow(/only float tensors/);
    const x = leaf([1]).requireGrad(false);
    expect(T.mul(x, 2).node).toBeNull();
    expect(T.tensor([1], [1], { dtype: "f64" }).requireGrad().requiresGrad).toBe(true);
  });

  test("broadcast inputs receive gradients reduced to their own shapes", () => {
    const a = leaf([1, 2, 3], [3, 1]);
    const b = leaf([10, 20, 30, 40], [4]);
    const s = leaf([2], []);
    const y = T.mul(T.add(a, b), s); // [3, 4]
    y.backward(T.onesLike(y));
    expect(a.grad!.shape).toEqual([3, 1]);
    expect(b.grad!.shape).toEqual([4]);
    expect(s.grad!.shape).toEqual([]);
    assertClose(grad(a), [8, 8, 8]);
    assertClose(grad(b), [6, 6, 6, 6]);
    assertClose(grad(s), [3 * 100 + 4 * 6]);
  });

  test("size-1 axes in the middle are reduced too (keep their rank)", () => {
    const a = leaf([1, 2], [2, 1, 1]);
    const b = leaf(uniform(12, 3), [2, 3, 2]);
    T.sum(T.mul(a, b)).backward();
    const bv = b.dataSync();
    assertClose(
      grad(a),
      [0, 1].map((i) => Array.from(bv.slice(6 * i, 6 * i + 6)).reduce((p, q) => p + q)),
    );
  });

  test("diamond graph: x used by two branches that meet again", () => {
    const x = leaf([1, -2, 0.5]);
    const a = T.mul(x, 2);
    const b = T.mul(x, 3);
    T.sum(T.mul(a, b)).backward(); // 6 x^2
    assertClose(grad(x), [12, -24, 6]);
  });

  test("the same tensor twice in one op, and a shared intermediate", () => {
    const x = leaf([0.5, 1]);
    T.sum(T.mul(x, x)).backward();
    assertClose(grad(x), [1, 2]);
    const z = leaf([0.5, 1]);
    const h = T.exp(z);
    T.sum(T.add(T.mul(h, h), h)).backward(); // d/dz (e^2z + e^z)
    assertClose(grad(z), [0.5, 1].map((v) => 2 * Math.exp(2 * v) + Math.exp(v)), { rtol: 1e-6 });
  });

  test("multi-output op: gradient flows through the values of sort", () => {
    const x = leaf([3, 1, 2]);
    const [v, i] = T.sort(x);
    expect(i.dtype).toBe("i32");
    v.backward(t([10, 20, 30]));
    assertClose(grad(x), [30, 10, 20]);
  });

  test("a leaf with no path to the output gets no gradient", () => {
    const x = leaf([1]);
    const unused = leaf([2]);
    T.sum(T.mul(x, 2)).backward();
    expect(unused.grad).toBeNull();
  });

  test("casting to an integer type cuts the gradient; float casts pass it", () => {
    const x = leaf([1.5, 2.5]);
    T.sum(T.cast(T.cast(x, "i32"), "f32")).backward();
    expect(x.grad).toBeNull();
    const z = T.cast(x, "f64");
    T.sum(T.mul(z, 2)).backward();
    expect(x.grad!.dtype).toBe("f32");
    assertClose(grad(x), [2, 2]);
  });

  test("ties: max shares the gradient evenly, maximum splits it in half", () => {
    const x = leaf([1, 3, 3, 0]);
    T.max(x).backward();
    assertClose(grad(x), [0, 0.5, 0.5, 0]);
    const a = leaf([1, 2]);
    const b = leaf([1, 0]);
    T.sum(T.maximum(a, b)).backward();
    assertClose(grad(a), [0.5, 1]);
    assertClose(grad(b), [0.5, 0]);
  });

  test("kinks take PyTorch's subgradients: relu'(0) = 0, abs'(0) = 0", () => {
    const x = leaf([0, 0]);
    T.sum(T.add(T.relu(x), T.abs(x))).backward();
    assertClose(grad(x), [0, 0]);
  });
});

describe("noGrad and detach", () => {
  test("noGrad records nothing and restores the previous mode, even on throw", () => {
    const x = leaf([1, 2]);
    const y = T.noGrad(() => {
      expect(T.isGradEnabled()).toBe(false);
      return T.mul(x, 2);
    });
    expect(T.isGradEnabled()).toBe(true);
    expect(y.node).toBeNull();
    T.sum(y).backward();
    expect(x.grad).toBeNull();
    expect(() =>
      T.noGrad(() => {
        throw new Error("boom");
      })
    ).toThrow("boom");
    expect(T.isGradEnabled()).toBe(true);
    T.noGrad(() => T.noGrad(() => 0));
    expect(T.isGradEnabled()).toBe(true);
  });

  test("detach shares the values and stops the gradient", () => {
    const x = leaf([1, 2, 3]);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.node).toBeNull();
    assertClose(d.dataSync(), [1, 2, 3]);
    T.sum(T.mul(d, x)).backward(); // gradient only through the second factor
    assertClose(grad(x), [1, 2, 3]);
  });
});

describe("memory", () => {
  test("tidy disposes intermediates, keeps returned and kept tensors", () => {
    const before = T.liveTensorCount();
    let inner!: Tensor;
    let kept!: Tensor;
    const out = T.tidy(() => {
      inner = T.mul(t([1, 2]), 2);
      kept = T.keep(T.add(inner, 1));
      return { y: T.exp(inner), z: T.neg(inner) };
    });
    const list = T.tidy(() => [T.exp(t([1])), T.neg(t([2]))]);
    expect(inner.isDisposed).toBe(true);
    expect(kept.isDisposed).toBe(false);
    expect(out.y.isDisposed || out.z.isDisposed || list.some((x) => x.isDisposed)).toBe(false);
    expect(T.liveTensorCount()).toBe(before + 5);
    for (const x of [kept, out.y, out.z, ...list]) x.dispose();
    expect(T.liveTensorCount()).toBe(before);
  });

  test("nested tidy moves returned tensors to the outer scope", () => {
    const before = T.liveTensorCount();
    let mid!: Tensor;
    T.tidy(() => {
      mid = T.tidy(() => T.add(T.mul(t([1]), 2), 1));
      expect(mid.isDisposed).toBe(false);
    });
    expect(mid.isDisposed).toBe(true);
    expect(T.liveTensorCount()).toBe(before);
  });

  test("freeAfter frees a block's temporaries without gradients and keeps them with", () => {
    const x = leaf([1, 2, 3]);
    let inner!: Tensor;
    const block = () => {
      inner = T.mul(x, 2);
      return T.exp(inner);
    };
    const y = T.noGrad(() => T.freeAfter(block));
    expect(inner.isDisposed).toBe(true);
    assertClose(y.dataSync(), [2, 4, 6].map(Math.exp), { rtol: 1e-6 });
    const z = T.freeAfter(block); // recording: the graph needs `inner`
    expect(inner.isDisposed).toBe(false);
    T.sum(z).backward();
    assertClose(grad(x), [2, 4, 6].map((v) => 2 * Math.exp(v)), { rtol: 1e-5 });
    for (const u of [x, y, z, inner]) u.dispose();
  });

  test("freeInput disposes the input only when no gradient is recorded", () => {
    const a = t([1, -2]);
    const r = T.noGrad(() => T.freeInput(a, T.relu(a)));
    expect(a.isDisposed).toBe(true);
    assertClose(r.dataSync(), [1, 0]);
    const b = leaf([1, -2]);
    const s = T.freeInput(b, T.relu(b));
    expect(b.isDisposed).toBe(false);
    T.sum(s).backward();
    assertClose(grad(b), [1, 0]);
    for (const u of [r, b, s, b.grad!]) u.dispose();
  });

  test("a large host buffer is given back on dispose, a small one is left to the collector", () => {
    const big = T.zeros([1 << 19]); // 2 MiB of f32
    const small = T.zeros([16]);
    const [bigBuf, smallBuf] = [big.buf, small.buf] as Float32Array[];
    big.dispose();
    small.dispose();
    expect(bigBuf.byteLength).toBe(0);
    expect(smallBuf.length).toBe(16);
  });

  test("dispose is idempotent; reshapes share storage until all are disposed", () => {
    const x = t([1, 2, 3, 4]);
    const r = T.reshape(x, [2, 2]);
    x.dispose();
    x.dispose();
    assertClose(r.dataSync(), [1, 2, 3, 4]);
    r.dispose();
    expect(() => r.dataSync()).toThrow(/used after dispose/);
  });

  test("1000 tidy'd training steps of a tiny MLP keep liveTensorCount flat", () => {
    const X = T.tensor(uniform(32, 1), [8, 4]);
    const Y = T.tensor(uniform(8, 2), [8, 1]);
    let params = [
      T.tensor(uniform(64, 3, -0.5, 0.5), [4, 16]),
      T.zeros([16]),
      T.tensor(uniform(16, 4, -0.5, 0.5), [16, 1]),
      T.zeros([1]),
    ].map((p) => p.requireGrad());
    const losses: number[] = [];
    const step = () => {
      const next = T.tidy(() => {
        const [w1, b1, w2, b2] = params;
        const h = T.relu(T.add(T.matmul(X, w1), b1));
        const err = T.sub(T.add(T.matmul(h, w2), b2), Y);
        const loss = T.mean(T.mul(err, err));
        loss.backward();
        losses.push(loss.dataSync()[0]);
        return T.noGrad(() => params.map((p) => T.sub(p, T.mul(p.grad!, 0.1))));
      });
      for (const p of params) {
        p.grad?.dispose();
        p.dispose();
      }
      params = next.map((p) => p.requireGrad());
    };
    for (let i = 0; i < 10; i++) step();
    const live = T.liveTensorCount();
    for (let i = 0; i < 1000; i++) {
      step();
      if (i % 100 === 99) expect(T.liveTensorCount()).toBe(live);
    }
    expect(T.liveTensorCount()).toBe(live);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.5);
  });
});
