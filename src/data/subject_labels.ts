/**
 * Which words of a caption are the subject (the span the subject perceptron is trained on).
 *
 * Sources, in priority order:
 *  - "synthetic": exact spans written by the Ref-Shapes generator (file with generator "ref-shapes");
 *  - "file": a per-expression label file (format below), e.g. precomputed booster labels;
 *  - "fallback-first-chunk": the reference's fallback, phrase 0 = the first noun chunk.
 *
 * Label file format (JSON), either an array or {"entries": [...]}, one entry per expression:
 *   {"video": "abc", "exp_id": "0", "chunk_index": 1}        0-based noun-chunk index, or
 *   {"video": "abc", "exp_id": "0", "token_span": [0, 3]}    word indices [start, end) into the
 *                                                             cleaned caption split on spaces.
 * The Ref-Shapes file is {"generator": "ref-shapes", "entries": [{video, exp_id, token_span,
 * subject}]}.
 */

export type SubjectSource = "synthetic" | "file" | "fallback-first-chunk";

export interface SubjectLabel {
  source: SubjectSource;
  /** 0-based noun-chunk index (file entries with chunk_index, and the fallback: 0). */
  chunkIndex?: number;
  /** Word indices [start, end) of the cleaned caption. */
  tokenSpan?: [number, number];
}

export interface SubjectLabelEntry {
  video: string;
  exp_id: string;
  chunk_index?: number;
  token_span?: [number, number];
  subject?: string;
}

export interface SubjectLabelFile {
  generator?: string;
  entries: SubjectLabelEntry[];
}

function key(video: string, expId: string): string {
  return `${video}\u0000${expId}`;
}

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** Validates a parsed label file; `where` names it in errors. */
export function parseSubjectLabelFile(json: unknown, where: string): SubjectLabelFile {
  const root = json as { generator?: unknown; entries?: unknown };
  const list = Array.isArray(json) ? json : root?.entries;
  if (!Array.isArray(list)) {
    throw new Error(`subject labels ${where}: expected an array or an object with "entries"`);
  }
  const generator = !Array.isArray(json) && typeof root.generator === "string"
    ? root.generator
    : undefined;
  const entries = list.map((raw, i): SubjectLabelEntry => {
    const e = raw as Record<string, unknown>;
    const at = `subject labels ${where}[${i}]`;
    if (typeof e?.video !== "string") throw new Error(`${at}.video: expected a string`);
    const expId = typeof e.exp_id === "number" ? String(e.exp_id) : e.exp_id;
    if (typeof expId !== "string") throw new Error(`${at}.exp_id: expected a string`);
    const hasChunk = e.chunk_index !== undefined, hasSpan = e.token_span !== undefined;
    if (hasChunk === hasSpan) throw new Error(`${at}: give exactly one of chunk_index, token_span`);
    if (hasChunk && !isIndex(e.chunk_index)) {
      throw new Error(`${at}.chunk_index: expected a non-negative integer`);
    }
    const span = e.token_span as unknown[];
    if (
      hasSpan &&
      !(Array.isArray(span) && span.length === 2 && isIndex(span[0]) && isIndex(span[1]) &&
        span[0] < span[1])
    ) throw new Error(`${at}.token_span: expected [start, end) with 0 <= start < end`);
    return {
      video: e.video,
      exp_id: expId,
      ...(hasChunk ? { chunk_index: e.chunk_index as number } : {}),
      ...(hasSpan ? { token_span: [span[0], span[1]] as [number, number] } : {}),
      ...(typeof e.subject === "string" ? { subject: e.subject } : {}),
    };
  });
  return { generator, entries };
}

function toLabel(entry: SubjectLabelEntry, source: SubjectSource): SubjectLabel {
  return entry.token_span
    ? { source, tokenSpan: [entry.token_span[0], entry.token_span[1]] }
    : { source, chunkIndex: entry.chunk_index };
}

export class SubjectLabeler {
  private readonly synthetic = new Map<string, SubjectLabelEntry>();
  private readonly file = new Map<string, SubjectLabelEntry>();

  constructor(sources: { synthetic?: SubjectLabelEntry[]; file?: SubjectLabelEntry[] } = {}) {
    for (const e of sources.synthetic ?? []) this.synthetic.set(key(e.video, e.exp_id), e);
    for (const e of sources.file ?? []) this.file.set(key(e.video, e.exp_id), e);
  }

  /** Reads label files; a file written by the Ref-Shapes generator counts as "synthetic". */
  static async load(paths: string[]): Promise<SubjectLabeler> {
    const synthetic: SubjectLabelEntry[] = [], file: SubjectLabelEntry[] = [];
    for (const path of paths) {
      let json: unknown;
      try {
        json = JSON.parse(await Deno.readTextFile(path));
      } catch (error) {
        throw new Error(`subject labels ${path}: ${(error as Error).message}`);
      }
      const parsed = parseSubjectLabelFile(json, path);
      (parsed.generator === "ref-shapes" ? synthetic : file).push(...parsed.entries);
    }
    return new SubjectLabeler({ synthetic, file });
  }

  label(video: string, expId: string): SubjectLabel {
    const k = key(video, expId);
    const synthetic = this.synthetic.get(k);
    if (synthetic) return toLabel(synthetic, "synthetic");
    const fromFile = this.file.get(k);
    if (fromFile) return toLabel(fromFile, "file");
    return { source: "fallback-first-chunk", chunkIndex: 0 };
  }
}

/** The words a token span covers (for logs and checks). */
export function subjectWords(caption: string, span: [number, number]): string {
  return caption.split(" ").slice(span[0], span[1]).join(" ");
}
