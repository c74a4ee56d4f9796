/**
 * J&F of a Ref-Shapes evaluation per expression template (subject only, motion, position,
 * relation), from the per-expression.csv that `deno task eval` writes.
 *
 *   deno run -A tools/ref_shapes_templates.ts --results out/ref-shapes-valid/per-expression.csv \
 *     --data data/ref-shapes [--split valid]
 */
import { parseArgs } from "node:util";
import { type Template, templateOfSentence } from "../src/data/ref_shapes_grammar.ts";

function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') field += '"', i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") out.push(field), field = "";
    else field += ch;
  }
  out.push(field);
  return out;
}

const HELP = `ref_shapes_templates: J&F per expression template of a Ref-Shapes evaluation

  --results <csv>   per-expression.csv written by deno task eval
  --data <root>     the Ref-Shapes dataset (for the sentences)
  --split <name>    valid (default) or train
`;

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      results: { type: "string" },
      data: { type: "string" },
      split: { type: "string", default: "valid" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  if (!values.results || !values.data) {
    console.error("ref_shapes_templates: --results and --data are required (see --help)");
    Deno.exit(2);
  }
  const metaPath = `${values.data}/meta_expressions/${values.split}/meta_expressions.json`;
  const meta = JSON.parse(await Deno.readTextFile(metaPath)) as {
    videos: Record<string, { expressions: Record<string, { exp: string }> }>;
  };
  const lines = (await Deno.readTextFile(values.results)).trim().split("\n");
  const header = parseCsvLine(lines[0]);
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${values.results}: no "${name}" column`);
    return i;
  };
  const [iv, ie, ijf, ij, iff] = ["video", "exp_id", "J&F", "J", "F"].map(col);
  const sums = new Map<Template, { n: number; jf: number; j: number; f: number }>();
  for (const line of lines.slice(1)) {
    const row = parseCsvLine(line);
    if (row[ie] === "") continue; // the closing "overall" row
    const sentence = meta.videos[row[iv]]?.expressions[row[ie]]?.exp;
    if (sentence === undefined) {
      throw new Error(`${metaPath}: no expression ${row[ie]} of video ${row[iv]}`);
    }
    const t = templateOfSentence(sentence);
    const acc = sums.get(t) ?? { n: 0, jf: 0, j: 0, f: 0 };
    acc.n++;
    acc.jf += Number(row[ijf]);
    acc.j += Number(row[ij]);
    acc.f += Number(row[iff]);
    sums.set(t, acc);
  }
  console.log("| template | expressions | J&F | J | F |\n| --- | ---: | ---: | ---: | ---: |");
  for (const [t, a] of [...sums].sort((x, y) => y[1].n - x[1].n)) {
    const f = (v: number) => (v / a.n).toFixed(3);
    console.log(`| ${t} | ${a.n} | ${f(a.jf)} | ${f(a.j)} | ${f(a.f)} |`);
  }
}
