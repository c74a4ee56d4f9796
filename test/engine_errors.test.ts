/** Bad arguments raise errors that name the op and the shapes involved. */
import { describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import { type Backend, ShapeError } from "../mod.ts";

const z = (...shape: number[]) => T.zeros(shape);
const i32 = (v: number[], shape?: number[]) => T.tensor(v, shape ?? [v.length], { dtype: "i32" });

/** Asserts `fn` throws a message containing every fragment (literally). */
function throwsWith(fn: () => unknown, ...fragments: string[]): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error containing ${fragments.join(" / ")}`).toBeInstanceOf(Error);
  const msg = (err as Error).message;
  for (const f of fragments) expect(msg, msg).toContain(f);
  return err as Error;
}

describe("shape errors name the op and the shapes", () => {
  test("elementwise broadcasting", () => {
    const e = throwsWith(() => T.add(z(2, 3), z(4)), "add", "[2, 3]", "[4]");
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.name).toBe("ShapeError");
    throwsWith(() => T.mul(z(4), z(2, 3)), "mul", "[4]", "[2, 3]");
    throwsWith(() => T.where(T.ones([2], { dtype: "bool" }), z(3), 0), "where", "[2]", "[3]");
  });

  test("matmul inner mismatch, 1-D operands, batch mismatch, scalars", () => {
    throwsWith(() => T.matmul(z(2, 3), z(4, 5)), "matmul", "[2, 3]", "[4, 5]");
    throwsWith(() => T.matmul(z(3), z(4)), "matmul", "[3] @ [4]");
    throwsWith(() => T.matmul(z(2, 3), z(4)), "matmul", "[2, 3] @ [4]");
    throwsWith(() => T.matmul(z(2, 2, 3), z(3, 3, 4)), "matmul", "[2]", "[3]");
    throwsWith(() => T.matmul(z(), z(3)), "matmul", "[]");
  });

  test("cross-entropy labels and row weights must match the logits' rows", () => {
    throwsWith(() => T.crossEntropy(z(4, 3), i32([0, 1, 2])), "cross_entropy", "[4, 3]", "[3]");
    throwsWith(
      () => T.crossEntropy(z(4, 3), i32([0, 1, 2, 0]), z(3)),
      "cross_entropy",
      "weights [3]",
      "[4, 3]",
    );
  });

  test("conv2d channel / group mismatch and rank", () => {
    throwsWith(
      () => T.conv2d(z(1, 3, 5, 5), z(2, 4, 3, 3)),
      "conv2d",
      "[1, 3, 5, 5]",
      "[2, 4, 3, 3]",
    );
    throwsWith(
      () => T.conv2d(z(1, 4, 5, 5), z(3, 2, 3, 3), null, { groups: 2 }),
      "conv2d",
      "[3, 2, 3, 3]",
      "groups=2",
    );
    throwsWith(() => T.conv2d(z(3, 5, 5), z(2, 3, 3, 3)), "conv2d", "[3, 5, 5]");
    throwsWith(
      () => T.conv2d(z(1, 1, 2, 2), z(1, 1, 3, 3)),
      "conv2d",
      "[1, 1, 2, 2]",
      "[1, 1, 3, 3]",
    );
  });

  test("reshape and view ops", () => {
    throwsWith(() => T.reshape(z(2, 3), [4]), "reshape", "[2, 3]", "[4]");
    throwsWith(() => T.reshape(z(2, 3), [-1, 4]), "reshape", "[2, 3]", "[-1, 4]");
    throwsWith(() => T.reshape(z(2, 3), [-1, -1]), "reshape", "[-1, -1]");
    throwsWith(() => T.permute(z(2, 3), [0]), "permute", "[2, 3]");
    throwsWith(() => T.permute(z(2, 3), [0, 0]), "permute", "repeated");
    throwsWith(() => T.expand(z(2, 3), [4, 3]), "expand", "[2, 3]", "[4, 3]");
    throwsWith(() => T.narrow(z(2, 3), 1, 2, 5), "narrow", "[2, 3]");
    throwsWith(() => T.sum(z(2, 3), 2), "sum", "axis 2", "rank 2");
    throwsWith(() => T.softmax(z(2, 3), -3), "softmax", "axis -3");
    throwsWith(() => T.slice(z(2, 3), [[0, 1, 0]]), "slice", "step");
  });

  test("cat, split, pad, topk", () => {
    throwsWith(() => T.cat([z(2, 3), z(3, 3)], 1), "cat", "[2, 3]", "[3, 3]");
    throwsWith(() => T.cat([z(2), i32([1])]), "cat", "f32", "i32");
    throwsWith(() => T.cat([]), "cat");
    throwsWith(() => T.split(z(2, 3), [1, 1], 1), "split", "[1,1]", "3");
    throwsWith(() => T.pad(z(2, 3), [1, 1, 1, 1, 1, 1]), "pad", "[2, 3]");
    throwsWith(() => T.pad(z(0, 3), [0, 0, 1, 1], "replicate"), "pad", "[0, 3]");
    throwsWith(() => T.topk(z(2, 3), 4), "topk", "k=4", "3");
  });

  test("indexing", () => {
    throwsWith(() => T.gather(z(2, 3), 0, z(1, 3)), "gather", "integer", "f32");
    throwsWith(() => T.gather(z(2, 3), 0, i32([0, 1])), "gather", "[2]", "[2, 3]");
    throwsWith(() => T.gather(z(2, 3), 0, i32([5, 0, 0], [1, 3])), "gather", "index 5", "size 2");
    throwsWith(() => T.indexSelect(z(2, 3), 0, i32([0], [1, 1])), "index_select", "[1, 1]");
    throwsWith(() => T.indexSelect(z(2, 3), 1, i32([3])), "index_select", "index 3");
    throwsWith(() => T.indexAdd(z(2, 3), 0, i32([0]), z(2, 3)), "index_add", "[2, 3]", "[1, 3]");
    throwsWith(
      () => T.scatterAdd(z(2, 3), 0, i32([0, 1, 0, 1], [2, 2]), z(1, 3)),
      "scatter_add",
      "[1, 3]",
    );
  });

  test("reductions over an empty axis have no max / argmax", () => {
    throwsWith(() => T.max(z(0)), "max", "zero-size", "[0]");
    throwsWith(() => T.min(z(2, 0), 1), "min", "[2, 0]");
    throwsWith(() => T.argmax(z(3, 0)), "argmax", "[3, 0]");
    expect(T.max(z(2, 0), 0).shape).toEqual([0]); // reducing a non-empty axis is fine
  });

  test("nn ops: pooling, resampling, norms, sampling", () => {
    throwsWith(() => T.maxPool2d(z(1, 2, 2), 2), "max_pool2d", "[1, 2, 2]");
    throwsWith(() => T.avgPool2d(z(1, 1, 4, 4), 2, { padding: 2 }), "avg_pool2d", "padding");
    throwsWith(() => T.interpolate(z(2, 2), { size: [4, 4] }), "interpolate", "[2, 2]");
    throwsWith(() => T.interpolate(z(1, 1, 2, 2), {}), "interpolate", "size");
    throwsWith(() => T.gridSample(z(1, 1, 2, 2), z(1, 2, 2, 3)), "grid_sample", "[1, 2, 2, 3]");
    throwsWith(() => T.layerNorm(z(2, 3), [2]), "layer_norm", "[2, 3]", "[2]");
    throwsWith(() => T.groupNorm(z(1, 3, 2), 2), "group_norm", "[1, 3, 2]");
  });
});

describe("other misuse", () => {
  test("use after dispose names the op and the tensor", () => {
    const x = T.tensor([1, 2]);
    x.dispose();
    throwsWith(() => T.add(x, 1), "add", "[2]", "after dispose");
    throwsWith(() => T.reshape(x, [2, 1]), "reshape", "after dispose");
    throwsWith(() => x.dataSync(), "[2]", "after dispose");
    expect(x.isDisposed).toBe(true);
  });

  test("autograd misuse", () => {
    throwsWith(() => T.tensor([1], [1], { dtype: "i32" }).requireGrad(), "requireGrad", "i32");
    const y = T.mul(T.tensor([1, 2]).requireGrad(), 2);
    throwsWith(() => y.backward(), "backward", "[2]");
    throwsWith(() => y.backward(T.tensor([1, 2, 3])), "backward", "[3]", "[2]");
    throwsWith(() => y.backward(T.tensor([1, 2], [2], { dtype: "f64" })), "backward", "f64", "f32");
  });

  test("creation and arguments", () => {
    throwsWith(() => T.tensor([[1, 2], [3]]), "tensor()", "ragged");
    throwsWith(() => T.tensor([1, 2, 3], [2, 2]), "tensor()", "[2, 2]");
    throwsWith(() => T.arange(0, 3, 0), "arange", "step");
    throwsWith(() => T.dropout(z(2), 1.5), "dropout", "1.5");
    throwsWith(() => T.dropPath(z(2), -0.1), "dropPath", "-0.1");
    throwsWith(() => T.add(1 as never, 2 as never), "add", "tensor");
  });

  test("item() of a multi-element tensor", async () => {
    await expect(z(2, 2).item()).rejects.toThrow(/item\(\).*\[2, 2\]/);
    expect(await T.tensor([5], [1, 1]).item()).toBe(5);
  });

  test("tensors on different backends, dtypes a backend lacks", () => {
    const cpu = T.getBackend("cpu");
    const other: Backend = {
      ...cpu,
      name: "cpu-errors-test",
      dtypes: ["f32", "i32", "u8", "bool"],
    };
    T.registerBackend(other);
    const a = T.tensor([1], [1]);
    const b = T.tensor([1], [1], { backend: other });
    throwsWith(() => T.add(a, b), "add", "different backends", "cpu", "cpu-errors-test");
    throwsWith(() => T.cast(b, "f64"), "cast", "f64", "cpu-errors-test");
    throwsWith(() => T.getBackend("nope"), "nope");
  });
});
