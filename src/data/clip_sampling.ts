import type { Rng } from "./rng.ts";

/**
 * The reference's training frame choice for a clip starting at `start` (section 14.2): the start,
 * one local frame 1-3 before and one 1-3 after (clamped), then numFrames - 3 "global" frames from
 * outside the local window, sorted; the first numFrames are used. Duplicates are possible.
 */
export function sampleClipIndices(
  start: number,
  videoLength: number,
  numFrames: number,
  rng: Rng,
): number[] {
  if (videoLength < 1) throw new Error("clip sampling: video has no frames");
  if (!(start >= 0 && start < videoLength)) {
    throw new Error(`clip sampling: start ${start} outside a ${videoLength}-frame video`);
  }
  const picked = [start];
  if (numFrames !== 1) {
    const before = rng.randint(1, 3);
    const after = rng.randint(1, 3);
    picked.push(Math.max(0, start - before), Math.min(videoLength - 1, start + after));
    if (numFrames > 3) addGlobalFrames(picked, videoLength, numFrames - picked.length, rng);
  }
  picked.sort((a, b) => a - b);
  return picked.slice(0, numFrames);
}

function addGlobalFrames(picked: number[], videoLength: number, count: number, rng: Rng) {
  const lo = Math.min(...picked), hi = Math.max(...picked);
  const pool: number[] = [];
  for (let i = 0; i < lo; i++) pool.push(i);
  for (let i = hi; i < videoLength; i++) pool.push(i);
  if (pool.length > count) {
    for (const s of rng.sample(pool.length, count)) picked.push(pool[s]);
  } else if (videoLength >= count) {
    picked.push(...rng.sample(videoLength, count));
  } else {
    // Very short video: random frames plus every frame (the reference's branch); when even that
    // is not enough (count > 2 * length, where the reference raises) pad with random frames.
    const extra = Math.min(count - videoLength, videoLength);
    picked.push(...rng.sample(videoLength, extra));
    for (let i = 0; i < videoLength; i++) picked.push(i);
    for (let i = extra + videoLength; i < count; i++) picked.push(rng.randint(0, videoLength - 1));
  }
}
