/**
 * A linear probe: one-vs-rest ridge regression on standardised features (plus a bias), the class
 * with the highest score wins. Accuracy on the fitting rows, on held-out rows, and the held-out
 * share of the most frequent class (what a probe that reads nothing would get).
 */
export function ridgeAccuracy(
  trainX: number[][],
  trainY: string[],
  validX: number[][],
  validY: string[],
  lambda = 1,
): { train: number; valid: number; majority: number } {
  if (trainX.length === 0 || trainX.length !== trainY.length || validX.length !== validY.length) {
    throw new Error(
      `ridgeAccuracy: ${trainX.length} training rows with ${trainY.length} labels, ` +
        `${validX.length} held-out rows with ${validY.length} labels`,
    );
  }
  const classes = [...new Set(trainY)];
  const d = trainX[0].length;
  const mean = new Array(d).fill(0), sd = new Array(d).fill(0);
  for (const x of trainX) x.forEach((v, j) => mean[j] += v / trainX.length);
  for (const x of trainX) x.forEach((v, j) => sd[j] += (v - mean[j]) ** 2 / trainX.length);
  const scale = sd.map((v) => 1 / (Math.sqrt(v) + 1e-6));
  const row = (x: number[]) => [...x.map((v, j) => (v - mean[j]) * scale[j]), 1];
  const A = trainX.map(row);
  const n = d + 1, k = classes.length;
  // normal equations [X^T X + lambda I | X^T Y], solved by Gauss-Jordan with partial pivoting
  const m = Array.from({ length: n }, () => new Array(n + k).fill(0));
  A.forEach((a, r) => {
    const y = classes.indexOf(trainY[r]);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) m[i][j] += a[i] * a[j];
      m[i][n + y] += a[i];
    }
  });
  for (let i = 0; i < n; i++) m[i][i] += lambda;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let j = c; j < n + k; j++) m[r][j] -= f * m[c][j];
    }
  }
  const weights = m.map((r, i) => r.slice(n).map((v) => v / m[i][i]));
  const predict = (x: number[]) => {
    const a = row(x);
    const scores = classes.map((_, y) => a.reduce((s, v, i) => s + v * weights[i][y], 0));
    return classes[scores.indexOf(Math.max(...scores))];
  };
  const accuracy = (X: number[][], Y: string[]) =>
    X.length ? X.filter((x, i) => predict(x) === Y[i]).length / X.length : 0;
  const counts = new Map<string, number>();
  for (const y of validY) counts.set(y, (counts.get(y) ?? 0) + 1);
  return {
    train: accuracy(trainX, trainY),
    valid: accuracy(validX, validY),
    majority: validY.length ? Math.max(...counts.values()) / validY.length : 0,
  };
}
