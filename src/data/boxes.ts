/**
 * Tight box of a binary mask as the reference computes it: (x_min, y_min, x_max, y_max) with
 * inclusive max pixel indices; null when the mask is empty.
 */
export function maskBoxXyxy(
  mask: Uint8Array,
  width: number,
  height: number,
): [number, number, number, number] | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x] === 0) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/** xyxy pixel boxes (t*4) to (cx, cy, w, h) normalised by the image width and height. */
export function xyxyToCxcywhNormalised(
  boxes: Float32Array,
  width: number,
  height: number,
): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const [x0, y0, x1, y1] = [boxes[i], boxes[i + 1], boxes[i + 2], boxes[i + 3]];
    out[i] = (x0 + x1) / 2 / width;
    out[i + 1] = (y0 + y1) / 2 / height;
    out[i + 2] = (x1 - x0) / width;
    out[i + 3] = (y1 - y0) / height;
  }
  return out;
}

/** Clamps xyxy boxes in place to [0, width] x [0, height]. */
export function clampBoxes(boxes: Float32Array, width: number, height: number): void {
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = Math.min(Math.max(boxes[i], 0), width);
    boxes[i + 1] = Math.min(Math.max(boxes[i + 1], 0), height);
    boxes[i + 2] = Math.min(Math.max(boxes[i + 2], 0), width);
    boxes[i + 3] = Math.min(Math.max(boxes[i + 3], 0), height);
  }
}
