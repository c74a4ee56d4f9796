/**
 * Records which catalog ops run inside a callback, by wrapping each spec's shape rule (the
 * dispatcher calls it once per op application, kernels and aliases alike). Used to prove
 * that internal ops (backward helpers) are reached by gradient tests.
 */
import { opCatalog } from "../../mod.ts";

const active: Set<string>[] = [];
const wrapped = new WeakSet<object>();

function install(): void {
  for (const spec of opCatalog()) {
    if (wrapped.has(spec)) continue;
    wrapped.add(spec);
    const rule = spec.shape;
    const name = spec.name;
    spec.shape = (shapes, attrs, dtypes) => {
      for (const s of active) s.add(name);
      return rule(shapes, attrs, dtypes);
    };
  }
}

/** Runs `fn` and returns its result with the names of the catalog ops it applied. */
export function traceOps<T>(fn: () => T): [T, Set<string>] {
  install();
  const seen = new Set<string>();
  active.push(seen);
  try {
    return [fn(), seen];
  } finally {
    active.splice(active.indexOf(seen), 1);
  }
}
