// Input of test/offline_tests.test.ts: known outcomes for tools/offline_tests/run.ts.
import { afterAll, beforeAll, describe, expect, test } from "vitest";

let ready = false;
describe("block", () => {
  beforeAll(() => {
    ready = true;
  });
  afterAll(() => {
    if (ready) console.log("afterAll ran");
  });
  test("passes: matchers hold", async () => {
    expect(ready).toBe(true);
    expect({ a: [1, 2], b: new Float32Array([0.5]) }).toEqual({ a: [1, 2], b: new Float32Array([0.5]) });
    expect(0.1 + 0.2).toBeCloseTo(0.3, 10);
    expect(() => {
      throw new Error("bad shape [2, 3]");
    }).toThrow(/shape \[2, 3\]/);
    await expect(Promise.reject(new Error("gone"))).rejects.toThrow("gone");
    expect([1, 2, 3]).toContain(2);
    expect(3).not.toBe(4);
  });
  test("fails: toEqual", () => {
    expect([1, 2]).toEqual([1, 3]);
  });
  test("fails: toBeCloseTo", () => {
    expect(0.31).toBeCloseTo(0.3, 3);
  });
  test("skipped: ctx.skip", (ctx) => {
    ctx.skip("not here");
    throw new Error("unreachable");
  });
  test.skipIf(true)("skipped: skipIf", () => {
    throw new Error("unreachable");
  });
});
describe.skip("skipped block", () => {
  test("inside", () => {
    throw new Error("unreachable");
  });
});
