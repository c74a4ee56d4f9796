/**
 * The segmentation service over real HTTP on 127.0.0.1 (random free ports), with the tiny
 * configuration and random weights: these tests check behaviour (status codes, sizes, queue
 * bound, limits, clean-up), not accuracy.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type SegmentationModel } from "../src/api/mod.ts";
import { type SegmentationServer, startServer } from "../src/service/server.ts";
import { decodeVideo, encodeVideoBytes, type RgbImage } from "../src/media/mod.ts";
import { decodeMaskPng } from "../src/media/png.ts";
import { unzipSync } from "../src/io/fflate.ts";

const W = 64, H = 48, N = 4;

/** A red square moving right over a blue-grey background. */
function frame(i: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let p = 0; p < W * H; p++) data.set([40, 60, 90], p * 3);
  for (let y = 12; y < 30; y++) {
    for (let x = 6 + 4 * i; x < 24 + 4 * i; x++) data.set([220, 40, 30], (y * W + x) * 3);
  }
  return { width: W, height: H, data };
}

let model: SegmentationModel;
let video: Uint8Array;
const servers: SegmentationServer[] = [];
const tempDirs: string[] = [];

async function serve(
  options: Parameters<typeof startServer>[0] extends infer O ? Partial<O> : never,
) {
  const tempDir = await Deno.makeTempDir({ prefix: "dmformer-test-serve-" });
  tempDirs.push(tempDir);
  const server = await startServer({
    model,
    port: 0,
    tempDir,
    log: null,
    windowSize: 4,
    inputSize: null,
    ...options,
  });
  servers.push(server);
  return server;
}

function form(fields: Record<string, string>, file?: Uint8Array, fileField = "video"): FormData {
  const body = new FormData();
  if (file) body.append(fileField, new Blob([file as Uint8Array<ArrayBuffer>]), "clip.mp4");
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  return body;
}

async function post(
  server: SegmentationServer,
  body: BodyInit,
  init: RequestInit = {},
  query = "",
) {
  return await fetch(`${server.url}/segment${query}`, { method: "POST", body, ...init });
}

async function tempEntries(dir: string): Promise<string[]> {
  return await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
}

beforeAll(async () => {
  model = await loadModel({ config: { base: "tiny", text: { vocabSize: 30522 } }, seed: 1 });
  video = await encodeVideoBytes(Array.from({ length: N }, (_, i) => frame(i)), {
    fps: 10,
    format: "mp4",
  });
});

afterAll(async () => {
  for (const server of servers) await server.shutdown(1000);
  for (const dir of tempDirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  model?.dispose();
});

describe("segmentation service", () => {
  let server: SegmentationServer;
  beforeAll(async () => {
    server = await serve({
      maxWaiting: 3,
      limits: { maxUploadBytes: 200_000, maxFrames: 50 },
    });
  });

  test("a good request returns one entry per frame; zip holds masks of the frame size", async () => {
    const res = await post(server, form({ sentence: "the red square moving right" }, video));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    const body = await res.json();
    expect(body.width).toBe(W);
    expect(body.height).toBe(H);
    expect(body.fps).toBeCloseTo(10, 3);
    expect(body.frames.map((f: { index: number }) => f.index)).toEqual([0, 1, 2, 3]);
    for (const f of body.frames) {
      expect(f.score).toBeGreaterThanOrEqual(0);
      expect(f.score).toBeLessThanOrEqual(1);
      expect(f.box).toHaveLength(4);
    }

    const zipRes = await post(server, form({ sentence: "the red square", format: "zip" }, video));
    expect(zipRes.status).toBe(200);
    expect(zipRes.headers.get("content-type")).toBe("application/zip");
    const files = unzipSync(new Uint8Array(await zipRes.arrayBuffer()));
    const names = Object.keys(files).sort();
    expect(names).toEqual([
      "masks/00000.png",
      "masks/00001.png",
      "masks/00002.png",
      "masks/00003.png",
      "result.json",
    ]);
    for (const name of names.slice(0, N)) {
      const mask = await decodeMaskPng(files[name], name);
      expect([mask.width, mask.height, mask.kind]).toEqual([W, H, "palette"]);
      expect(mask.indices.every((v) => v === 0 || v === 1)).toBe(true);
    }
    const summary = JSON.parse(new TextDecoder().decode(files["result.json"]));
    expect(summary.frames).toHaveLength(N);
  });

  test("?format=mp4 returns an overlay video with every frame", async () => {
    const res = await post(server, form({ sentence: "the square" }, video), {}, "?format=mp4");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    const bytes = new Uint8Array(await res.arrayBuffer());
    let frames = 0;
    for await (const chunk of decodeVideo(bytes)) {
      frames += chunk.frames.length;
      expect([chunk.frames[0].width, chunk.frames[0].height]).toEqual([W, H]);
    }
    expect(frames).toBe(N);
  });

  test("8 concurrent requests: each answered correctly or 503 beyond the queue bound", async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => post(server, form({ sentence: `object ${i}` }, video))),
    );
    let ok = 0, busy = 0;
    for (const res of responses) {
      if (res.status === 200) {
        const body = await res.json();
        expect(body.frames).toHaveLength(N);
        expect([body.width, body.height]).toEqual([W, H]);
        ok++;
      } else {
        expect(res.status).toBe(503);
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect((await res.json()).error).toMatch(/busy/);
        busy++;
      }
    }
    expect(ok + busy).toBe(8);
    // 1 running + 3 waiting: when anything was refused, at least 4 were admitted
    expect(busy === 0 || ok >= 4).toBe(true);
    expect(busy).toBeGreaterThan(0);
  });

  test("oversized uploads get 413, with and without a Content-Length", async () => {
    const big = new Uint8Array(300_000);
    const declared = await post(server, form({ sentence: "a square" }, big));
    expect(declared.status).toBe(413);
    expect((await declared.json()).error).toMatch(/larger than 200000 bytes/);

    // a streamed (chunked) body has no Content-Length: the limit is enforced while reading
    const request = new Request("http://x/", {
      method: "POST",
      body: form({ sentence: "a" }, big),
    });
    const payload = new Uint8Array(await request.arrayBuffer());
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < payload.length; i += 16_384) {
          controller.enqueue(payload.slice(i, i + 16_384));
        }
        controller.close();
      },
    });
    const chunked = await post(server, stream, {
      headers: { "content-type": request.headers.get("content-type")! },
    });
    expect(chunked.status).toBe(413);
    expect((await chunked.json()).error).toMatch(/larger than/);
  });

  test("bad requests: corrupt video 422, empty sentence 400, wrong content type 415", async () => {
    const junk = new Uint8Array(5000).map((_, i) => (i * 7919) % 251);
    const corrupt = await post(server, form({ sentence: "a square" }, junk));
    expect(corrupt.status).toBe(422);
    expect((await corrupt.json()).error).toMatch(/cannot decode the video/);

    const empty = await post(server, form({ sentence: "   " }, video));
    expect(empty.status).toBe(400);
    expect((await empty.json()).error).toBe("the sentence is empty");

    const missing = await post(server, form({ sentence: "a square" }));
    expect(missing.status).toBe(400);
    expect((await missing.json()).error).toMatch(/no "video" file/);

    const json = await post(server, JSON.stringify({ sentence: "a square" }), {
      headers: { "content-type": "application/json" },
    });
    expect(json.status).toBe(415);
    expect(Object.keys(await json.json())).toEqual(["error"]);

    const format = await post(server, form({ sentence: "a square", format: "avi" }, video));
    expect(format.status).toBe(400);
    await format.body?.cancel();

    const method = await fetch(`${server.url}/segment`);
    expect(method.status).toBe(405);
    await method.body?.cancel();
  });

  test("too many frames and too large frames get 413", async () => {
    const strict = await serve({ limits: { maxFrames: 3, maxPixels: 64 * 48 } });
    const frames = await post(strict, form({ sentence: "a square" }, video));
    expect(frames.status).toBe(413);
    expect((await frames.json()).error).toMatch(/more than the limit of 3/);
    const wide = await encodeVideoBytes([{
      width: 80,
      height: 48,
      data: new Uint8Array(80 * 48 * 3),
    }], {
      fps: 10,
      format: "mp4",
    });
    const size = await post(strict, form({ sentence: "a square" }, wide));
    expect(size.status).toBe(413);
    expect((await size.json()).error).toMatch(/80x48/);
  });

  test("processing over the time limit gets 408; client disconnects leave nothing behind", async () => {
    const slow = await serve({ windowSize: 1, limits: { processingTimeoutMs: 50 } });
    const res = await post(slow, form({ sentence: "a square" }, video));
    expect(res.status).toBe(408);
    expect((await res.json()).error).toMatch(/processing took longer than 50 ms/);

    // a client that goes away mid-upload: the request stops, its folder is removed
    const patient = await serve({ windowSize: 1 });
    const whole = new Request("http://x/", {
      method: "POST",
      body: form({ sentence: "a square" }, new Uint8Array(50_000)),
    });
    const payload = new Uint8Array(await whole.arrayBuffer());
    const controller = new AbortController();
    const half = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(payload.slice(0, 30_000)),
    });
    const uploading = post(patient, half, {
      signal: controller.signal,
      headers: { "content-type": whole.headers.get("content-type")! },
    });
    let entries: string[] = [];
    for (let i = 0; i < 100 && entries.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      entries = await tempEntries(patient.tempDir);
    }
    expect(entries).toHaveLength(1); // the upload is being spooled
    controller.abort();
    await expect(uploading).rejects.toThrow();
    let requests: Record<string, number> = {};
    for (let i = 0; i < 100 && !requests["499"]; i++) {
      await new Promise((r) => setTimeout(r, 20));
      requests = (await (await fetch(`${patient.url}/health`)).json()).requests;
    }
    expect(requests).toEqual({ "499": 1 });
    expect(await tempEntries(patient.tempDir)).toEqual([]);

    // a client that goes away while its video is processed: Deno 2.9 reports the disconnect
    // only when the response is written, so the request runs to its end; its folder is
    // removed all the same
    const processing = post(patient, form({ sentence: "a square" }, video), {
      signal: AbortSignal.timeout(150),
    });
    await expect(processing).rejects.toThrow();
    for (let i = 0; i < 200 && (await tempEntries(patient.tempDir)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await tempEntries(patient.tempDir)).toEqual([]);
    const health = await (await fetch(`${patient.url}/health`)).json();
    expect(health.queue).toMatchObject({ running: 0, waiting: 0 });
  });

  test("the server stays healthy and its temp folder is empty", async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    const health = await res.json();
    expect(health.status).toBe("ok");
    expect(health.backend).toBe("cpu");
    expect(health.queue).toMatchObject({ running: 0, waiting: 0, concurrency: 1, maxWaiting: 3 });
    expect(health.requests["200"]).toBeGreaterThanOrEqual(7);
    const after = await post(server, form({ sentence: "the red square" }, video));
    expect(after.status).toBe(200);
    expect((await after.json()).frames).toHaveLength(N);
    for (const s of servers) expect(await tempEntries(s.tempDir)).toEqual([]);
  });
});

describe("queue sized for the load", () => {
  test("8 concurrent requests with 7 waiting places are all answered", async () => {
    const server = await serve({ maxWaiting: 7 });
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => post(server, form({ sentence: "the square" }, video))),
    );
    const bodies = await Promise.all(responses.map((r) => r.json()));
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    for (const body of bodies) expect(body.frames).toHaveLength(N);
    await server.shutdown();
    expect(await tempEntries(server.tempDir)).toEqual([]);
    const refused = await fetch(`${server.url}/health`).then(() => "answered", () => "refused");
    expect(refused).toBe("refused");
  });
});
