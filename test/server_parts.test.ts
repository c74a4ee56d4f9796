/** The service's building blocks without HTTP: the streaming multipart reader and the queue. */
import { describe, expect, test } from "vitest";
import {
  type FileSink,
  formBoundary,
  MultipartError,
  readMultipart,
} from "../src/service/multipart.ts";
import { JobQueue, QueueFullError } from "../src/service/queue.ts";
import { resolveLimits } from "../src/service/limits.ts";

/** Serialises a FormData the way fetch does; returns the body and its boundary. */
async function encodeForm(form: FormData): Promise<{ body: Uint8Array; boundary: string }> {
  const request = new Request("http://x/", { method: "POST", body: form });
  const boundary = formBoundary(request.headers.get("content-type"))!;
  return { body: new Uint8Array(await request.arrayBuffer()), boundary };
}

/** A stream of `bytes` cut into chunks of the given sizes (cycled). */
function chunked(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (let i = 0, k = 0; i < bytes.length; k++) {
        const n = sizes[k % sizes.length];
        controller.enqueue(bytes.slice(i, i + n));
        i += n;
      }
      controller.close();
    },
  });
}

function memorySinks() {
  const files = new Map<string, Uint8Array[]>();
  const open = (info: { field: string }): Promise<FileSink> => {
    const parts: Uint8Array[] = [];
    files.set(info.field, parts);
    return Promise.resolve({
      write: (chunk) => {
        parts.push(chunk);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    });
  };
  const bytes = (field: string) => {
    const parts = files.get(field) ?? [];
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  };
  return { open, bytes };
}

const LIMITS = { maxBytes: 1 << 20, maxFieldBytes: 1000 };

describe("multipart reader", () => {
  test("boundaries from Content-Type", () => {
    expect(formBoundary("multipart/form-data; boundary=abc")).toBe("abc");
    expect(formBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"')).toBe("a b:c");
    expect(formBoundary("multipart/form-data")).toBe(null);
    expect(formBoundary("application/json")).toBe(null);
    expect(formBoundary(null)).toBe(null);
  });

  test("files and fields survive any chunking, boundary look-alikes included", async () => {
    const { body: probe, boundary } = await encodeForm(new FormData());
    expect(probe.length).toBeGreaterThan(0);
    // file content that contains CRLF, dashes and a prefix of the delimiter
    const enc = new TextEncoder();
    const tricky = enc.encode(`x\r\n--${boundary.slice(0, 10)}\r\n\r\n--y`);
    const payload = new Uint8Array(5000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) % 256;
    payload.set(tricky, 1234);
    const form = new FormData();
    form.append("sentence", "a dog — jumping\r\nover");
    form.append("video", new Blob([payload]), "clip.mp4");
    form.append("format", "zip");
    const { body, boundary: b } = await encodeForm(form);
    for (const sizes of [[1], [7, 3, 64], [body.length], [boundary.length + 3]]) {
      const sinks = memorySinks();
      const result = await readMultipart(
        chunked(body, sizes),
        b,
        LIMITS,
        (info) => sinks.open(info),
      );
      expect(result.fields.get("sentence")).toBe("a dog — jumping\r\nover");
      expect(result.fields.get("format")).toBe("zip");
      expect(result.files).toEqual([
        {
          field: "video",
          filename: "clip.mp4",
          contentType: "application/octet-stream",
          bytes: 5000,
        },
      ]);
      expect(sinks.bytes("video")).toEqual(payload);
      expect(result.bytes).toBe(body.length);
    }
  });

  test("limits and malformed bodies", async () => {
    const form = new FormData();
    form.append("sentence", "x".repeat(50));
    form.append("video", new Blob([new Uint8Array(4000)]), "v.mp4");
    const { body, boundary } = await encodeForm(form);
    const read = (bytes: Uint8Array, limits = LIMITS) =>
      readMultipart(chunked(bytes, [100]), boundary, limits, (info) => memorySinks().open(info));
    const status = async (p: Promise<unknown>) => {
      try {
        await p;
        return 200;
      } catch (error) {
        expect(error).toBeInstanceOf(MultipartError);
        return (error as MultipartError).status;
      }
    };
    expect(await status(read(body, { maxBytes: 2000, maxFieldBytes: 1000 }))).toBe(413);
    expect(await status(read(body, { maxBytes: 1 << 20, maxFieldBytes: 10 }))).toBe(413);
    expect(await status(read(body.subarray(0, body.length - 20)))).toBe(400);
    expect(await status(read(new TextEncoder().encode("no boundary here")))).toBe(400);
    const noName = new TextEncoder().encode(
      `--${boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${boundary}--\r\n`,
    );
    expect(await status(read(noName))).toBe(400);
    const refused = readMultipart(
      chunked(body, [100]),
      boundary,
      LIMITS,
      () => Promise.resolve(null),
    );
    expect(await status(refused)).toBe(400);
    expect(await status(read(body))).toBe(200);
  });

  test("an abort stops reading with the signal's reason", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("--abc\r\nContent-Disposition: form-data;"));
      },
    });
    const controller = new AbortController();
    const reading = readMultipart(
      stream,
      "abc",
      LIMITS,
      () => Promise.resolve(null),
      controller.signal,
    );
    setTimeout(() => controller.abort(new Error("gone")), 10);
    await expect(reading).rejects.toThrow("gone");
  });
});

describe("job queue", () => {
  test("runs one at a time in order, refuses beyond the bound, frees places", async () => {
    const queue = new JobQueue(1, 2);
    const order: number[] = [];
    const gate = Promise.withResolvers<void>();
    const tickets = [queue.admit(), queue.admit(), queue.admit()];
    expect(queue.size).toBe(3);
    let refused: unknown;
    try {
      queue.admit();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as QueueFullError).retryAfterSec).toBeGreaterThanOrEqual(1);
    const runs = tickets.map((t, i) =>
      t.run(async () => {
        order.push(i);
        if (i === 0) await gate.promise;
        return i * 10;
      })
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([0]);
    expect(queue.active).toBe(1);
    gate.resolve();
    expect(await Promise.all(runs)).toEqual([0, 10, 20]);
    expect(order).toEqual([0, 1, 2]);
    expect(queue.size).toBe(0);
    await queue.idle();
  });

  test("a waiting job whose signal aborts leaves the queue; failures free the slot", async () => {
    const queue = new JobQueue(1, 3);
    const gate = Promise.withResolvers<void>();
    const first = queue.admit().run(() => gate.promise);
    const controller = new AbortController();
    const waiting = queue.admit().run(() => Promise.resolve("ran"), controller.signal);
    const failing = queue.admit().run(() => Promise.reject(new Error("boom")));
    controller.abort(new Error("left"));
    await expect(waiting).rejects.toThrow("left");
    expect(queue.size).toBe(2);
    gate.resolve();
    await first;
    await expect(failing).rejects.toThrow("boom");
    expect(queue.size).toBe(0);
    const ticket = queue.admit();
    ticket.release();
    ticket.release();
    expect(queue.size).toBe(0);
    expect(() => new JobQueue(0, 1)).toThrow(/concurrency/);
  });

  test("limits: defaults, overrides, bad values", () => {
    expect(resolveLimits({ maxFrames: 10 }).maxFrames).toBe(10);
    expect(resolveLimits().maxUploadBytes).toBe(64 * 1024 * 1024);
    expect(() => resolveLimits({ maxFrames: -1 })).toThrow(/positive integer/);
    expect(() => resolveLimits({ maxFrame: 1 } as never)).toThrow(/unknown service limit/);
  });
});
