/**
 * COCO mask formats decoded with pycocotools' rules: run-length encoding over column-major
 * pixels starting with a run of zeros, the compressed string form, and polygon rasterisation
 * (rleFrPoly: 5x upsampled boundary walk, then y-boundary crossings).
 */
export interface Rle {
  /** [height, width] */
  size: [number, number];
  counts: number[];
}

export type Segmentation = number[][] | { size: [number, number]; counts: string | number[] };

/** pycocotools rleFrString. */
export function rleFromString(s: string, height: number, width: number): Rle {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      if (p >= s.length) throw new Error("coco rle: truncated compressed counts");
      const c = s.charCodeAt(p) - 48;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return { size: [height, width], counts };
}

/** pycocotools rleToString (for writing and round-trip tests). */
export function rleToString(rle: Rle): string {
  let s = "";
  rle.counts.forEach((count, i) => {
    let x = i > 2 ? count - rle.counts[i - 2] : count;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x = Math.floor(x / 32);
      more = (c & 0x10) ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  });
  return s;
}

/** pycocotools rleFrPoly for one polygon [x0, y0, x1, y1, ...]. */
export function rleFromPolygon(xy: number[], height: number, width: number): Rle {
  const k = xy.length / 2;
  const scale = 5;
  const x: number[] = [], y: number[] = [];
  for (let j = 0; j < k; j++) {
    x.push(Math.trunc(scale * xy[2 * j] + 0.5));
    y.push(Math.trunc(scale * xy[2 * j + 1] + 0.5));
  }
  x.push(x[0]);
  y.push(y[0]);
  const u: number[] = [], v: number[] = [];
  for (let j = 0; j < k; j++) {
    let xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) [xs, xe, ys, ye] = [xe, xs, ye, ys];
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(Math.trunc(ys + s * t + 0.5));
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(Math.trunc(xs + s * t + 0.5));
      }
    }
  }
  const positions: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > width - 1) continue;
    let yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
    yd = (yd + 0.5) / scale - 0.5;
    yd = Math.ceil(yd < 0 ? 0 : yd > height ? height : yd);
    positions.push(xd * height + yd);
  }
  positions.push(height * width);
  positions.sort((a, b) => a - b);
  let prev = 0;
  const diffs = positions.map((pos) => {
    const d = pos - prev;
    prev = pos;
    return d;
  });
  const counts: number[] = [diffs[0]];
  for (let j = 1; j < diffs.length;) {
    if (diffs[j] > 0) counts.push(diffs[j++]);
    else {
      j++;
      if (j < diffs.length) counts[counts.length - 1] += diffs[j++];
    }
  }
  return { size: [height, width], counts };
}

/** Row-major 0/1 mask of an RLE. */
export function rleToMask(rle: Rle): Uint8Array {
  const [h, w] = rle.size;
  const mask = new Uint8Array(h * w);
  let pos = 0, value = 0;
  for (const run of rle.counts) {
    if (pos + run > h * w) throw new Error(`coco rle: counts cover more than ${h}x${w} pixels`);
    if (value) {
      for (let i = pos; i < pos + run; i++) mask[(i % h) * w + Math.floor(i / h)] = 1;
    }
    pos += run;
    value ^= 1;
  }
  return mask;
}

/** Decodes any COCO segmentation (polygons are united) to a row-major 0/1 mask. */
export function decodeSegmentation(
  seg: Segmentation,
  height: number,
  width: number,
  where: string,
): Uint8Array {
  if (Array.isArray(seg)) {
    const mask = new Uint8Array(height * width);
    seg.forEach((poly, i) => {
      if (!Array.isArray(poly) || poly.length % 2 !== 0 || poly.length < 4) {
        throw new Error(
          `${where}.segmentation[${i}]: polygon needs an even number (>= 4) of coordinates`,
        );
      }
      const part = rleToMask(rleFromPolygon(poly, height, width));
      for (let p = 0; p < mask.length; p++) mask[p] |= part[p];
    });
    return mask;
  }
  if (!seg || !Array.isArray(seg.size) || seg.size.length !== 2) {
    throw new Error(`${where}.segmentation: expected polygons or {size, counts}`);
  }
  if (seg.size[0] !== height || seg.size[1] !== width) {
    throw new Error(
      `${where}.segmentation.size ${seg.size.join("x")} differs from the image ${height}x${width}`,
    );
  }
  const rle = typeof seg.counts === "string"
    ? rleFromString(seg.counts, height, width)
    : { size: [height, width] as [number, number], counts: seg.counts };
  try {
    return rleToMask(rle);
  } catch (error) {
    throw new Error(`${where}.segmentation: ${(error as Error).message}`);
  }
}
