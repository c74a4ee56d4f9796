import type { RgbImage } from "../media/frame.ts";
import {
  chooseExpressions,
  type ExpressionSpec,
  expressionWords,
  type Motion,
  nounPhraseWords,
  type ShapeObject,
  type Template,
  templateOf,
} from "./ref_shapes_grammar.ts";
import {
  backgroundTexture,
  paintFrame,
  rasterizeShape,
  SHAPE_COLOURS,
  SHAPE_KINDS,
  type ShapeColour,
} from "./ref_shapes_render.ts";
import { Rng } from "./rng.ts";

/**
 * Ref-Shapes: procedurally rendered referring-segmentation clips. 2-4 shapes (kind, colour,
 * size, motion, depth order) move over a textured, noisy background; every expression is
 * checked to pick exactly one object, and its subject span is known exactly.
 */
export interface RefShapesOptions {
  height?: number;
  width?: number;
  numFrames?: number;
  minObjects?: number;
  maxObjects?: number;
  maxExpressionsPerObject?: number;
}

export interface RefShapesExpression {
  expId: string;
  text: string;
  objId: number;
  /** Word indices [start, end) of the subject noun phrase. */
  subjectSpan: [number, number];
  template: Template;
  spec: ExpressionSpec;
}

export interface RefShapesClip {
  width: number;
  height: number;
  frames: RgbImage[];
  /** Per frame, h*w visible object ids (0 = background). */
  instanceMaps: Uint8Array[];
  objects: ShapeObject[];
  expressions: RefShapesExpression[];
  /** YTVOS-style frame names: 00000, 00005, ... */
  frameNames: string[];
}

const MOTIONS: Motion[] = ["left", "right", "up", "down", "still"];
const MAX_LAYOUT_TRIES = 200;

function checkOptions(o: Required<RefShapesOptions>): void {
  const fail = (what: string) => {
    throw new Error(`ref-shapes: ${what}`);
  };
  if (!(o.height >= 48 && o.height <= 1080 && o.width >= 48 && o.width <= 1920)) {
    fail(`size ${o.height}x${o.width} outside 48x48 .. 1080x1920`);
  }
  if (!(Number.isInteger(o.numFrames) && o.numFrames >= 2 && o.numFrames <= 200)) {
    fail(`numFrames ${o.numFrames} outside 2..200`);
  }
  if (!(o.minObjects >= 2 && o.maxObjects >= o.minObjects && o.maxObjects <= 6)) {
    fail(`object counts ${o.minObjects}..${o.maxObjects} must lie within 2..6`);
  }
}

/** Start and per-frame step along one axis so the shape stays inside [r, size - r]. */
function trajectory(size: number, r: number, frames: number, moving: -1 | 0 | 1, rng: Rng) {
  const lo = r + 1, hi = size - r - 1;
  if (moving === 0) return { start: rng.uniform(lo, hi), step: 0 };
  const travel = rng.uniform(0.25, 0.55) * (hi - lo);
  const start = moving > 0 ? rng.uniform(lo, hi - travel) : rng.uniform(lo + travel, hi);
  return { start, step: (moving * travel) / (frames - 1) };
}

function layoutObjects(o: Required<RefShapesOptions>, rng: Rng): ShapeObject[] {
  const count = rng.randint(o.minObjects, o.maxObjects);
  const unit = Math.min(o.height, o.width);
  const colours = Object.keys(SHAPE_COLOURS) as ShapeColour[];
  const ids = rng.shuffle(Array.from({ length: count }, (_, i) => i + 1));
  const objects: ShapeObject[] = [];
  for (let i = 0; i < count; i++) {
    let kind = rng.choice(SHAPE_KINDS), colour = rng.choice(colours);
    let sizeClass = rng.chance(0.5) ? "big" as const : "small" as const;
    let motion = rng.choice(MOTIONS);
    if (i > 0 && rng.chance(0.4)) {
      // A look-alike of an earlier object: only size or motion (or position) tells them apart.
      const twin = rng.choice(objects);
      kind = twin.kind;
      colour = twin.colour;
      if (rng.chance(0.5)) sizeClass = twin.sizeClass === "big" ? "small" : "big";
      else motion = rng.choice(MOTIONS.filter((m) => m !== twin.motion));
    }
    const radius = unit * (sizeClass === "big" ? rng.uniform(0.14, 0.17) : rng.uniform(0.08, 0.1));
    const dx = motion === "left" ? -1 : motion === "right" ? 1 : 0;
    const dy = motion === "up" ? -1 : motion === "down" ? 1 : 0;
    const tx = trajectory(o.width, radius * 1.3, o.numFrames, dx, rng);
    const ty = trajectory(o.height, radius * 1.3, o.numFrames, dy, rng);
    const centres = Array.from(
      { length: o.numFrames },
      (_, f) => [tx.start + tx.step * f, ty.start + ty.step * f] as [number, number],
    );
    objects.push({ id: ids[i], kind, colour, sizeClass, radius, motion, centres, z: i });
  }
  return objects;
}

function instanceMap(objects: ShapeObject[], f: number, width: number, height: number) {
  const map = new Uint8Array(width * height);
  for (const o of [...objects].sort((a, b) => a.z - b.z)) {
    const [cx, cy] = o.centres[f];
    rasterizeShape(map, width, height, o.kind, cx, cy, o.radius, o.id);
  }
  return map;
}

/** Each object must show at least 30 % of itself in at least 60 % of the frames. */
function visibleEnough(objects: ShapeObject[], maps: Uint8Array[], width: number, height: number) {
  return objects.every((o) => {
    let good = 0;
    maps.forEach((map, f) => {
      const alone = new Uint8Array(width * height);
      const [cx, cy] = o.centres[f];
      rasterizeShape(alone, width, height, o.kind, cx, cy, o.radius, 1);
      let full = 0, seen = 0;
      for (let p = 0; p < alone.length; p++) {
        full += alone[p];
        if (alone[p] && map[p] === o.id) seen++;
      }
      if (full > 0 && seen >= 0.3 * full) good++;
    });
    return good >= 0.6 * maps.length;
  });
}

/** Generates one clip; identical (seed, options) give identical clips. */
export function generateRefShapesClip(seed: number, options: RefShapesOptions = {}): RefShapesClip {
  const o: Required<RefShapesOptions> = {
    height: 96,
    width: 128,
    numFrames: 12,
    minObjects: 2,
    maxObjects: 4,
    maxExpressionsPerObject: 2,
    ...options,
  };
  checkOptions(o);
  const { width, height } = o;
  for (let attempt = 0; attempt < MAX_LAYOUT_TRIES; attempt++) {
    const rng = new Rng(seed, "ref-shapes", attempt);
    const objects = layoutObjects(o, rng.fork("layout"));
    const maps = Array.from(
      { length: o.numFrames },
      (_, f) => instanceMap(objects, f, width, height),
    );
    if (!visibleEnough(objects, maps, width, height)) continue;
    const exprRng = rng.fork("expressions");
    const expressions: RefShapesExpression[] = [];
    for (const target of [...objects].sort((a, b) => a.id - b.id)) {
      for (const spec of chooseExpressions(target, objects, o.maxExpressionsPerObject, exprRng)) {
        expressions.push({
          expId: String(expressions.length),
          text: expressionWords(spec).join(" "),
          objId: target.id,
          subjectSpan: [0, nounPhraseWords(spec.np).length],
          template: templateOf(spec),
          spec,
        });
      }
    }
    if (expressions.length === 0) continue;
    const texture = backgroundTexture(width, height, rng.fork("background"));
    const colours = new Map(objects.map((obj) => [obj.id, SHAPE_COLOURS[obj.colour]]));
    const frames = maps.map((map, f) =>
      paintFrame(texture, map, width, height, colours, rng.fork("noise", f))
    );
    const frameNames = maps.map((_, f) => String(f * 5).padStart(5, "0"));
    return { width, height, frames, instanceMaps: maps, objects, expressions, frameNames };
  }
  throw new Error(`ref-shapes: no valid layout for seed ${seed} after ${MAX_LAYOUT_TRIES} tries`);
}
