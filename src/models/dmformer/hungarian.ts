/**
 * Minimum-cost assignment (Kuhn-Munkres with potentials, O(n² m)) for an n x m cost
 * matrix, n <= m is not required: the smaller side is fully assigned.
 * Returns pairs [row, col] sorted by row.
 */
export function hungarian(cost: number[][]): [number, number][] {
  const n0 = cost.length;
  const m0 = n0 ? cost[0].length : 0;
  if (n0 === 0 || m0 === 0) return [];
  const transposed = n0 > m0;
  const c = transposed ? cost[0].map((_, j) => cost.map((row) => row[j])) : cost;
  const n = c.length;
  const m = c[0].length;
  for (const row of c) {
    if (row.length !== m) throw new Error("hungarian: ragged cost matrix");
    for (const v of row) {
      if (!Number.isFinite(v)) throw new Error(`hungarian: non-finite cost ${v}`);
    }
  }
  // 1-based arrays; p[j] = row assigned to column j
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = c[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) {
    if (p[j] === 0) continue;
    pairs.push(transposed ? [j - 1, p[j] - 1] : [p[j] - 1, j - 1]);
  }
  return pairs.sort((a, b) => a[0] - b[0]);
}
