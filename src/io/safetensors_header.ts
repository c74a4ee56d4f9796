/** Parsing and validation of the safetensors JSON header (see the format spec). */
import { FILE_DTYPE_SIZES, type FileDType, isFileDType } from "./file_dtype.ts";
import { numelOf } from "./raw_tensor.ts";

export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  dtype: FileDType;
  shape: number[];
  /** Byte range relative to the first byte after the header. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Entries in data-offset order. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** Validates the 8-byte little-endian header length against the file size. */
export function parseHeaderLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new Error(`${source}: file is ${fileSize} bytes, too short for the 8-byte header length`);
  }
  const length = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(
      `${source}: header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`,
    );
  }
  if (8n + length > BigInt(fileSize)) {
    throw new Error(
      `${source}: header length ${length} runs past the end of the ${fileSize}-byte file (truncated?)`,
    );
  }
  return Number(length);
}

function describeJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${source}: __metadata__ must be an object of strings, got ${describeJson(value)}`,
    );
  }
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") {
      throw new Error(
        `${source}: __metadata__ key "${key}" must be a string, got ${describeJson(item)}`,
      );
    }
    metadata[key] = item;
  }
  return metadata;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function parseEntry(key: string, value: unknown, dataLength: number, source: string) {
  const where = `${source}: tensor "${key}"`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${where}: header entry must be an object, got ${describeJson(value)}`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string") throw new Error(`${where}: missing or non-string "dtype"`);
  if (!isFileDType(dtype)) throw new Error(`${where}: unknown or unsupported dtype "${dtype}"`);
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new Error(`${where}: "shape" must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new Error(`${where}: "data_offsets" must be [begin, end] non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end) throw new Error(`${where}: data_offsets [${begin}, ${end}] are reversed`);
  if (end > dataLength) {
    throw new Error(
      `${where}: data_offsets [${begin}, ${end}] are out of range (data section is ${dataLength} bytes)`,
    );
  }
  const needed = numelOf(shape) * FILE_DTYPE_SIZES[dtype];
  if (end - begin !== needed) {
    throw new Error(
      `${where}: data_offsets span ${end - begin} bytes but ${dtype} [${
        shape.join(", ")
      }] needs ${needed}`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

function checkCoverage(
  sorted: [string, SafetensorsEntry][],
  dataLength: number,
  source: string,
): void {
  let position = 0;
  let previous = "";
  for (const [key, entry] of sorted) {
    if (entry.begin < position) {
      throw new Error(
        `${source}: tensor "${key}" data_offsets [${entry.begin}, ${entry.end}] overlap tensor "${previous}"`,
      );
    }
    if (entry.begin > position) {
      throw new Error(
        `${source}: bytes ${position}..${entry.begin} before tensor "${key}" are not covered by any tensor`,
      );
    }
    position = entry.end;
    previous = key;
  }
  if (position !== dataLength) {
    throw new Error(
      `${source}: tensors cover ${position} bytes but the data section is ${dataLength} bytes`,
    );
  }
}

/** Parses the header JSON; `dataLength` is the number of bytes after the header. */
export function parseHeader(
  headerBytes: Uint8Array,
  dataLength: number,
  source: string,
): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${source}: header is not valid JSON (${reason})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Error(`${source}: header must be a JSON object, got ${describeJson(json)}`);
  }
  let metadata: Record<string, string> = {};
  const unsorted: [string, SafetensorsEntry][] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === "__metadata__") metadata = parseMetadata(value, source);
    else unsorted.push([key, parseEntry(key, value, dataLength, source)]);
  }
  const sorted = unsorted.sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  checkCoverage(sorted, dataLength, source);
  return { entries: new Map(sorted), metadata };
}
