/**
 * The HTTP segmentation service: one model shared by every request, a bounded queue in front
 * of it, hard per-request limits, uploads spooled to a per-request temp folder that is
 * removed whatever happens (success, error, client disconnect, timeout, shutdown).
 *
 *   POST /segment   multipart/form-data: `video` (file), `sentence` (text), optional `format`
 *                   (json | zip | mp4, also as ?format=) and `threshold`
 *   GET  /health    {status, backend, uptimeSec, queue, requests: counts of /segment statuses}
 *
 * Errors are one JSON line, {"error": "..."}, with 400 (bad form, empty or long sentence),
 * 408 (upload or processing too slow), 413 (upload, frames or resolution over the limit),
 * 415 (not multipart/form-data), 422 (not a decodable video), 503 (queue full, with
 * Retry-After; or shutting down).
 */
import { join } from "node:path";
import type { SegmentationModel } from "../api/model.ts";
import { SegmentationError } from "../api/errors.ts";
import { probeVideo } from "../media/video.ts";
import { encodeVideoBytes } from "../media/video_encode.ts";
import { drawCaption, overlayMask } from "../media/overlay.ts";
import { encodePaletteMask } from "../media/png.ts";
import type { RgbImage } from "../media/frame.ts";
import { zipSync } from "../io/fflate.ts";
import { type FileSink, formBoundary, MultipartError, readMultipart } from "./multipart.ts";
import { JobQueue, QueueFullError } from "./queue.ts";
import { resolveLimits, type ServiceLimits } from "./limits.ts";

export type OutputFormat = "json" | "zip" | "mp4";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["json", "zip", "mp4"];

export interface ServiceOptions {
  model: SegmentationModel;
  /** Folder for uploads (one sub-folder per request); default a fresh folder in the OS temp. */
  tempDir?: string;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Requests processed at once (default 1) and requests allowed to wait (default 4). */
  concurrency?: number;
  maxWaiting?: number;
  limits?: Partial<ServiceLimits>;
  /** Frames per forward pass (the model picks the object per window; default 36). */
  windowSize?: number;
  /** Short side frames are resized to for the model; default the model's own (360). */
  inputSize?: number | null;
  /** One line per request and lifecycle event; default console.log, null for silence. */
  log?: ((line: string) => void) | null;
}

export interface SegmentationServer {
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  readonly tempDir: string;
  /**
   * Stops accepting connections, lets admitted requests finish (after `graceMs`, default 30 s,
   * they are aborted) and removes the temp folder if the server created it.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** Resolves when the server has shut down. */
  readonly finished: Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

class ShuttingDown extends Error {
  constructor() {
    super("the server is shutting down");
  }
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function errorResponse(error: HttpError): Response {
  const message = error.message.split("\n")[0];
  return jsonResponse(error.status, { error: message }, error.headers);
}

interface Form {
  videoPath: string;
  videoBytes: number;
  sentence: string;
  format: OutputFormat;
  threshold?: number;
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** Opens a file for a streamed upload part; writes fully, closes once. */
async function fileSink(path: string): Promise<FileSink> {
  const file = await Deno.open(path, { write: true, createNew: true });
  let closed = false;
  return {
    async write(chunk) {
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
    },
    close() {
      if (!closed) {
        closed = true;
        file.close();
      }
      return Promise.resolve();
    },
  };
}

/** Starts the service; resolves once it listens. */
export async function startServer(options: ServiceOptions): Promise<SegmentationServer> {
  const { model } = options;
  const limits = resolveLimits(options.limits);
  const log = options.log === null ? () => {} : (options.log ?? console.log);
  const queue = new JobQueue(options.concurrency ?? 1, options.maxWaiting ?? 4);
  // a temp folder the server creates is removed at shutdown; a given one only emptied
  let ownTempDir = options.tempDir === undefined;
  const tempDir = options.tempDir ?? await Deno.makeTempDir({ prefix: "dmformer-serve-" });
  if (!ownTempDir) {
    ownTempDir = !(await Deno.stat(tempDir).then(() => true, () => false));
    await Deno.mkdir(tempDir, { recursive: true });
  }
  const stopping = new AbortController();
  const started = Date.now();
  const counts: Record<string, number> = {};
  let closing = false;

  async function readForm(req: Request, dir: string, signal: AbortSignal): Promise<Form> {
    const boundary = formBoundary(req.headers.get("content-type"));
    if (!boundary) {
      throw new HttpError(415, "expected a multipart/form-data body (fields: video, sentence)");
    }
    if (!req.body) throw new HttpError(400, "the request has no body");
    const videoPath = join(dir, "video");
    const result = await readMultipart(
      req.body,
      boundary,
      {
        maxBytes: limits.maxUploadBytes,
        maxFieldBytes: Math.max(4 * limits.maxSentenceChars, 256),
      },
      async (info) => {
        if (info.field !== "video") return null;
        try {
          return await fileSink(videoPath);
        } catch (error) {
          if (error instanceof Deno.errors.AlreadyExists) {
            throw new MultipartError(400, 'more than one "video" file in the form');
          }
          throw error;
        }
      },
      signal,
    );
    const video = result.files.find((f) => f.field === "video");
    if (!video) throw new HttpError(400, 'the form has no "video" file field');
    if (video.bytes === 0) throw new HttpError(422, "the video file is empty");
    const sentence = result.fields.get("sentence");
    if (sentence === undefined) throw new HttpError(400, 'the form has no "sentence" field');
    if (sentence.trim() === "") throw new HttpError(400, "the sentence is empty");
    if (sentence.length > limits.maxSentenceChars) {
      throw new HttpError(400, `the sentence is longer than ${limits.maxSentenceChars} characters`);
    }
    const format = (new URL(req.url).searchParams.get("format") ?? result.fields.get("format") ??
      "json").toLowerCase();
    if (!OUTPUT_FORMATS.includes(format as OutputFormat)) {
      throw new HttpError(400, `unknown format "${format}" (choose json, zip or mp4)`);
    }
    const thresholdField = result.fields.get("threshold");
    const threshold = thresholdField === undefined ? undefined : Number(thresholdField);
    if (threshold !== undefined && !(threshold > 0 && threshold < 1)) {
      throw new HttpError(400, `threshold must be a number in (0, 1), got "${thresholdField}"`);
    }
    return {
      videoPath,
      videoBytes: video.bytes,
      sentence,
      format: format as OutputFormat,
      threshold,
    };
  }

  async function process(form: Form, signal: AbortSignal): Promise<Response> {
    const t0 = performance.now();
    let info;
    try {
      info = await probeVideo(form.videoPath);
    } catch (error) {
      if (isPermissionError(error)) throw error;
      throw new HttpError(422, `cannot decode the video: ${videoReason(error)}`);
    }
    const { width, height } = info;
    if (width * height > limits.maxPixels) {
      throw new HttpError(
        413,
        `video frames are ${width}x${height}, more than the limit of ${limits.maxPixels} pixels`,
      );
    }
    if (info.frameCount !== undefined && info.frameCount > limits.maxFrames) {
      throw new HttpError(
        413,
        `the video has ${info.frameCount} frames, more than the limit of ${limits.maxFrames}`,
      );
    }
    signal.throwIfAborted();
    const frames: { index: number; score: number; box: number[] }[] = [];
    const pngs: Record<string, Uint8Array> = {};
    const overlays: RgbImage[] = [];
    let fps = info.fps || 25;
    for await (
      const window of model.segmentStream(form.videoPath, form.sentence, {
        signal,
        threshold: form.threshold,
        windowSize: options.windowSize,
        maxFrames: limits.maxFrames + 1,
        ...(options.inputSize !== undefined ? { inputSize: options.inputSize } : {}),
      })
    ) {
      fps = window.fps;
      for (let i = 0; i < window.masks.length; i++) {
        const index = window.start + i;
        if (index >= limits.maxFrames) {
          throw new HttpError(413, `the video has more than ${limits.maxFrames} frames`);
        }
        frames.push({
          index,
          score: round(window.scores[i], 5),
          box: window.boxes[i].map((v) => round(v, 1)),
        });
        if (form.format === "zip") {
          const name = `masks/${String(index).padStart(5, "0")}.png`;
          pngs[name] = await encodePaletteMask(window.width, window.height, window.masks[i]);
        } else if (form.format === "mp4") {
          const tinted = overlayMask(window.frames[i], window.masks[i]);
          overlays.push(drawCaption(tinted, form.sentence));
        }
      }
      // a macrotask turn between windows lets timers (deadline) and socket events run
      await new Promise((resolve) => setTimeout(resolve, 0));
      signal.throwIfAborted();
    }
    const summary = {
      width,
      height,
      fps: round(fps, 3),
      frameCount: frames.length,
      elapsedMs: Math.round(performance.now() - t0),
      frames,
    };
    const headers = { "x-frame-count": String(frames.length) };
    if (form.format === "json") return jsonResponse(200, summary, headers);
    if (form.format === "zip") {
      pngs["result.json"] = new TextEncoder().encode(JSON.stringify(summary) + "\n");
      return new Response(zipSync(pngs) as Uint8Array<ArrayBuffer>, {
        headers: {
          "content-type": "application/zip",
          "content-disposition": 'attachment; filename="masks.zip"',
          ...headers,
        },
      });
    }
    const mp4 = await encodeVideoBytes(overlays, { fps, format: "mp4" });
    signal.throwIfAborted();
    return new Response(mp4 as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": "video/mp4",
        "content-disposition": 'attachment; filename="overlay.mp4"',
        ...headers,
      },
    });
  }

  async function segment(req: Request): Promise<Response> {
    if (closing) throw new HttpError(503, "the server is shutting down", { "retry-after": "5" });
    if (!formBoundary(req.headers.get("content-type"))) {
      throw new HttpError(415, "expected a multipart/form-data body (fields: video, sentence)");
    }
    const declared = Number(req.headers.get("content-length") ?? NaN);
    if (declared > limits.maxUploadBytes) {
      throw new HttpError(413, `upload larger than ${limits.maxUploadBytes} bytes`);
    }
    let ticket;
    try {
      ticket = queue.admit();
    } catch (error) {
      if (!(error instanceof QueueFullError)) throw error;
      throw new HttpError(503, error.message, { "retry-after": String(error.retryAfterSec) });
    }
    const dir = join(tempDir, `req-${crypto.randomUUID()}`);
    const uploadDeadline = AbortSignal.timeout(limits.uploadTimeoutMs);
    // the listener on req.signal is removed before the response is returned: Deno's legacy
    // behaviour also aborts that signal after a successful response
    const gone = new AbortController();
    const onGone = () => gone.abort(new Error("the client closed the request"));
    req.signal.addEventListener("abort", onGone, { once: true });
    const aborted = AbortSignal.any([gone.signal, stopping.signal]);
    try {
      await Deno.mkdir(dir);
      let form: Form;
      try {
        form = await readForm(req, dir, AbortSignal.any([aborted, uploadDeadline]));
      } catch (error) {
        if (uploadDeadline.aborted && !aborted.aborted) {
          throw new HttpError(408, `the upload took longer than ${limits.uploadTimeoutMs} ms`);
        }
        if (error instanceof HttpError || error instanceof MultipartError || aborted.aborted) {
          throw error;
        }
        // the body stream failed: the connection went away mid-upload
        throw new HttpError(499, `the upload was interrupted: ${reason(error)}`);
      }
      const response = await ticket.run(async () => {
        const deadline = AbortSignal.timeout(limits.processingTimeoutMs);
        try {
          return await process(form, AbortSignal.any([aborted, deadline]));
        } catch (error) {
          if (deadline.aborted && !aborted.aborted) {
            throw new HttpError(
              408,
              `processing took longer than ${limits.processingTimeoutMs} ms`,
            );
          }
          throw error;
        }
      }, aborted);
      if (gone.signal.aborted) throw new HttpError(499, "the client closed the request");
      return response;
    } catch (error) {
      if (gone.signal.aborted) throw new HttpError(499, "the client closed the request");
      throw error;
    } finally {
      req.signal.removeEventListener("abort", onGone);
      ticket.release();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  function health(): Response {
    const waiting = queue.size - queue.active;
    return jsonResponse(closing ? 503 : 200, {
      status: closing ? "shutting down" : "ok",
      backend: model.backend,
      uptimeSec: Math.round((Date.now() - started) / 1000),
      queue: {
        running: queue.active,
        waiting,
        concurrency: queue.concurrency,
        maxWaiting: queue.maxWaiting,
      },
      requests: counts,
    });
  }

  function toHttpError(error: unknown): HttpError {
    if (error instanceof HttpError) return error;
    if (error instanceof MultipartError) return new HttpError(error.status, error.message);
    if (stopping.signal.aborted) {
      return new HttpError(503, "the server is shutting down", { "retry-after": "5" });
    }
    if (error instanceof SegmentationError && !isPermissionError(error)) {
      if (error.code === "invalid_video") {
        return new HttpError(422, `cannot decode the video: ${videoReason(error)}`);
      }
      if (error.code === "empty_sentence" || error.code === "invalid_input") {
        return new HttpError(400, error.message);
      }
    }
    log(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return new HttpError(500, `internal error: ${reason(error)}`);
  }

  async function handle(req: Request): Promise<Response> {
    const { pathname } = new URL(req.url);
    const t0 = performance.now();
    let response: Response;
    try {
      if (pathname === "/health") {
        if (req.method !== "GET" && req.method !== "HEAD") {
          throw new HttpError(405, "use GET /health", { allow: "GET, HEAD" });
        }
        response = health();
      } else if (pathname === "/segment") {
        if (req.method !== "POST") throw new HttpError(405, "use POST /segment", { allow: "POST" });
        response = await segment(req);
      } else {
        throw new HttpError(404, `no such endpoint: ${pathname} (POST /segment, GET /health)`);
      }
    } catch (error) {
      response = errorResponse(toHttpError(error));
    }
    if (pathname !== "/health") {
      const key = String(response.status);
      counts[key] = (counts[key] ?? 0) + 1;
      log(`${req.method} ${pathname} ${response.status} ${Math.round(performance.now() - t0)} ms`);
    }
    return response;
  }

  const hostname = options.hostname ?? "127.0.0.1";
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname,
    port: options.port ?? 8080,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (error) => errorResponse(new HttpError(500, `internal error: ${reason(error)}`)),
  }, handle);
  const addr = await listening.promise;
  const url = `http://${addr.hostname}:${addr.port}`;
  log(`listening on ${url} (backend ${model.backend}, temp ${tempDir})`);

  let stopped: Promise<void> | undefined;
  const shutdown = (graceMs = 30_000): Promise<void> => {
    stopped ??= (async () => {
      closing = true;
      log("shutting down: waiting for admitted requests");
      const timer = setTimeout(() => stopping.abort(new ShuttingDown()), graceMs);
      try {
        await server.shutdown();
        await queue.idle();
      } finally {
        clearTimeout(timer);
      }
      if (ownTempDir) await Deno.remove(tempDir, { recursive: true }).catch(() => {});
      log("stopped");
    })();
    return stopped;
  };
  return {
    url,
    hostname: addr.hostname,
    port: addr.port,
    tempDir,
    shutdown,
    finished: server.finished,
  };
}

/** Why a video could not be decoded, without the server's temp paths. */
function videoReason(error: unknown): string {
  let message = reason(error);
  // "video <path>: video: cannot decode <path>: <why>" -> "<why>"
  for (;;) {
    const stripped = message.replace(/^video(?: [^:]*)?: (?:cannot decode [^:]*: )?/, "");
    if (stripped === message) break;
    message = stripped;
  }
  return message;
}

/** A missing Deno permission (a setup problem: 500, never blamed on the upload). */
function isPermissionError(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 8; e = (e as Error).cause, depth++) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return true;
    }
    if (e instanceof Error && /Requires \w+ access to/.test(e.message)) return true;
  }
  return false;
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
