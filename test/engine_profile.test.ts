/** The per-kernel profiler: counts launches by kernel name, including backward kernels. */
import { expect, test } from "vitest";
import * as T from "../mod.ts";

test("a profile counts each kernel launch and its output elements", () => {
  const x = T.tensor([1, 2, 3, 4, 5, 6], [2, 3]).requireGrad();
  T.startProfile();
  const y = T.sum(T.mul(x, x));
  y.backward();
  const rows = T.stopProfile();
  const byName = new Map(rows.map((r) => [r.kernel, r]));
  expect(byName.get("sum")?.calls).toBe(1);
  expect(byName.get("sum")?.elements).toBe(1);
  // forward x*x plus the two products of its backward
  expect(byName.get("mul")!.calls).toBeGreaterThanOrEqual(2);
  expect(byName.get("mul")!.elements % 6).toBe(0);
  for (let i = 1; i < rows.length; i++) expect(rows[i - 1].ms).toBeGreaterThanOrEqual(rows[i].ms);
  const table = T.formatProfile(rows);
  expect(table.split("\n")[0]).toMatch(/^kernel\s+calls\s+ms\s+share$/);
  expect(table).toMatch(/\nsum\s+1\s/);
});

test("nothing is recorded outside a profile", () => {
  T.startProfile();
  expect(T.stopProfile()).toEqual([]);
  T.add(T.tensor([1]), T.tensor([2]));
  expect(T.stopProfile()).toEqual([]);
});
