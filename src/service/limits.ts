/** Per-request limits of the segmentation service; every one is answered with a 4xx status. */
export interface ServiceLimits {
  /** Bytes of the whole multipart body (413). */
  maxUploadBytes: number;
  /** Frames of the video (413). */
  maxFrames: number;
  /** Pixels of one frame, width * height (413). */
  maxPixels: number;
  /** Characters of the sentence (400). */
  maxSentenceChars: number;
  /** Milliseconds to receive the upload (408). */
  uploadTimeoutMs: number;
  /** Milliseconds of processing once the request's turn has come (408). */
  processingTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServiceLimits = {
  maxUploadBytes: 64 * 1024 * 1024,
  maxFrames: 300,
  maxPixels: 1280 * 720,
  maxSentenceChars: 500,
  uploadTimeoutMs: 60_000,
  processingTimeoutMs: 300_000,
};

/** Merges overrides into the defaults, checking every value. */
export function resolveLimits(overrides: Partial<ServiceLimits> = {}): ServiceLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_LIMITS)) throw new Error(`unknown service limit "${key}"`);
    if (!(Number.isInteger(value) && value > 0)) {
      throw new Error(`service limit ${key} must be a positive integer, got ${value}`);
    }
    limits[key as keyof ServiceLimits] = value;
  }
  return limits;
}
