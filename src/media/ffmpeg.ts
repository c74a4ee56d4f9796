/**
 * Runs ffmpeg.wasm jobs on worker threads. A worker loads the 32 MB core once and is kept for
 * later jobs; a second one is only started while the first is busy (e.g. a paused stream).
 * Workers are unref'd whenever nobody awaits them, so they never keep the process alive (hence
 * node:worker_threads: Deno's web Workers cannot be unref'd).
 */
import { Worker } from "node:worker_threads";
import {
  CANCELLED,
  CREDITS,
  type JobInput,
  type RunRequest,
  type StreamRequest,
  type WorkerReply,
} from "./ffmpeg_protocol.ts";

export interface FfmpegJob {
  tool?: "ffmpeg" | "ffprobe";
  /** Arguments after `ffmpeg`/`ffprobe`; `{dir}` is the job's folder holding inputs and outputs. */
  args: string[];
  inputs: { name: string; bytes: Uint8Array }[];
  /** Files in `{dir}` to return after a successful run. */
  outputs?: string[];
}

export interface FfmpegResult {
  ret: number;
  stdout: string;
  /** The last stderr lines. */
  log: string[];
  outputs: Record<string, Uint8Array>;
}

export interface RawChunk {
  data: Uint8Array;
  frames: number;
  /** Seconds, from ffmpeg's showinfo filter when the command includes it. */
  timestamps: number[];
}

/** Copies the inputs into buffers that can be moved to the worker without another copy. */
function packInputs(job: FfmpegJob): { inputs: JobInput[]; transfer: ArrayBuffer[] } {
  const inputs = job.inputs.map(({ name, bytes }) => ({ name, bytes: bytes.slice().buffer }));
  return { inputs, transfer: inputs.map((input) => input.bytes) };
}

/** A job that ran but exited with an error; `log` holds ffmpeg's last stderr lines. */
export class FfmpegJobError extends Error {
  constructor(readonly ret: number, readonly log: string[]) {
    super(ffmpegFailureReason(log));
  }
}

/** Chunks the worker may post ahead of the consumer. */
const PREFETCH_CHUNKS = 2;
const MAX_IDLE_WORKERS = 1;

class FfmpegWorker {
  readonly ready: Promise<void>;
  broken = false;
  private worker: Worker;
  private listeners = new Map<number, (reply: WorkerReply) => void>();
  private holds = 0;

  constructor() {
    this.worker = new Worker(new URL("./ffmpeg_worker.ts", import.meta.url));
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.listeners.set(0, (reply) => {
        this.listeners.delete(0);
        if (reply.kind === "ready") resolve();
        else {reject(
            new Error(
              `cannot load ffmpeg.wasm: ${reply.kind === "failed" ? reply.error : reply.kind}`,
            ),
          );}
      });
    });
    this.worker.on("message", (reply: WorkerReply) => this.listeners.get(reply.id)?.(reply));
    const fail = (error: string) => {
      this.broken = true;
      for (const [id, listener] of [...this.listeners]) listener({ id, kind: "failed", error });
    };
    this.worker.on("error", (error: Error) => fail(error?.message ?? String(error)));
    this.worker.on("exit", (code: number) => fail(`ffmpeg worker exited with code ${code}`));
  }

  listen(id: number, listener: (reply: WorkerReply) => void): void {
    this.listeners.set(id, listener);
  }

  unlisten(id: number): void {
    this.listeners.delete(id);
  }

  post(request: RunRequest | StreamRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(request, transfer);
  }

  /** Keeps the process alive while the main thread awaits this worker. */
  async awaiting<T>(promise: Promise<T>): Promise<T> {
    if (this.holds++ === 0) this.worker.ref();
    try {
      return await promise;
    } finally {
      if (--this.holds === 0) this.worker.unref();
    }
  }

  terminate(): void {
    this.broken = true;
    this.listeners.clear();
    void this.worker.terminate();
  }
}

const idleWorkers: FfmpegWorker[] = [];
let nextJobId = 1;

async function acquireWorker(): Promise<FfmpegWorker> {
  const worker = idleWorkers.pop() ?? new FfmpegWorker();
  try {
    await worker.awaiting(worker.ready);
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return worker;
}

function releaseWorker(worker: FfmpegWorker): void {
  if (worker.broken || idleWorkers.length >= MAX_IDLE_WORKERS) worker.terminate();
  else idleWorkers.push(worker);
}

/** Runs one ffmpeg/ffprobe command to completion; rejects with FfmpegJobError on failure. */
export async function runFfmpeg(job: FfmpegJob): Promise<FfmpegResult> {
  const worker = await acquireWorker();
  const id = nextJobId++;
  const { inputs, transfer } = packInputs(job);
  const reply = await worker.awaiting(
    new Promise<WorkerReply>((resolve) => {
      worker.listen(id, (message) => {
        worker.unlisten(id);
        resolve(message);
      });
      worker.post({ tool: "ffmpeg", ...job, inputs, id, kind: "run" }, transfer);
    }),
  );
  if (reply.kind === "failed") worker.broken = true;
  releaseWorker(worker);
  if (reply.kind === "failed") throw new Error(`ffmpeg.wasm crashed: ${reply.error}`);
  if (reply.kind !== "done") throw new Error(`ffmpeg.wasm: unexpected reply ${reply.kind}`);
  if (job.tool !== "ffprobe" && reply.ret !== 0) {
    throw new FfmpegJobError(reply.ret, reply.log);
  }
  const outputs: Record<string, Uint8Array> = {};
  for (const [name, buffer] of Object.entries(reply.outputs)) {
    outputs[name] = new Uint8Array(buffer);
  }
  return { ret: reply.ret, stdout: reply.stdout, log: reply.log, outputs };
}

/**
 * Runs ffmpeg with output `/dev/frames` and yields its raw output in chunks of `chunkFrames`
 * frames of `frameBytes` bytes. Leaving the loop early cancels the job.
 */
export async function* streamFfmpeg(
  job: FfmpegJob,
  frameBytes: number,
  chunkFrames: number,
): AsyncGenerator<RawChunk> {
  const worker = await acquireWorker();
  const id = nextJobId++;
  const { inputs, transfer } = packInputs(job);
  const control = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  const flags = new Int32Array(control);
  Atomics.store(flags, CREDITS, PREFETCH_CHUNKS);
  const queue: WorkerReply[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  let markSettled = () => {};
  const settled = new Promise<void>((resolve) => (markSettled = resolve));
  worker.listen(id, (reply) => {
    queue.push(reply);
    if (reply.kind !== "chunk") {
      finished = true;
      worker.unlisten(id);
      if (reply.kind === "failed") worker.broken = true;
      releaseWorker(worker);
      markSettled();
    }
    wake?.();
  });
  worker.post(
    { tool: "ffmpeg", ...job, inputs, id, kind: "stream", frameBytes, chunkFrames, control },
    transfer,
  );
  try {
    for (;;) {
      const reply = queue.shift();
      if (!reply) {
        await worker.awaiting(new Promise<void>((resolve) => (wake = resolve)));
        wake = null;
        continue;
      }
      if (reply.kind === "chunk") {
        Atomics.add(flags, CREDITS, 1);
        Atomics.notify(flags, CREDITS);
        yield {
          data: new Uint8Array(reply.data),
          frames: reply.frames,
          timestamps: reply.timestamps,
        };
      } else if (reply.kind === "failed") {
        throw new Error(`ffmpeg.wasm crashed: ${reply.error}`);
      } else if (reply.kind === "done") {
        if (reply.ret !== 0) throw new FfmpegJobError(reply.ret, reply.log);
        return;
      }
    }
  } finally {
    if (!finished) {
      Atomics.store(flags, CANCELLED, 1);
      Atomics.notify(flags, CREDITS);
      // ffmpeg stops at its next write; waiting keeps this worker (and its loaded core) for reuse.
      await worker.awaiting(settled);
    }
  }
}

const NOISE = /^(Aborted\(\)|Conversion failed!|Exiting normally|frame=|video:|\s*$)/;
const ERRORISH =
  /invalid|error|not found|no such|could not|cannot|unsupported|unknown|failed|does not contain|incorrect|corrupt|truncat|unable|too small|not divisible/i;

/** One readable line out of ffmpeg's log, e.g. "invalid data found when processing input (moov atom not found)". */
export function ffmpegFailureReason(log: string[]): string {
  const lines = log.map(stripLogPrefixes).filter((line) =>
    !NOISE.test(line) && ERRORISH.test(line)
  );
  if (lines.length === 0) return "ffmpeg failed";
  const main = lines.find((line) => /invalid data found/i.test(line)) ?? lines[lines.length - 1];
  const detail = lines.find((line) => line !== main);
  const reason = detail && lines.length > 1 ? `${main} (${detail})` : main;
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

function stripLogPrefixes(line: string): string {
  return line
    .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, "")
    .replace(/^\/job\d+\/[^:]*:\s*/, "")
    .trim();
}
