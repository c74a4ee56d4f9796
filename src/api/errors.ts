/** What went wrong, as a stable machine-readable code (messages may change, codes do not). */
export type SegmentationErrorCode =
  /** The sentence is empty or only whitespace. */
  | "empty_sentence"
  /** The checkpoint path does not exist. */
  | "checkpoint_not_found"
  /** The checkpoint exists but cannot be read or does not fit the configuration. */
  | "invalid_checkpoint"
  /** The configuration name is not known. */
  | "unknown_config"
  /** The configuration file or object is malformed. */
  | "invalid_config"
  /** The backend name is not one of {@link BACKEND_NAMES}. */
  | "unknown_backend"
  /** The backend is known but cannot start on this machine. */
  | "backend_unavailable"
  /** The video cannot be read or decoded (corrupt, not a video, no frames). */
  | "invalid_video"
  /** Another argument is invalid (frames of different sizes, a bad option value). */
  | "invalid_input"
  /** The model was disposed. */
  | "disposed";

/**
 * The error every public function of the library API throws for bad input or setup. Aborts
 * through an `AbortSignal` reject with the signal's reason instead, as `fetch` does.
 *
 * @example Telling errors apart
 * ```ts
 * import { loadModel, SegmentationError } from "../../mod.ts";
 * try {
 *   await loadModel({ config: "tiny", checkpoint: "/no/such/weights.safetensors" });
 * } catch (error) {
 *   if (error instanceof SegmentationError && error.code === "checkpoint_not_found") {
 *     console.error(error.message);
 *   }
 * }
 * ```
 */
export class SegmentationError extends Error {
  constructor(readonly code: SegmentationErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SegmentationError";
  }
}

/** The first line of an error's message. */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}
