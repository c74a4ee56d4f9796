import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { generateRefShapesClip } from "../src/data/ref_shapes.ts";
import { writePng } from "../src/media/png.ts";
import { TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { saveModelWeights } from "../src/pipeline/checkpoint.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs a tool in a subprocess; returns exit code, stdout and the stderr lines. */
async function run(tool: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}tools/${tool}.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    lines: stderr === "" ? [] : stderr.split("\n"),
  };
}

/** Every failure is exactly one line "<tool>: <message>" and a non-zero exit code. */
async function expectOneLine(tool: string, args: string[], message: string | RegExp) {
  const r = await run(tool, args);
  expect(r.code).not.toBe(0);
  expect(r.lines.length).toBe(1);
  expect(r.lines[0].startsWith(`${tool}: `)).toBe(true);
  if (typeof message === "string") expect(r.lines[0]).toBe(`${tool}: ${message}`);
  else expect(r.lines[0]).toMatch(message);
}

describe("command-line errors are one clear line", () => {
  test("--help on every command shows usage and examples", async () => {
    for (const tool of ["train", "infer", "eval", "demo"]) {
      const r = await run(tool, ["--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage:/);
      expect(r.stdout).toMatch(/Examples:/);
    }
  });

  test("train: missing and bad configs, unknown backends and options", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-cli-" });
    dirs.push(root);
    await expectOneLine("train", [], "--config is required (see --help)");
    await expectOneLine(
      "train",
      ["--config", `${root}/nope.json`],
      `config file not found: ${root}/nope.json`,
    );
    await Deno.writeTextFile(`${root}/bad.json`, "{ model: tiny");
    await expectOneLine(
      "train",
      ["--config", `${root}/bad.json`],
      /^train: config .*bad\.json is not valid JSON/,
    );
    await Deno.writeTextFile(
      `${root}/typo.json`,
      JSON.stringify({ datasets: [{ type: "ref-shapes", root }], lr: 1 }),
    );
    await expectOneLine("train", ["--config", `${root}/typo.json`], /typo\.json: unknown key "lr"/);
    await Deno.writeTextFile(
      `${root}/nodata.json`,
      JSON.stringify({ datasets: [{ type: "ref-shapes", root: `${root}/missing` }] }),
    );
    await expectOneLine(
      "train",
      ["--config", `${root}/nodata.json`],
      `dataset root (ref-shapes) not found: ${root}/missing`,
    );
    await expectOneLine(
      "train",
      ["--config", `${root}/typo.json`, "--backend", "cuda9"],
      'unknown backend "cuda9" (choose one of: cpu, native, webgpu, auto)',
    );
    await expectOneLine("train", ["--confg", "x"], /^train: Unknown option '--confg'/);
  });

  test("infer and eval: missing inputs; a sentence without a noun chunk", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-cli-" });
    dirs.push(root);
    await expectOneLine(
      "infer",
      [
        "--checkpoint",
        `${root}/w.safetensors`,
        "--video",
        "v.mp4",
        "--sentence",
        "a dog",
        "--out",
        root,
      ],
      `checkpoint not found: ${root}/w.safetensors`,
    );
    await expectOneLine(
      "infer",
      ["--checkpoint", "w", "--video", "v.mp4", "--out", root],
      "--sentence is required with --video/--frames",
    );
    await expectOneLine(
      "infer",
      ["--checkpoint", "w", "--video", "v.mp4", "--frames", "d", "--sentence", "x", "--out", root],
      "give exactly one of --video, --frames, --ytvos, --davis (see --help)",
    );
    await expectOneLine(
      "eval",
      ["--pred", root, "--gt", `${root}/gt`, "--layout", "ytvos"],
      `ground-truth folder not found: ${root}/gt`,
    );

    manualSeed(2);
    const model = new DMFormer(resolveConfig(TEST_MODEL_SPEC as never));
    await saveModelWeights(model, `${root}/w.safetensors`);
    await Deno.writeTextFile(
      `${root}/c.json`,
      JSON.stringify({ model: TEST_MODEL_SPEC, inference: { shortSide: 48 } }),
    );
    await Deno.writeTextFile(
      `${root}/wrong.json`,
      JSON.stringify({ model: { ...TEST_MODEL_SPEC, hiddenDim: 64 } }),
    );
    const clip = generateRefShapesClip(3, { height: 48, width: 48, numFrames: 2 });
    await Deno.mkdir(`${root}/frames`);
    for (let i = 0; i < 2; i++) await writePng(`${root}/frames/${i}.png`, clip.frames[i]);
    const base = [
      "--checkpoint",
      `${root}/w.safetensors`,
      "--frames",
      `${root}/frames`,
      "--out",
      `${root}/out`,
    ];
    await expectOneLine(
      "infer",
      [...base, "--config", `${root}/wrong.json`, "--sentence", "the circle"],
      /^infer: w\.safetensors does not fit the model config: /,
    );
    await expectOneLine(
      "infer",
      [...base, "--config", `${root}/c.json`, "--sentence", "the circle", "--tta", "hflip,vflip"],
      '--tta: unknown view "vflip" (expected hflip, reverse or "none")',
    );
    await expectOneLine(
      "infer",
      [...base, "--config", `${root}/c.json`, "--sentence", "the circle", "--clip-frames", "2.5"],
      '--clip-frames must be an integer >= 0, got "2.5"',
    );
    await expectOneLine(
      "infer",
      [...base, "--config", `${root}/c.json`, "--sentence", "the circle", "--mask-crf", "yes"],
      '--mask-crf must be on or off, got "yes"',
    );
    await expectOneLine(
      "infer",
      [...base, "--config", `${root}/c.json`, "--sentence", "the circle", "--relink-slots", "1"],
      '--relink-slots must be on or off, got "1"',
    );
    const r = await run("infer", [
      ...base,
      "--config",
      `${root}/c.json`,
      "--sentence",
      "moving fast",
      "--mask-crf",
      "on",
      "--relink-slots",
      "on",
      "--quiet",
    ]);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([
      'infer: note: "moving fast" has no noun chunk; the whole sentence is the subject candidate ' +
      "(the reference's fallback)",
    ]);
    await Deno.stat(`${root}/out/00-moving-fast/result.json`);
  });
});
