/**
 * IoU between query `k`'s predicted masks (logits [t, q, h, w], at `stride` over the padded input:
 * padding at the bottom and right) and a clip target over its first `frames` frames; the target is
 * sampled at the centre of each mask cell. A query and target that are both empty score 1.
 */
export function queryMaskIoU(
  masks: ArrayLike<number>,
  [t, q, h, w]: readonly number[],
  k: number,
  target: { masks: Uint8Array; size: [number, number] },
  stride: number,
  frames = t,
): number {
  const [H, W] = target.size;
  let inter = 0, union = 0;
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = masks[((f * q + k) * h + y) * w + x] > 0 ? 1 : 0;
        const gy = Math.floor((y + 0.5) * stride), gx = Math.floor((x + 0.5) * stride);
        const g = gy < H && gx < W ? target.masks[(f * H + gy) * W + gx] : 0;
        inter += p & g;
        union += p | g;
      }
    }
  }
  return union ? inter / union : 1;
}
