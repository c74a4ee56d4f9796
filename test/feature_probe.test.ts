import { describe, expect, test } from "vitest";
import { ridgeAccuracy } from "../tools/feature_probe_ridge.ts";

describe("ridgeAccuracy", () => {
  test("reads classes that the features encode, next to a noise feature", () => {
    const X: number[][] = [], Y: string[] = [];
    for (let i = 0; i < 60; i++) {
      const c = i % 3;
      const jitter = ((i * 7) % 5) * 0.05;
      X.push([...[0, 1, 2].map((k) => (k === c ? 1 + jitter : jitter)), Math.sin(i * 12.9898) * 3]);
      Y.push(["red", "blue", "green"][c]);
    }
    const r = ridgeAccuracy(X.slice(0, 45), Y.slice(0, 45), X.slice(45), Y.slice(45));
    expect(r).toEqual({ train: 1, valid: 1, majority: 1 / 3 });
  });

  test("is exact on one-hot features and at the majority share on constant features", () => {
    const names = ["circle", "square", "star", "star"];
    const onehot = names.map((n) => ["circle", "square", "star"].map((c) => (c === n ? 1 : 0)));
    const exact = ridgeAccuracy(onehot, names, onehot, names, 1e-3);
    expect(exact).toEqual({ train: 1, valid: 1, majority: 0.5 });
    const blind = ridgeAccuracy(names.map(() => [1]), names, names.map(() => [1]), names);
    expect(blind.valid).toBe(0.5);
  });

  test("rejects rows and labels that do not pair up", () => {
    expect(() => ridgeAccuracy([[1]], ["a", "b"], [], [])).toThrow(/1 training rows with 2/);
  });
});
