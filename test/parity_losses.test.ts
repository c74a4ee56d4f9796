import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { runParity } from "../src/parity/run.ts";
import { hungarian } from "../src/models/dmformer/hungarian.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { testBackends } from "./helpers/backends.ts";

const backends = await testBackends();

describe("criterion and matcher", () => {
  for (const [name, backend] of backends) {
    test.skipIf(!backend)(`losses on ${name}: every loss, matcher cost and gradient`, async () => {
      const report = await runParity(fixturePath("losses"), backend!);
      const failed = report.rows.filter((r) => r.status !== "pass");
      expect(failed.map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
      expect(report.rows.length).toBe(69);
    });
  }

  function bruteForce(cost: number[][]): number {
    const n = cost.length;
    const m = cost[0].length;
    let best = Infinity;
    const used = new Array(m).fill(false);
    const rec = (i: number, acc: number) => {
      if (i === n) {
        best = Math.min(best, acc);
        return;
      }
      for (let j = 0; j < m; j++) {
        if (used[j]) continue;
        used[j] = true;
        rec(i + 1, acc + cost[i][j]);
        used[j] = false;
      }
    };
    rec(0, 0);
    return best;
  }

  test("hungarian assignment equals brute force on random matrices up to 8x8", () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + (trial % 8);
      const m = n + (trial % 3);
      const cost = Array.from(
        { length: n },
        () => Array.from({ length: m }, () => Math.round(rnd() * 20) - 5),
      );
      const pairs = hungarian(cost);
      expect(pairs.length).toBe(n);
      expect(new Set(pairs.map(([, j]) => j)).size).toBe(n);
      const total = pairs.reduce((s, [i, j]) => s + cost[i][j], 0);
      expect(total).toBe(bruteForce(cost));
    }
  });

  test("hungarian handles more rows than columns and rejects NaN", () => {
    const cost = [[4, 1], [2, 0], [3, 3]];
    const pairs = hungarian(cost);
    expect(pairs.length).toBe(2);
    expect(new Set(pairs.map(([i]) => i)).size).toBe(2);
    expect(pairs.reduce((s, [i, j]) => s + cost[i][j], 0)).toBe(3);
    expect(() => hungarian([[NaN]])).toThrow(/non-finite/);
  });
});
