/**
 * Worker thread hosting one ffmpeg.wasm instance (loaded once, reused for every job).
 *
 * Jobs run synchronously inside wasm, so they live off the main thread. A "stream" job writes
 * raw frames to the device /dev/frames; the worker cuts them into chunks, posts each chunk and
 * blocks (Atomics.wait) until the main thread grants a credit, so at most a couple of chunks
 * of decoded frames exist at any time however long the video is.
 */
import { parentPort } from "node:worker_threads";
import type { WorkerReply, WorkerRequest } from "./ffmpeg_protocol.ts";
import { CANCELLED, CREDITS } from "./ffmpeg_protocol.ts";
import { importNpm } from "../npm.ts";

interface EmscriptenFs {
  writeFile(path: string, data: Uint8Array): void;
  readFile(path: string): Uint8Array;
  unlink(path: string): void;
  mkdir(path: string): void;
  rmdir(path: string): void;
  readdir(path: string): string[];
  analyzePath(path: string): { exists: boolean };
  makedev(major: number, minor: number): number;
  registerDevice(dev: number, ops: Record<string, unknown>): void;
  mkdev(path: string, dev: number): void;
  ErrnoError: new (errno: number) => Error;
}

interface FfmpegCore {
  exec(...args: string[]): number;
  ffprobe(...args: string[]): number;
  reset(): void;
  setLogger(logger: (entry: { type: string; message: string }) => void): void;
  FS: EmscriptenFs;
}

const EIO = 29;
const LOG_TAIL = 200;
const port = parentPort!;

// The emscripten glue believes it runs in a web worker: it reads `self.location.href` to find
// its directory (even with wasmBinary given).
const globals = globalThis as { self?: unknown; location?: { href: string } };
globals.self ??= globalThis;
globals.location ??= { href: import.meta.url };

const FFMPEG_CORE = "npm:@ffmpeg/core@0.12.10";
const { default: createFFmpegCore } = await importNpm<{
  default: (options: { wasmBinary: Uint8Array }) => Promise<FfmpegCore>;
}>(FFMPEG_CORE);
// Resolvable to a file URL only once the import above has installed the package.
const coreUrl = import.meta.resolve(FFMPEG_CORE);
const wasmBinary = await Deno.readFile(new URL("ffmpeg-core.wasm", coreUrl));
const core = await createFFmpegCore({ wasmBinary });

let stdout: string[] = [];
let log: string[] = [];
let onLogLine: ((line: string) => boolean) | null = null;
core.setLogger(({ type, message }) => {
  if (type === "stdout") return void stdout.push(message);
  if (onLogLine?.(message)) return;
  log.push(message);
  if (log.length > 2 * LOG_TAIL) log = log.slice(-LOG_TAIL);
});

let sink: ChunkSink | null = null;
const framesDevice = core.FS.makedev(64, 0);
core.FS.registerDevice(framesDevice, {
  open() {},
  close() {},
  write(_stream: unknown, heap: Int8Array, offset: number, length: number) {
    if (!sink) throw new core.FS.ErrnoError(EIO);
    sink.write(new Uint8Array(heap.buffer, heap.byteOffset + offset, length));
    return length;
  },
});
core.FS.mkdev("/dev/frames", framesDevice);

class ChunkSink {
  private buffer: Uint8Array;
  private filled = 0;
  private timestamps: number[] = [];
  private control: Int32Array;

  constructor(
    private id: number,
    private frameBytes: number,
    private chunkFrames: number,
    control: SharedArrayBuffer,
  ) {
    this.buffer = new Uint8Array(frameBytes * chunkFrames);
    this.control = new Int32Array(control);
  }

  addTimestamp(seconds: number): void {
    this.timestamps.push(seconds);
  }

  write(bytes: Uint8Array): void {
    if (this.isCancelled()) throw new core.FS.ErrnoError(EIO);
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, this.buffer.length - this.filled);
      this.buffer.set(bytes.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.buffer.length && !this.flush()) throw new core.FS.ErrnoError(EIO);
    }
  }

  /** Posts the buffered frames once the main thread has room; false when it cancelled. */
  flush(): boolean {
    const frames = Math.floor(this.filled / this.frameBytes);
    if (frames === 0) return true;
    if (!this.waitForCredit()) return false;
    const bytes = frames === this.chunkFrames
      ? this.buffer
      : this.buffer.slice(0, frames * this.frameBytes);
    const data = bytes.buffer as ArrayBuffer;
    const reply: WorkerReply = {
      id: this.id,
      kind: "chunk",
      data,
      frames,
      timestamps: this.timestamps.splice(0, frames),
    };
    port.postMessage(reply, [data]);
    this.buffer = new Uint8Array(this.frameBytes * this.chunkFrames);
    this.filled = 0;
    return true;
  }

  private isCancelled(): boolean {
    return Atomics.load(this.control, CANCELLED) !== 0;
  }

  private waitForCredit(): boolean {
    for (;;) {
      if (this.isCancelled()) return false;
      const credits = Atomics.load(this.control, CREDITS);
      if (
        credits > 0 &&
        Atomics.compareExchange(this.control, CREDITS, credits, credits - 1) === credits
      ) {
        return true;
      }
      Atomics.wait(this.control, CREDITS, credits);
    }
  }
}

function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return (whole ? bytes.buffer : bytes.slice().buffer) as ArrayBuffer;
}

const SHOWINFO_TIME = /\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(-?[\d.e+-]+)/;

function runJob(request: WorkerRequest): WorkerReply {
  const dir = `/job${request.id}`;
  core.FS.mkdir(dir);
  stdout = [];
  log = [];
  try {
    for (const input of request.inputs) {
      core.FS.writeFile(`${dir}/${input.name}`, new Uint8Array(input.bytes));
    }
    // The log level is global state in the wasm module: a previous `-v error` would persist.
    const args = ["-loglevel", "info", ...request.args.map((arg) => arg.replaceAll("{dir}", dir))];
    if (request.kind === "stream") {
      const streamSink = new ChunkSink(
        request.id,
        request.frameBytes,
        request.chunkFrames,
        request.control,
      );
      sink = streamSink;
      onLogLine = (line) => {
        const match = SHOWINFO_TIME.exec(line);
        if (match) streamSink.addTimestamp(Number(match[1]));
        return match !== null || line.includes("Parsed_showinfo");
      };
    }
    const ret = request.tool === "ffprobe" ? core.ffprobe(...args) : core.exec(...args);
    if (sink && ret === 0) sink.flush();
    const outputs: Record<string, ArrayBuffer> = {};
    for (const name of request.outputs ?? []) {
      const path = `${dir}/${name}`;
      if (ret === 0 && core.FS.analyzePath(path).exists) {
        outputs[name] = ownBuffer(core.FS.readFile(path));
      }
    }
    return {
      id: request.id,
      kind: "done",
      ret,
      stdout: stdout.join("\n"),
      log: log.slice(-LOG_TAIL),
      outputs,
    };
  } finally {
    sink = null;
    onLogLine = null;
    core.reset();
    for (const name of core.FS.readdir(dir)) {
      if (name !== "." && name !== "..") core.FS.unlink(`${dir}/${name}`);
    }
    core.FS.rmdir(dir);
  }
}

port.on("message", (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = runJob(request);
  } catch (error) {
    reply = { id: request.id, kind: "failed", error: (error as Error)?.message ?? String(error) };
  }
  port.postMessage(reply, reply.kind === "done" ? Object.values(reply.outputs) : []);
});

port.postMessage({ id: 0, kind: "ready" } satisfies WorkerReply);
