import type { RgbImage } from "../media/frame.ts";
import { Rng } from "./rng.ts";

/** Shape rasterisation and textured backgrounds for the Ref-Shapes generator. */

export const SHAPE_KINDS = ["circle", "square", "triangle", "star", "diamond"] as const;
export type ShapeKind = typeof SHAPE_KINDS[number];

export const SHAPE_COLOURS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [50, 90, 230],
  yellow: [235, 215, 50],
  purple: [150, 70, 200],
  orange: [250, 140, 30],
  white: [245, 245, 245],
} as const;
export type ShapeColour = keyof typeof SHAPE_COLOURS;

function polygon(points: number, outer: number, inner: number, rotation: number): number[] {
  const xy: number[] = [];
  for (let i = 0; i < points * (inner > 0 ? 2 : 1); i++) {
    const radius = inner > 0 && i % 2 === 1 ? inner : outer;
    const angle = rotation + (Math.PI * i) / (inner > 0 ? points : points / 2);
    xy.push(radius * Math.cos(angle), radius * Math.sin(angle));
  }
  return xy;
}

// Unit-radius outlines; "up" is -y in image coordinates.
const TRIANGLE = polygon(3, 1.2, 0, -Math.PI / 2);
const STAR = polygon(5, 1.25, 0.52, -Math.PI / 2);

function insidePolygon(xy: number[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = xy.length - 2; i < xy.length; j = i, i += 2) {
    const xi = xy[i], yi = xy[i + 1], xj = xy[j], yj = xy[j + 1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether the offset (dx, dy) from a shape's centre, in radius units, is inside it. */
export function insideShape(kind: ShapeKind, dx: number, dy: number): boolean {
  switch (kind) {
    case "circle":
      return dx * dx + dy * dy <= 1;
    case "square":
      return Math.max(Math.abs(dx), Math.abs(dy)) <= 0.85;
    case "diamond":
      return Math.abs(dx) + Math.abs(dy) <= 1.2;
    case "triangle":
      return insidePolygon(TRIANGLE, dx, dy);
    case "star":
      return insidePolygon(STAR, dx, dy);
  }
}

/** Sets `value` in `target` (h*w) on the pixels whose centres fall inside the shape. */
export function rasterizeShape(
  target: Uint8Array,
  width: number,
  height: number,
  kind: ShapeKind,
  cx: number,
  cy: number,
  radius: number,
  value: number,
): void {
  const reach = radius * 1.3;
  const x0 = Math.max(0, Math.floor(cx - reach)), x1 = Math.min(width - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach)), y1 = Math.min(height - 1, Math.ceil(cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (insideShape(kind, (x + 0.5 - cx) / radius, (y + 0.5 - cy) / radius)) {
        target[y * width + x] = value;
      }
    }
  }
}

/** A static two-colour wave texture for one clip (float RGB, row-major). */
export function backgroundTexture(width: number, height: number, rng: Rng): Float32Array {
  const c1 = [0, 1, 2].map(() => rng.uniform(60, 160));
  const c2 = [0, 1, 2].map(() => rng.uniform(60, 160));
  const f = [rng.uniform(0.01, 0.06), rng.uniform(0.01, 0.06)];
  const g = [rng.uniform(0.02, 0.09), rng.uniform(0.02, 0.09)];
  const phase = [rng.uniform(0, 2 * Math.PI), rng.uniform(0, 2 * Math.PI)];
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = 0.5 + 0.25 * Math.sin(2 * Math.PI * (f[0] * x + f[1] * y) + phase[0]) +
        0.25 * Math.sin(2 * Math.PI * (g[0] * x - g[1] * y) + phase[1]);
      for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = c1[c] * (1 - s) + c2[c] * s;
    }
  }
  return out;
}

function noisy(base: number, bits: number, amplitude: number): number {
  const v = base + ((bits & 31) - 15.5) * amplitude;
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** One frame: the texture plus per-pixel noise, with object pixels painted by instance id. */
export function paintFrame(
  texture: Float32Array,
  instances: Uint8Array,
  width: number,
  height: number,
  colours: Map<number, readonly number[]>,
  rng: Rng,
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const bits = rng.nextUint32();
    const id = instances[p];
    const colour = id ? colours.get(id)! : null;
    for (let c = 0; c < 3; c++) {
      const base = colour ? colour[c] : texture[p * 3 + c];
      data[p * 3 + c] = noisy(base, bits >>> (c * 8), colour ? 0.5 : 0.7);
    }
  }
  return { width, height, data };
}
