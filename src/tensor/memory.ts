import type { Tensor } from "./tensor.ts";
import { isGradEnabled } from "./autograd.ts";

/** Live tensor accounting and `tidy` scopes shared by every backend. */
let live = 0;
const scopes: Set<Tensor>[] = [];

export function trackCreated(t: Tensor): void {
  live++;
  scopes[scopes.length - 1]?.add(t);
}

export function trackDisposed(t: Tensor): void {
  live--;
  for (const s of scopes) s.delete(t);
}

/** Removes `t` from every open scope so `tidy` will not dispose it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

export function liveTensorCount(): number {
  return live;
}

function collect(result: unknown, into: Set<Tensor>): void {
  if (!result || typeof result !== "object") return;
  if ("dispose" in result && "shape" in result) {
    into.add(result as Tensor);
  } else if (Array.isArray(result)) {
    for (const r of result) collect(r, into);
  } else {
    for (const r of Object.values(result)) collect(r, into);
  }
}

/**
 * Runs `fn`, then disposes every tensor created inside it except those returned
 * (in an array or object too) and those passed to `keep`. Returned tensors move
 * to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = openScope();
  let result: T;
  try {
    result = fn();
  } finally {
    closeScope(scope);
  }
  return settle(scope, result);
}

/**
 * Runs one block of a forward pass (a layer, a stage). Without gradient recording its
 * intermediates are freed when it returns (`tidy`), so an inference pass holds one block's
 * temporaries at a time instead of every block's until the pass ends; with recording on they
 * belong to the graph and stay. Only for blocks that keep no tensor they create (a cache must
 * `keep` it).
 */
export function freeAfter<T>(fn: () => T): T {
  return isGradEnabled() ? fn() : tidy(fn);
}

/**
 * Returns `output` after freeing `input` when no gradient is being recorded: for an
 * intermediate that nothing but `output` was computed from (a linear layer's product before
 * its bias, a pre-activation), so that the two are never held at once.
 */
export function freeInput<T>(input: Tensor, output: T): T {
  if (!isGradEnabled()) input.dispose();
  return output;
}

/**
 * `tidy` for async work (a model forward that awaits, a training step). Every tensor
 * created while `fn` runs is collected, including by other tasks running concurrently,
 * so give each concurrent job its own sequential loop.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = openScope();
  let result: T;
  try {
    result = await fn();
  } finally {
    closeScope(scope);
  }
  return settle(scope, result);
}

function openScope(): Set<Tensor> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  return scope;
}

function closeScope(scope: Set<Tensor>): void {
  const i = scopes.lastIndexOf(scope);
  if (i >= 0) scopes.splice(i, 1);
}

function settle<T>(scope: Set<Tensor>, result: T): T {
  const returned = new Set<Tensor>();
  collect(result, returned);
  for (const t of scope) {
    if (!returned.has(t)) t.dispose();
  }
  const parent = scopes[scopes.length - 1];
  if (parent) { for (const t of returned) if (scope.has(t)) parent.add(t); }
  return result;
}
