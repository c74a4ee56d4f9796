import type { ShapeColour, ShapeKind } from "./ref_shapes_render.ts";
import type { Rng } from "./rng.ts";

/**
 * Referring expressions for Ref-Shapes. An expression is a noun phrase (the subject: "the red
 * triangle", "the shape") and an optional qualifier (motion, position in the frame, or a
 * relation to another uniquely described object). It is accepted only when it holds for the
 * target in every frame and every other object matching the noun phrase clearly fails it
 * (fails in most frames), so the expression picks exactly one object.
 */

export type Motion = "left" | "right" | "up" | "down" | "still";
export type SizeClass = "small" | "big";

export interface ShapeObject {
  id: number;
  kind: ShapeKind;
  colour: ShapeColour;
  sizeClass: SizeClass;
  radius: number;
  motion: Motion;
  /** Centre [x, y] per frame. */
  centres: [number, number][];
  /** Drawing order: higher is in front. */
  z: number;
}

export interface NounPhrase {
  size?: SizeClass;
  colour?: ShapeColour;
  /** Absent = "shape". */
  kind?: ShapeKind;
}

export type Side = "left" | "right" | "top" | "bottom";
export type Relation = "above" | "below" | "left-of" | "right-of";

export type Qualifier =
  | { type: "none" }
  | { type: "motion"; motion: Motion }
  | { type: "position"; side: Side }
  | { type: "relation"; relation: Relation; ref: NounPhrase };

export interface ExpressionSpec {
  np: NounPhrase;
  qualifier: Qualifier;
}

export function nounPhraseWords(np: NounPhrase): string[] {
  return [
    "the",
    ...(np.size ? [np.size] : []),
    ...(np.colour ? [np.colour] : []),
    np.kind ?? "shape",
  ];
}

const RELATION_WORDS: Record<Relation, string[]> = {
  "above": ["above"],
  "below": ["below"],
  "left-of": ["to", "the", "left", "of"],
  "right-of": ["to", "the", "right", "of"],
};

/** The sentence words; the subject is words [0, nounPhraseWords(np).length). */
export function expressionWords(spec: ExpressionSpec): string[] {
  const q = spec.qualifier;
  const tail = q.type === "none"
    ? []
    : q.type === "motion"
    ? (q.motion === "still" ? ["that", "is", "not", "moving"] : ["moving", q.motion])
    : q.type === "position"
    ? [q.side === "left" || q.side === "right" ? "on" : "at", "the", q.side]
    : [...RELATION_WORDS[q.relation], ...nounPhraseWords(q.ref)];
  return [...nounPhraseWords(spec.np), ...tail];
}

export function matchesNounPhrase(o: ShapeObject, np: NounPhrase): boolean {
  return (np.kind === undefined || o.kind === np.kind) &&
    (np.colour === undefined || o.colour === np.colour) &&
    (np.size === undefined || o.sizeClass === np.size);
}

/** Signed separation of a from b along a side/relation direction (positive = holds). */
function separation(a: ShapeObject, b: ShapeObject, f: number, dir: Side): number {
  const [ax, ay] = a.centres[f], [bx, by] = b.centres[f];
  return dir === "left" ? bx - ax : dir === "right" ? ax - bx : dir === "top" ? by - ay : ay - by;
}

function margin(a: ShapeObject, b: ShapeObject): number {
  return Math.max(2, 0.25 * (a.radius + b.radius));
}

/** a is clearly on `dir` of b in every frame. */
function holdsAlways(a: ShapeObject, b: ShapeObject, dir: Side): boolean {
  return a.centres.every((_, f) => separation(a, b, f, dir) >= margin(a, b));
}

/** a is not on `dir` of b in most frames. */
function failsMostly(a: ShapeObject, b: ShapeObject, dir: Side): boolean {
  const fails = a.centres.filter((_, f) => separation(a, b, f, dir) <= 0).length;
  return fails * 2 > a.centres.length;
}

const RELATION_DIR: Record<Relation, Side> = {
  "above": "top",
  "below": "bottom",
  "left-of": "left",
  "right-of": "right",
};

/**
 * How an expression reads on a clip: the objects for which it holds, and those for which it is
 * unclear (neither holds in every frame nor clearly fails). A position qualifier needs at least
 * two objects matching its noun phrase.
 */
export function evaluateExpression(
  spec: ExpressionSpec,
  objects: ShapeObject[],
): { holds: ShapeObject[]; unclear: ShapeObject[] } {
  const candidates = objects.filter((o) => matchesNounPhrase(o, spec.np));
  const q = spec.qualifier;
  switch (q.type) {
    case "none":
      return { holds: candidates, unclear: [] };
    case "motion":
      return { holds: candidates.filter((o) => o.motion === q.motion), unclear: [] };
    case "position": {
      if (candidates.length < 2) return { holds: [], unclear: candidates };
      const holds = candidates.filter((o) =>
        candidates.every((other) => other === o || holdsAlways(o, other, q.side))
      );
      const unclear = holds.length === 1
        ? candidates.filter((o) => o !== holds[0] && !failsMostly(o, holds[0], q.side))
        : candidates.filter((o) => !holds.includes(o));
      return { holds, unclear };
    }
    case "relation": {
      const refs = objects.filter((o) => matchesNounPhrase(o, q.ref));
      if (refs.length !== 1) return { holds: [], unclear: candidates };
      const ref = refs[0];
      const dir = RELATION_DIR[q.relation];
      const others = candidates.filter((o) => o !== ref);
      return {
        holds: others.filter((o) => holdsAlways(o, ref, dir)),
        unclear: others.filter((o) => !holdsAlways(o, ref, dir) && !failsMostly(o, ref, dir)),
      };
    }
  }
}

/** The objects an expression could be taken to mean; a valid expression has exactly one. */
export function referents(spec: ExpressionSpec, objects: ShapeObject[]): ShapeObject[] {
  const { holds, unclear } = evaluateExpression(spec, objects);
  return [...holds, ...unclear];
}

export function isUnambiguous(
  spec: ExpressionSpec,
  target: ShapeObject,
  objects: ShapeObject[],
): boolean {
  const { holds, unclear } = evaluateExpression(spec, objects);
  return holds.length === 1 && holds[0] === target && unclear.length === 0;
}

export type Template = "subject-only" | "motion" | "position" | "relation";

export function templateOf(spec: ExpressionSpec): Template {
  return spec.qualifier.type === "none" ? "subject-only" : spec.qualifier.type;
}

/**
 * The template of a generated sentence, read back from its wording ("moving ..." / "that is not
 * moving", "above" / "below" / "to the left of", "on the left" / "at the top"); the dataset files
 * keep only the sentence.
 */
export function templateOfSentence(sentence: string): Template {
  const s = ` ${sentence.toLowerCase().trim()} `;
  if (/ moving /.test(s)) return "motion";
  if (/ (above|below) | to the (left|right) of /.test(s)) return "relation";
  if (/ (on the (left|right)|at the (top|bottom)) $/.test(s)) return "position";
  return "subject-only";
}

function nounPhrases(o: ShapeObject): Record<string, NounPhrase> {
  return {
    kind: { kind: o.kind },
    colourKind: { colour: o.colour, kind: o.kind },
    sizeKind: { size: o.sizeClass, kind: o.kind },
    full: { size: o.sizeClass, colour: o.colour, kind: o.kind },
    colour: { colour: o.colour },
    shape: {},
  };
}

/** Every accepted expression for `target`. */
export function candidateExpressions(
  target: ShapeObject,
  objects: ShapeObject[],
): ExpressionSpec[] {
  const np = nounPhrases(target);
  const specs: ExpressionSpec[] = [];
  for (const n of [np.kind, np.colourKind, np.sizeKind, np.full, np.colour]) {
    specs.push({ np: n, qualifier: { type: "none" } });
  }
  for (const n of [np.kind, np.colourKind, np.shape]) {
    specs.push({ np: n, qualifier: { type: "motion", motion: target.motion } });
  }
  for (const n of [np.shape, np.kind, np.colour]) {
    for (const side of ["left", "right", "top", "bottom"] as const) {
      specs.push({ np: n, qualifier: { type: "position", side } });
    }
  }
  for (const other of objects) {
    if (other === target) continue;
    const refs = [nounPhrases(other).kind, nounPhrases(other).colourKind].filter((r) =>
      objects.filter((o) => matchesNounPhrase(o, r)).length === 1
    );
    if (refs.length === 0) continue;
    for (const n of [np.kind, np.colourKind]) {
      for (const relation of ["above", "below", "left-of", "right-of"] as const) {
        specs.push({ np: n, qualifier: { type: "relation", relation, ref: refs[0] } });
      }
    }
  }
  return specs.filter((s) => isUnambiguous(s, target, objects));
}

/**
 * Up to `count` expressions for `target` with different templates, each the shortest accepted
 * one of its template (ties broken at random).
 */
export function chooseExpressions(
  target: ShapeObject,
  objects: ShapeObject[],
  count: number,
  rng: Rng,
): ExpressionSpec[] {
  const byTemplate = new Map<Template, ExpressionSpec[]>();
  for (const spec of candidateExpressions(target, objects)) {
    const t = templateOf(spec);
    if (!byTemplate.has(t)) byTemplate.set(t, []);
    byTemplate.get(t)!.push(spec);
  }
  const templates = rng.shuffle([...byTemplate.keys()]);
  return templates.slice(0, count).map((t) => {
    const specs = byTemplate.get(t)!;
    const shortest = Math.min(...specs.map((s) => expressionWords(s).length));
    return rng.choice(specs.filter((s) => expressionWords(s).length === shortest));
  });
}
