/**
 * Messages between the main thread (ffmpeg.ts) and the ffmpeg.wasm worker (ffmpeg_worker.ts).
 * Binary data travels as bare ArrayBuffers: Deno's node:worker_threads clones typed-array views
 * element by element (seconds for one 640x360 chunk), but passes ArrayBuffers at memcpy speed.
 */

export interface JobInput {
  name: string;
  bytes: ArrayBuffer;
}

interface JobBase {
  id: number;
  tool: "ffmpeg" | "ffprobe";
  /** Command-line arguments; `{dir}` is replaced by the job's private folder in the wasm FS. */
  args: string[];
  inputs: JobInput[];
  /** Files (in `{dir}`) returned after a successful run. */
  outputs?: string[];
}

export interface RunRequest extends JobBase {
  kind: "run";
}

/** Runs ffmpeg with `/dev/frames` as output and streams it back in chunks of whole frames. */
export interface StreamRequest extends JobBase {
  kind: "stream";
  frameBytes: number;
  chunkFrames: number;
  /** Int32Array view: [CREDITS] chunks the worker may still post, [CANCELLED] != 0 to stop. */
  control: SharedArrayBuffer;
}

export type WorkerRequest = RunRequest | StreamRequest;

export const CREDITS = 0;
export const CANCELLED = 1;

export type WorkerReply =
  | { id: number; kind: "ready" }
  | { id: number; kind: "chunk"; data: ArrayBuffer; frames: number; timestamps: number[] }
  | {
    id: number;
    kind: "done";
    ret: number;
    stdout: string;
    log: string[];
    outputs: Record<string, ArrayBuffer>;
  }
  | { id: number; kind: "failed"; error: string };
