import { afterAll, describe, expect, test, vi } from "vitest";
import { writePaletteMask } from "../src/media/png.ts";
import { main as evalMain } from "../tools/eval.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const N = 10;
function square(y0: number, y1: number, x0: number, x1: number, value = 1): Uint8Array {
  const m = new Uint8Array(N * N);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * N + x] = value;
  return m;
}

/** A Ref-YouTube-VOS style root with one valid video, two objects, two expressions. */
async function makeTree() {
  const root = await Deno.makeTempDir({ prefix: "dmf-eval-" });
  dirs.push(root);
  const meta = {
    videos: {
      v1: {
        frames: ["00000", "00005"],
        expressions: { "0": { exp: "the box", obj_id: "1" }, "1": { exp: "the bar", obj_id: "2" } },
      },
    },
  };
  await Deno.mkdir(`${root}/data/meta_expressions/valid`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/data/meta_expressions/valid/meta_expressions.json`,
    JSON.stringify(meta),
  );
  await Deno.mkdir(`${root}/data/valid/Annotations/v1`, { recursive: true });
  const both = square(3, 6, 3, 6).map((v, i) => v || square(0, 1, 8, 9, 2)[i]);
  await writePaletteMask(`${root}/data/valid/Annotations/v1/00000.png`, N, N, both);
  await writePaletteMask(`${root}/data/valid/Annotations/v1/00005.png`, N, N, square(3, 6, 3, 6));
  const pred = `${root}/pred/Annotations/v1`;
  await Deno.mkdir(`${pred}/0`, { recursive: true });
  await Deno.mkdir(`${pred}/1`, { recursive: true });
  // expression 0: exact on both frames; expression 1: empty (misses frame 0, right on frame 1)
  for (const f of ["00000", "00005"]) {
    await writePaletteMask(`${pred}/0/${f}.png`, N, N, square(3, 6, 3, 6, 255));
    await writePaletteMask(`${pred}/1/${f}.png`, N, N, new Uint8Array(N * N));
  }
  return root;
}

describe("deno task eval", () => {
  test("prints a J/F table and writes JSON and CSV", async () => {
    const root = await makeTree();
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((s: string) => void lines.push(s));
    try {
      await evalMain([
        "--pred",
        `${root}/pred`,
        "--gt",
        `${root}/data`,
        "--layout",
        "ytvos",
        "--out",
        `${root}/scores`,
        "--per-video",
      ]);
    } finally {
      spy.mockRestore();
    }
    const text = lines.join("\n");
    expect(text).toMatch(/2 expressions in 1 videos/);
    expect(text).toMatch(/overall\s+0\.750\s+0\.750\s+0\.750/);
    const results = JSON.parse(await Deno.readTextFile(`${root}/scores/results.json`));
    expect(results.overall["J&F"]).toBeCloseTo(0.75, 12);
    expect(results.expressions.map((e: { JF: number }) => e.JF)).toEqual([1, 0.5]);
    const csv = await Deno.readTextFile(`${root}/scores/per-expression.csv`);
    expect(csv.split("\n")[0]).toBe("video,exp_id,obj_id,frames,J&F,J,F,J-Recall,F-Recall");
    expect(await Deno.readTextFile(`${root}/scores/global.csv`)).toMatch(/^J&F-Mean/);
  });

  test("an annotation folder with --meta; missing predictions", async () => {
    const root = await makeTree();
    await Deno.remove(`${root}/pred/Annotations/v1/1`, { recursive: true });
    const args = [
      "--pred",
      `${root}/pred`,
      "--gt",
      `${root}/data/valid/Annotations`,
      "--meta",
      `${root}/data/meta_expressions/valid/meta_expressions.json`,
      "--layout",
      "ytvos",
    ];
    await expect(evalMain(args)).rejects.toThrow(/png: cannot read|No such file|not found/i);
    const spy = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await evalMain([...args, "--missing", "empty"]);
    } finally {
      spy.mockRestore();
    }
    const results = JSON.parse(await Deno.readTextFile(`${root}/pred/results.json`));
    expect(results.missingPredictions).toBe(2);
    expect(results.overall["J&F"]).toBeCloseTo(0.75, 12);
  });

  test("usage errors", async () => {
    await expect(evalMain(["--pred", "x", "--gt", "y"])).rejects.toThrow(
      "--layout is required: ytvos or davis",
    );
    await expect(evalMain(["--pred", "x", "--gt", "y", "--layout", "coco"])).rejects.toThrow(
      '--layout must be ytvos or davis, got "coco"',
    );
    await expect(evalMain(["--pred", "/nonexistent/p", "--gt", "y", "--layout", "davis"])).rejects
      .toThrow("prediction folder not found: /nonexistent/p");
  });
});
