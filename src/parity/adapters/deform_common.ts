import type { Fixture } from "../fixture.ts";
import type { SpatialShapes } from "../../ops/deform_attn.ts";
import type { Module } from "../../nn/module.ts";

/** The fixture's int64 [L, 2] (H_l, W_l) table as host numbers (they become op attributes). */
export function spatialShapesOf(fx: Fixture, name: string): SpatialShapes {
  const raw = fx.raw(name);
  const out: [number, number][] = [];
  for (let l = 0; l < raw.shape[0]; l++) {
    out.push([Number(raw.data[2 * l]), Number(raw.data[2 * l + 1])]);
  }
  return out;
}

/** Loads the fixture's parameters strictly, moves the module to the fixture's backend, eval mode. */
export async function loadModule<M extends Module>(
  fx: Fixture,
  module: M,
  prefix = "",
): Promise<M> {
  module.loadStateDict(fx.params(prefix), { strict: true });
  await module.to(fx.backend);
  return module.eval();
}
