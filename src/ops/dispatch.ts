import type { Attrs } from "../backend/backend.ts";
import { isGradEnabled } from "../tensor/autograd.ts";
import { fmtShape, sizeOf } from "../tensor/shape.ts";
import { Tensor } from "../tensor/tensor.ts";
import { profiling, profilingShapes, recordKernel } from "./profile.ts";
import { getOp, type OpSpec } from "./registry.ts";

/** Runs a catalog op on its inputs' backend and records it for autograd. */
export function apply(name: string, inputs: Tensor[], attrs: Attrs = {}): Tensor[] {
  const spec = getOp(name);
  if (spec.arity >= 0 && inputs.length !== spec.arity) {
    throw new Error(`${name}: expected ${spec.arity} tensor inputs, got ${inputs.length}`);
  }
  const backend = inputs[0]?.backend ?? attrs.backend;
  if (!backend) throw new Error(`${name}: no backend (no inputs and no backend attribute)`);
  for (const t of inputs) {
    if (t.isDisposed) {
      throw new Error(
        `${name}: input tensor #${t.id} ${fmtShape(t.shape)} was used after dispose()`,
      );
    }
    if (t.backend !== backend) {
      throw new Error(
        `${name}: inputs live on different backends (${backend.name} and ${t.backend.name})`,
      );
    }
  }
  const shapes = inputs.map((t) => t.shape);
  const dtypes = inputs.map((t) => t.dtype);
  spec.check?.(shapes, dtypes, attrs);
  const outShapes = spec.shape(shapes, attrs, dtypes);
  const outDtypes = spec.dtype(dtypes, attrs);
  for (const dt of [...dtypes, ...outDtypes]) {
    if (!backend.dtypes.includes(dt)) {
      throw new Error(`${name}: dtype ${dt} is not supported on backend ${backend.name}`);
    }
  }
  if (spec.alias) return record(spec, inputs, [inputs[0].withShape(outShapes[0])], attrs);
  const kernelName = spec.kernel ?? name;
  const kernel = backend.kernels[kernelName];
  if (!kernel) throw new Error(`${name}: backend ${backend.name} has no kernel ${kernelName}`);
  const outs = outShapes.map((shape, i) => {
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`${name}: invalid output shape ${fmtShape(shape)}`);
    }
    return { shape, dtype: outDtypes[i], buf: backend.alloc(outDtypes[i], sizeOf(shape)) };
  });
  if (outs.some((o) => sizeOf(o.shape) > 0)) {
    const ins = inputs.map((t) => ({ buf: t.buf, shape: t.shape, dtype: t.dtype }));
    if (profiling()) {
      const start = performance.now();
      kernel(ins, outs, attrs);
      const ms = performance.now() - start;
      recordKernel(
        kernelName,
        ms,
        sizeOf(outs[0].shape),
        profilingShapes() ? launchShapes(ins, attrs) : undefined,
      );
    } else {
      kernel(ins, outs, attrs);
    }
  }
  const results = outs.map((o) => new Tensor(backend, o.buf, o.shape, o.dtype));
  return record(spec, inputs, results, attrs);
}

function record(spec: OpSpec, inputs: Tensor[], results: Tensor[], attrs: Attrs): Tensor[] {
  const backward = spec.backward;
  if (backward && isGradEnabled() && inputs.some((t) => t.requiresGrad || t.node)) {
    const node = {
      op: spec.name,
      inputs,
      outputs: results.map((r) => new WeakRef(r)),
      backward: (grads: (Tensor | null)[]) => backward(grads, { inputs, outputs: results, attrs }),
    };
    for (const r of results) r.node = node;
  }
  return results;
}

export function apply1(name: string, inputs: Tensor[], attrs: Attrs = {}): Tensor {
  return apply(name, inputs, attrs)[0];
}

/** "[2,3] [3,4] transB" for a per-shape profile row. */
function launchShapes(ins: { shape: readonly number[] }[], attrs: Attrs): string {
  const flags = Object.entries(attrs).filter(([, v]) => v === true).map(([k]) => k);
  return [...ins.map((t) => `[${t.shape.join(",")}]`), ...flags].join(" ");
}
