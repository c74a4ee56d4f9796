/**
 * A streaming multipart/form-data reader (RFC 7578) with hard limits: file parts are written
 * to a sink chunk by chunk as they arrive (never held whole in memory), text fields are kept
 * up to a small size. The whole body is counted against `maxBytes`; crossing any limit stops
 * reading at once with a {@link MultipartError} (status 413 or 400); an abort of `signal` stops
 * it with the signal's reason.
 */

/** A malformed or oversized form; `status` is the HTTP status to answer with. */
export class MultipartError extends Error {
  constructor(readonly status: 400 | 413, message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface MultipartLimits {
  /** Bytes of the whole body, boundaries and headers included. */
  maxBytes: number;
  /** Bytes of one text field. */
  maxFieldBytes: number;
  /** Bytes of one part's header block. */
  maxHeaderBytes?: number;
  /** Parts in the form. */
  maxParts?: number;
}

/** Where a file part's bytes go: `open` when the part starts, `write` per chunk, `close` at its end. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface FileInfo {
  field: string;
  filename: string;
  contentType: string;
}

export interface MultipartResult {
  fields: Map<string, string>;
  files: (FileInfo & { bytes: number })[];
  /** Body bytes read. */
  bytes: number;
}

/** Extracts the boundary from a Content-Type header, or null when it is not multipart/form-data. */
export function formBoundary(contentType: string | null): string | null {
  if (!contentType) return null;
  const [type, ...params] = contentType.split(";");
  if (type.trim().toLowerCase() !== "multipart/form-data") return null;
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq < 0) continue;
    if (param.slice(0, eq).trim().toLowerCase() !== "boundary") continue;
    let value = param.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value.length > 0 && value.length <= 70 ? value : null;
  }
  return null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = encoder.encode("\r\n");
const HEADER_END = encoder.encode("\r\n\r\n");

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  outer: for (
    let i = haystack.indexOf(first, from);
    i !== -1 && i <= last;
    i = haystack.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Parses Content-Disposition and Content-Type of one part's header block. */
function parsePartHeaders(block: string): { name: string; filename?: string; type: string } {
  let name: string | undefined;
  let filename: string | undefined;
  let type = "text/plain";
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "content-type") type = value;
    if (key !== "content-disposition") continue;
    const params = value.match(/;\s*([A-Za-z*]+)=("(?:[^"\\]|\\.)*"|[^;]*)/g) ?? [];
    for (const p of params) {
      const m = /;\s*([A-Za-z*]+)=("(?:[^"\\]|\\.)*"|[^;]*)/.exec(p)!;
      const v = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, "$1") : m[2].trim();
      if (m[1].toLowerCase() === "name") name = v;
      if (m[1].toLowerCase() === "filename") filename = v;
    }
  }
  if (name === undefined) throw new MultipartError(400, "form part without a field name");
  return { name, filename, type };
}

/**
 * Reads a multipart body. Text fields are returned; each file part is streamed into the sink
 * that `openFile` returns (return null to reject a file field with a 400). The sink is closed
 * after its part, also when reading fails.
 */
export async function readMultipart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  limits: MultipartLimits,
  openFile: (info: FileInfo) => Promise<FileSink | null>,
  signal?: AbortSignal,
): Promise<MultipartResult> {
  const maxHeader = limits.maxHeaderBytes ?? 16 * 1024;
  const maxParts = limits.maxParts ?? 16;
  const dash = encoder.encode(`--${boundary}`);
  const delimiter = concat(CRLF, dash);
  const fields = new Map<string, string>();
  const files: MultipartResult["files"] = [];
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.throwIfAborted();
  signal?.addEventListener("abort", onAbort, { once: true });
  let buffer: Uint8Array = new Uint8Array(0);
  let total = 0;
  let done = false;

  /** Appends the next chunk; false at the end of the body. */
  const pull = async (): Promise<boolean> => {
    if (done) return false;
    const { value, done: end } = await reader.read();
    signal?.throwIfAborted();
    if (end) {
      done = true;
      return false;
    }
    total += value.length;
    if (total > limits.maxBytes) {
      throw new MultipartError(413, `upload larger than ${limits.maxBytes} bytes`);
    }
    buffer = concat(buffer, value);
    return true;
  };
  const truncated = () => new MultipartError(400, "the form ends before its closing boundary");

  try {
    // preamble: up to the first boundary
    let at: number;
    while ((at = indexOf(buffer, dash)) < 0) {
      if (buffer.length > maxHeader) throw new MultipartError(400, "no form boundary found");
      if (!(await pull())) throw truncated();
    }
    buffer = buffer.subarray(at + dash.length);
    for (let parts = 0;; parts++) {
      while (buffer.length < 2) if (!(await pull())) throw truncated();
      if (buffer[0] === 45 && buffer[1] === 45) break; // "--": closing boundary
      let end: number;
      while ((end = indexOf(buffer, HEADER_END)) < 0) {
        if (buffer.length > maxHeader) throw new MultipartError(400, "form part headers too long");
        if (!(await pull())) throw truncated();
      }
      if (parts >= maxParts) throw new MultipartError(400, `more than ${maxParts} form parts`);
      // the header block starts after the CRLF that ends the boundary line
      const headerText = decoder.decode(buffer.subarray(0, end)).replace(/^[ \t]*\r\n/, "");
      const part = parsePartHeaders(headerText);
      buffer = buffer.subarray(end + HEADER_END.length);
      let sink: FileSink | null = null;
      let bytes = 0;
      const text: Uint8Array[] = [];
      if (part.filename !== undefined) {
        const info = { field: part.name, filename: part.filename, contentType: part.type };
        sink = await openFile(info);
        if (!sink) throw new MultipartError(400, `unexpected file field "${part.name}"`);
        files.push({ ...info, bytes: 0 });
      }
      try {
        const emit = async (chunk: Uint8Array) => {
          if (chunk.length === 0) return;
          bytes += chunk.length;
          if (sink) await sink.write(chunk.slice());
          else if (bytes > limits.maxFieldBytes) {
            throw new MultipartError(
              413,
              `form field "${part.name}" longer than ${limits.maxFieldBytes} bytes`,
            );
          } else text.push(chunk.slice());
        };
        for (;;) {
          const found = indexOf(buffer, delimiter);
          if (found >= 0) {
            await emit(buffer.subarray(0, found));
            buffer = buffer.subarray(found + delimiter.length);
            break;
          }
          // keep a tail that could be the start of the delimiter
          const keep = Math.min(buffer.length, delimiter.length - 1);
          await emit(buffer.subarray(0, buffer.length - keep));
          buffer = buffer.subarray(buffer.length - keep);
          if (!(await pull())) throw truncated();
        }
      } finally {
        await sink?.close();
      }
      if (sink) files[files.length - 1].bytes = bytes;
      else {
        const all = text.reduce((a, b) => concat(a, b), new Uint8Array(0));
        fields.set(part.name, decoder.decode(all));
      }
    }
    return { fields, files, bytes: total };
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.cancel().catch(() => {});
  }
}
