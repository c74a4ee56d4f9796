/**
 * Finite-difference gradient checking for host-memory backends (CPU): the analytic gradient
 * from `backward` must match central differences of sum(v * fn(x)) for a random cotangent v.
 * Use float64 inputs: with eps = 1e-6 the differences are accurate to ~1e-9.
 */
import { noGrad, type Tensor, tensor, tidy } from "../../mod.ts";
import { isFloat } from "../../src/tensor/dtype.ts";
import { rng } from "./numeric.ts";
import { traceOps } from "./trace.ts";

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-6). */
  rtol?: number;
  /** Absolute tolerance for near-zero gradients (default 1e-7). */
  atol?: number;
  /** Inputs to differentiate (default: every float input). */
  wrt?: number[];
  /** Seed of the random cotangent. */
  seed?: number;
}

export interface GradcheckReport {
  /** Number of gradient entries compared. */
  checked: number;
  maxAbsError: number;
  /** Catalog ops applied by the forward and backward pass (see traceOps). */
  ops: Set<string>;
  analytic: Float64Array[];
  numeric: Float64Array[];
}

/**
 * Checks the gradients of `fn` at `inputs` (left untouched: leaves are fresh copies).
 * Throws an error naming the input, the entry and both values on the first mismatch table.
 */
export function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: GradcheckOptions = {},
): GradcheckReport {
  const { eps = 1e-6, rtol = 1e-6, atol = 1e-7, seed = 1 } = opts;
  const backend = inputs[0].backend;
  if (!backend.downloadSync) throw new Error(`gradcheck needs a host backend, not ${backend.name}`);
  const data = inputs.map((x) => Float64Array.from(x.dataSync()));
  const wrt = opts.wrt ?? inputs.flatMap((x, i) => (isFloat(x.dtype) ? [i] : []));
  for (const i of wrt) {
    if (!isFloat(inputs[i].dtype)) throw new Error(`gradcheck: input ${i} is ${inputs[i].dtype}`);
  }
  const make = (i: number) => tensor(data[i], inputs[i].shape, { dtype: inputs[i].dtype, backend });

  let cot: Float64Array = new Float64Array(0);
  let analytic: Float64Array[] = [];
  const [, ops] = traceOps(() =>
    tidy(() => {
      const leaves = inputs.map((_, i) => (wrt.includes(i) ? make(i).requireGrad() : make(i)));
      const y = fn(...leaves);
      if (!isFloat(y.dtype)) throw new Error(`gradcheck: output dtype ${y.dtype} is not float`);
      const r = rng(seed);
      const v = tensor(
        Float64Array.from({ length: y.size }, () => 2 * r() - 1),
        y.shape,
        { dtype: y.dtype, backend },
      );
      cot = Float64Array.from(v.dataSync()); // rounded to the output dtype
      if (y.size > 0) y.backward(v);
      analytic = wrt.map((i) => {
        const g = leaves[i].grad;
        if (!g) return new Float64Array(data[i].length);
        if (g.dtype !== inputs[i].dtype || g.shape.join() !== inputs[i].shape.join()) {
          throw new Error(
            `gradcheck: grad of input ${i} is ${g.dtype} [${g.shape}], input ${inputs[i].dtype} [${
              inputs[i].shape
            }]`,
          );
        }
        const out = Float64Array.from(g.dataSync());
        g.dispose();
        return out;
      });
    })
  );

  const objective = (): number =>
    noGrad(() =>
      tidy(() => {
        const y = fn(...inputs.map((_, i) => make(i))).dataSync();
        let s = 0;
        for (let k = 0; k < y.length; k++) s += cot[k] * y[k];
        return s;
      })
    );

  const numeric = wrt.map((i) => {
    const d = data[i];
    const out = new Float64Array(d.length);
    for (let j = 0; j < d.length; j++) {
      const v = d[j];
      d[j] = v + eps;
      const fp = objective();
      d[j] = v - eps;
      const fm = objective();
      d[j] = v;
      out[j] = (fp - fm) / (2 * eps);
    }
    return out;
  });

  let checked = 0;
  let maxAbsError = 0;
  const problems: string[] = [];
  wrt.forEach((inp, w) => {
    for (let j = 0; j < numeric[w].length; j++) {
      const a = analytic[w][j];
      const n = numeric[w][j];
      const err = Math.abs(a - n);
      checked++;
      if (!(err <= atol + rtol * Math.max(Math.abs(a), Math.abs(n)))) {
        problems.push(`input ${inp} entry ${j}: analytic ${a}, numeric ${n}`);
      }
      if (err > maxAbsError || Number.isNaN(err)) maxAbsError = err;
    }
  });
  if (problems.length) {
    throw new Error(
      `gradcheck failed for ${problems.length}/${checked} entries (rtol ${rtol}, atol ${atol}):\n  ` +
        problems.slice(0, 10).join("\n  "),
    );
  }
  return { checked, maxAbsError, ops, analytic, numeric };
}
