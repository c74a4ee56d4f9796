import type { Attrs } from "../backend/backend.ts";
import type { DType } from "../tensor/dtype.ts";
import type { Shape } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";

export interface BackwardContext {
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: Attrs;
}

/** How tests sample inputs for an op (values drawn uniformly in [lo, hi]). */
export interface TestDomain {
  lo?: number;
  hi?: number;
  /** Inputs that are integer indices or masks, never differentiated. */
  integerInputs?: number[];
  /** Finite differences are unreliable (kinks, discontinuities): skip the gradient check. */
  noGradCheck?: boolean;
}

/**
 * One entry of the op catalog. `kernel` names the backend kernel that computes it
 * (several ops share one kernel, e.g. every view op runs `strided_copy`).
 */
export interface OpSpec {
  name: string;
  /** Number of tensor inputs; -1 for variadic. */
  arity: number;
  kernel?: string;
  /** Output shares the input's storage with a new shape (reshape); no kernel runs. */
  alias?: boolean;
  /** A helper used only by other ops' backward formulas; tested through them. */
  internal?: boolean;
  shape: (shapes: Shape[], attrs: Attrs, dtypes: DType[]) => Shape[];
  dtype: (dtypes: DType[], attrs: Attrs) => DType[];
  /** Input gradients from output gradients, written with other ops. Absent = not differentiable. */
  backward?: (grads: (Tensor | null)[], ctx: BackwardContext) => (Tensor | null)[];
  /** Extra validation with a clear error (shapes are checked by `shape`). */
  check?: (shapes: Shape[], dtypes: DType[], attrs: Attrs) => void;
  domain?: TestDomain;
}

const catalog = new Map<string, OpSpec>();

export function defineOp(spec: OpSpec): OpSpec {
  if (catalog.has(spec.name)) throw new Error(`op ${spec.name} defined twice`);
  catalog.set(spec.name, spec);
  return spec;
}

export function getOp(name: string): OpSpec {
  const spec = catalog.get(name);
  if (!spec) throw new Error(`unknown op "${name}"`);
  return spec;
}

/** Every registered op, for tests and docs. */
export function opCatalog(): OpSpec[] {
  return [...catalog.values()];
}

/** Kernel names a backend must provide to run the whole catalog. */
export function requiredKernels(): string[] {
  return [...new Set(opCatalog().filter((s) => !s.alias).map((s) => s.kernel ?? s.name))].sort();
}
