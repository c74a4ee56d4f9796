import { type Backend, useBackend } from "../backend/backend.ts";
import { Fixture } from "./fixture.ts";
import { compareTensor, type ComparisonRow } from "./compare.ts";
import { parityAdapter } from "./registry.ts";
import "./adapters/mod.ts";

export interface ParityReport {
  fixture: string;
  backend: string;
  implemented: boolean;
  rows: ComparisonRow[];
  ok: boolean;
  seconds: number;
}

/** Rebuilds the fixture's module, runs it and compares every out.* / grad.* tensor. */
export async function runParity(path: string, backend: Backend): Promise<ParityReport> {
  const fx = await Fixture.load(path, backend);
  const adapter = parityAdapter(fx.name);
  const started = performance.now();
  if (!adapter) {
    return {
      fixture: fx.name,
      backend: backend.name,
      implemented: false,
      rows: [],
      ok: false,
      seconds: 0,
    };
  }
  // modules the adapter builds get their parameters on the fixture's backend
  const previous = useBackend(backend);
  let result;
  try {
    result = await adapter.run(fx);
  } finally {
    useBackend(previous);
  }
  const rows: ComparisonRow[] = [];
  for (const name of fx.checkedNames()) {
    const got = result.values.get(name);
    if (!got) {
      rows.push({
        name,
        status: "missing",
        maxAbs: NaN,
        maxRel: NaN,
        detail: "not computed by the adapter",
      });
      continue;
    }
    const data = await got.data();
    rows.push(
      compareTensor(
        name,
        data,
        got.shape,
        fx.raw(name),
        fx.tolerance(name),
        result.masks?.get(name),
      ),
    );
  }
  for (const t of result.values.values()) t.dispose();
  return {
    fixture: fx.name,
    backend: backend.name,
    implemented: true,
    rows,
    ok: rows.every((r) => r.status === "pass"),
    seconds: (performance.now() - started) / 1000,
  };
}

export function formatReport(r: ParityReport, verbose = false): string {
  if (!r.implemented) return `${r.fixture} [${r.backend}]: not implemented`;
  const lines = r.rows.map((row) => {
    const tol = row.tolerance ? ` (atol ${row.tolerance.atol}, rtol ${row.tolerance.rtol})` : "";
    const err = Number.isNaN(row.maxAbs)
      ? ""
      : ` max abs ${row.maxAbs.toExponential(2)} max rel ${row.maxRel.toExponential(2)}`;
    const detail = row.detail && (verbose || row.status !== "pass") ? ` — ${row.detail}` : "";
    return `  ${row.status.padEnd(7)} ${row.name}${err}${tol}${detail}`;
  });
  const passed = r.rows.filter((x) => x.status === "pass").length;
  return [
    `${r.fixture} [${r.backend}]: ${r.ok ? "PASS" : "FAIL"} ${passed}/${r.rows.length} tensors in ${
      r.seconds.toFixed(2)
    } s`,
    ...lines,
  ].join("\n");
}
