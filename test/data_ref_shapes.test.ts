import { afterAll, describe, expect, test } from "vitest";
import { generateRefShapesClip, type RefShapesClip } from "../src/data/ref_shapes.ts";
import { type ShapeObject, templateOfSentence } from "../src/data/ref_shapes_grammar.ts";
import { SHAPE_COLOURS, SHAPE_KINDS } from "../src/data/ref_shapes_render.ts";
import { writeRefShapesDataset } from "../src/data/ref_shapes_writer.ts";
import { openRefYtvos } from "../src/data/ytvos.ts";
import { SubjectLabeler } from "../src/data/subject_labels.ts";
import { readPaletteMask } from "../src/media/png.ts";
import { Rng } from "../src/data/rng.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));
const tempDir = () => {
  const d = Deno.makeTempDirSync();
  dirs.push(d);
  return d;
};

/** Reads an expression's words back against the objects, independently of the generator. */
function checkExpression(
  text: string,
  span: [number, number],
  target: ShapeObject,
  clip: RefShapesClip,
) {
  const words = text.split(" ");
  const parseNp = (np: string[]) => {
    expect(np[0]).toBe("the");
    const head = np[np.length - 1];
    expect([...SHAPE_KINDS, "shape"]).toContain(head);
    const attrs = np.slice(1, -1);
    const size = attrs.find((w) => w === "small" || w === "big");
    const colour = attrs.find((w) => w in SHAPE_COLOURS);
    expect(attrs.length).toBe((size ? 1 : 0) + (colour ? 1 : 0));
    return (o: ShapeObject) =>
      (head === "shape" || o.kind === head) && (!colour || o.colour === colour) &&
      (!size || o.sizeClass === size);
  };
  expect(span[0]).toBe(0);
  const matches = parseNp(words.slice(0, span[1]));
  const rest = words.slice(span[1]).join(" ");
  const candidates = clip.objects.filter(matches);
  expect(candidates).toContain(target);
  const frames = target.centres.length;
  const x = (o: ShapeObject, f: number) => o.centres[f][0],
    y = (o: ShapeObject, f: number) => o.centres[f][1];
  if (rest === "") {
    expect(candidates).toEqual([target]);
    return "subject-only";
  }
  const motion = /^moving (left|right|up|down)$/.exec(rest)?.[1] ??
    (rest === "that is not moving" ? "still" : null);
  if (motion) {
    expect(candidates.filter((o) => o.motion === motion)).toEqual([target]);
    return "motion";
  }
  const side = /^(?:on|at) the (left|right|top|bottom)$/.exec(rest)?.[1];
  const key = (o: ShapeObject, f: number) =>
    side === "left" ? x(o, f) : side === "right" ? -x(o, f) : side === "top" ? y(o, f) : -y(o, f);
  if (side) {
    expect(candidates.length).toBeGreaterThanOrEqual(2);
    for (let f = 0; f < frames; f++) {
      for (const o of candidates) if (o !== target) expect(key(target, f)).toBeLessThan(key(o, f));
    }
    return "position";
  }
  const rel = /^(above|below|to the left of|to the right of) (.*)$/.exec(rest);
  expect(rel).not.toBeNull();
  const refs = clip.objects.filter(parseNp(rel![2].split(" ")));
  expect(refs.length).toBe(1);
  const ref = refs[0];
  expect(ref).not.toBe(target);
  const holds = (o: ShapeObject, f: number) =>
    rel![1] === "above"
      ? y(o, f) < y(ref, f)
      : rel![1] === "below"
      ? y(o, f) > y(ref, f)
      : rel![1] === "to the left of"
      ? x(o, f) < x(ref, f)
      : x(o, f) > x(ref, f);
  for (let f = 0; f < frames; f++) expect(holds(target, f)).toBe(true);
  for (const o of candidates) {
    if (o === target || o === ref) continue;
    const count = target.centres.filter((_, f) => holds(o, f)).length;
    expect(count * 2).toBeLessThan(frames);
  }
  return "relation";
}

describe("Ref-Shapes generator", () => {
  test("the template of every generated sentence reads back from its words", () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 40; seed++) {
      for (
        const e of generateRefShapesClip(seed, { height: 64, width: 96, numFrames: 6 }).expressions
      ) {
        expect(templateOfSentence(e.text), e.text).toBe(e.template);
        counts.set(e.template, (counts.get(e.template) ?? 0) + 1);
      }
    }
    expect([...counts.keys()].sort()).toEqual(["motion", "position", "relation", "subject-only"]);
  });

  test("same seed, same clip; another seed, another clip", () => {
    const a = generateRefShapesClip(5), b = generateRefShapesClip(5), c = generateRefShapesClip(6);
    expect(a.frames).toEqual(b.frames);
    expect(a.instanceMaps).toEqual(b.instanceMaps);
    expect(a.expressions.map((e) => e.text)).toEqual(b.expressions.map((e) => e.text));
    expect(c.frames[0].data).not.toEqual(a.frames[0].data);
  });

  test("every expression picks exactly one object; templates vary; context is sometimes needed", () => {
    const seen = new Map<string, number>();
    let needsContext = 0;
    for (let seed = 0; seed < 30; seed++) {
      const clip = generateRefShapesClip(seed, { height: 64, width: 96, numFrames: 8 });
      expect(clip.objects.length).toBeGreaterThanOrEqual(2);
      expect(clip.objects.length).toBeLessThanOrEqual(4);
      expect(clip.frameNames).toEqual([
        "00000",
        "00005",
        "00010",
        "00015",
        "00020",
        "00025",
        "00030",
        "00035",
      ]);
      for (const e of clip.expressions) {
        const target = clip.objects.find((o) => o.id === e.objId)!;
        const kind = checkExpression(e.text, e.subjectSpan, target, clip);
        expect(kind).toBe(e.template);
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        const np = e.spec.np;
        const npMatches = clip.objects.filter((o) =>
          (!np.kind || o.kind === np.kind) && (!np.colour || o.colour === np.colour) &&
          (!np.size || o.sizeClass === np.size)
        );
        if (npMatches.length > 1) needsContext++;
      }
    }
    expect([...seen.keys()].sort()).toEqual(["motion", "position", "relation", "subject-only"]);
    for (const n of seen.values()) expect(n).toBeGreaterThan(5);
    expect(needsContext).toBeGreaterThan(10);
  });

  test("instance maps: ids of the clip's objects, painted in the objects' colours", () => {
    const clip = generateRefShapesClip(3, { height: 48, width: 64, numFrames: 6 });
    const ids = new Set(clip.objects.map((o) => o.id));
    clip.instanceMaps.forEach((map, f) => {
      for (let p = 0; p < map.length; p++) {
        if (!map[p]) continue;
        expect(ids.has(map[p])).toBe(true);
        const o = clip.objects.find((x) => x.id === map[p])!;
        const rgb = clip.frames[f].data.subarray(p * 3, p * 3 + 3);
        SHAPE_COLOURS[o.colour].forEach((c, k) =>
          expect(Math.abs(rgb[k] - c)).toBeLessThanOrEqual(8)
        );
      }
    });
    for (const o of clip.objects) {
      const present = clip.instanceMaps.filter((m) => m.includes(o.id)).length;
      expect(present).toBeGreaterThanOrEqual(0.6 * 6);
    }
  });

  test("options are checked", () => {
    expect(() => generateRefShapesClip(1, { height: 20 })).toThrow(
      "ref-shapes: size 20x128 outside",
    );
    expect(() => generateRefShapesClip(1, { numFrames: 1 })).toThrow("numFrames 1 outside 2..200");
  });
});

describe("Ref-Shapes on disk", () => {
  const options = (out: string) => ({
    out,
    trainVideos: 3,
    validVideos: 1,
    frames: [6, 8] as [number, number],
    height: 48,
    width: 64,
    seed: 11,
  });

  async function listFiles(root: string, dir = ""): Promise<string[]> {
    const out: string[] = [];
    for await (const e of Deno.readDir(`${root}/${dir}`)) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) out.push(...await listFiles(root, rel));
      else out.push(rel);
    }
    return out.sort();
  }

  test("same seed writes identical bytes", async () => {
    const a = tempDir(), b = tempDir();
    const summary = await writeRefShapesDataset(options(a));
    await writeRefShapesDataset(options(b));
    expect(summary.videos).toEqual({ train: 3, valid: 1 });
    const files = await listFiles(a);
    expect(await listFiles(b)).toEqual(files);
    expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
    for (const f of files) {
      expect(await Deno.readFile(`${b}/${f}`)).toEqual(await Deno.readFile(`${a}/${f}`));
    }
    expect(files).toContain("meta_expressions/valid/subject_spans.json");
    expect(files).toContain("train/JPEGImages/train_0000/00000.jpg");
  });

  test("the tree loads as Ref-YouTube-VOS with synthetic subject spans", async () => {
    const root = tempDir();
    await writeRefShapesDataset(options(root));
    const labeler = await SubjectLabeler.load([
      `${root}/meta_expressions/train/subject_spans.json`,
    ]);
    const ds = await openRefYtvos(root, { numFrames: 3, labeler });
    expect(ds.length).toBeGreaterThan(3);
    const s = await ds.get(0, new Rng(0));
    expect(s.subject?.source).toBe("synthetic");
    const span = s.subject!.tokenSpan!;
    expect(s.caption.split(" ").slice(span[0], span[1])[0]).toBe("the");
    const ann = await readPaletteMask(`${root}/train/Annotations/${s.video}/${s.frameIds[0]}.png`);
    expect([...s.targets.masks[0]]).toEqual([...ann.indices].map((v) => (v === s.objId ? 1 : 0)));
    const meta = JSON.parse(await Deno.readTextFile(`${root}/train/meta.json`));
    expect(SHAPE_KINDS).toContain(meta.videos[s.video].objects[String(s.objId)].category);
  });

  test("the CLI validates its arguments and writes the dataset", async () => {
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), { args: ["run", "-A", "tools/make_synthetic.ts", ...args] })
        .output();
    const bad = await run(["--out", tempDir(), "--size", "96by128"]);
    expect(bad.code).toBe(2);
    expect(new TextDecoder().decode(bad.stderr)).toContain(
      'make_synthetic: --size must look like HEIGHTxWIDTH (e.g. 96x128), got "96by128"',
    );
    const out = tempDir();
    const ok = await run([
      "--out",
      out,
      "--videos",
      "2",
      "--valid",
      "1",
      "--frames",
      "4",
      "--size",
      "48x64",
      "--seed",
      "2",
    ]);
    expect(new TextDecoder().decode(ok.stdout)).toContain("ref-shapes: 2 train / 1 valid videos");
    const meta = JSON.parse(
      await Deno.readTextFile(`${out}/meta_expressions/valid/meta_expressions.json`),
    );
    expect(Object.keys(meta.videos)).toEqual(["valid_0000"]);
    expect(meta.videos.valid_0000.frames.length).toBe(4);
  });
});
