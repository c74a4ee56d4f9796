import type { RawTensor } from "../io/raw_tensor.ts";
import type { Tolerance } from "./fixture.ts";

export interface ComparisonRow {
  name: string;
  status: "pass" | "fail" | "missing" | "shape";
  maxAbs: number;
  maxRel: number;
  tolerance?: Tolerance;
  detail?: string;
}

/** Elementwise |x - ref| <= atol + rtol*|ref|; integer/bool tensors must match exactly. */
export function compareTensor(
  name: string,
  got: ArrayLike<number>,
  gotShape: readonly number[],
  ref: RawTensor,
  tol: Tolerance,
  mask?: Uint8Array,
): ComparisonRow {
  if (gotShape.join() !== ref.shape.join()) {
    return {
      name,
      status: "shape",
      maxAbs: NaN,
      maxRel: NaN,
      detail: `shape [${gotShape.join(", ")}] != reference [${ref.shape.join(", ")}]`,
    };
  }
  const exact = ref.dtype === "i32" || ref.dtype === "u8" || ref.dtype === "bool";
  const { atol, rtol } = exact ? { atol: 0, rtol: 0 } : tol;
  let maxAbs = 0;
  let maxRel = 0;
  let bad = 0;
  let firstBad = -1;
  for (let i = 0; i < ref.data.length; i++) {
    if (mask && !mask[i]) continue;
    const r = ref.data[i];
    const x = got[i];
    const err = Math.abs(x - r);
    const ok = err <= atol + rtol * Math.abs(r) || (Number.isNaN(x) && Number.isNaN(r));
    if (!ok) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (Number.isFinite(err)) {
      maxAbs = Math.max(maxAbs, err);
      if (Math.abs(r) > 1e-12) maxRel = Math.max(maxRel, err / Math.abs(r));
    } else if (!(Number.isNaN(x) && Number.isNaN(r))) {
      maxAbs = Infinity;
    }
  }
  return {
    name,
    status: bad === 0 ? "pass" : "fail",
    maxAbs,
    maxRel,
    tolerance: { atol, rtol },
    detail: bad
      ? `${bad}/${ref.data.length} outside tolerance; first at ${firstBad}: got ${
        got[firstBad]
      }, ref ${ref.data[firstBad]}`
      : undefined,
  };
}
