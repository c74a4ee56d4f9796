/**
 * safetensors reading (whole buffer or lazily from a file) and writing.
 * Format: u64 LE header length N, N bytes of JSON header padded with spaces, raw LE data.
 */
import { writeFileAtomic } from "./atomic_write.ts";
import {
  decodeFileData,
  encodeHalfBytes,
  FILE_DTYPE_SIZES,
  FILE_TO_RAW_DTYPE,
  type FileDType,
  RAW_TO_FILE_DTYPE,
} from "./file_dtype.ts";
import { assertValidRawTensor, type RawDType, type RawTensor } from "./raw_tensor.ts";
import {
  parseHeader,
  parseHeaderLength,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "./safetensors_header.ts";

export { MAX_HEADER_BYTES } from "./safetensors_header.ts";

export interface SafetensorsContent {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export interface SafetensorsTensorInfo {
  /** dtype as stored in the file, e.g. "BF16". */
  fileDType: FileDType;
  /** dtype of the RawTensor that read() returns, e.g. "f32". */
  dtype: RawDType;
  shape: number[];
  byteLength: number;
}

export type TensorCollection = Record<string, RawTensor> | Map<string, RawTensor>;

function decodeEntry(bytes: Uint8Array, entry: SafetensorsEntry, what: string): RawTensor {
  const { dtype, data } = decodeFileData(bytes, entry.dtype, what);
  return { dtype, shape: [...entry.shape], data };
}

/** Parses a complete safetensors file held in memory. */
export function readSafetensors(
  bytes: Uint8Array,
  source = "safetensors data",
): SafetensorsContent {
  const headerLength = parseHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const dataStart = 8 + headerLength;
  const header = parseHeader(
    bytes.subarray(8, dataStart),
    bytes.length - dataStart,
    source,
  );
  const tensors = new Map<string, RawTensor>();
  for (const [key, entry] of header.entries) {
    const range = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    tensors.set(key, decodeEntry(range, entry, `${source}: tensor "${key}"`));
  }
  return { tensors, metadata: header.metadata };
}

export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  }
  return readSafetensors(bytes, path);
}

async function readExactly(file: Deno.FsFile, position: number, length: number, source: string) {
  const buffer = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) {
      throw new Error(
        `${source}: unexpected end of file reading ${length} bytes at offset ${position} (truncated?)`,
      );
    }
    filled += n;
  }
  return buffer;
}

/** A safetensors file whose header has been read; tensors are read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly file: Deno.FsFile,
    private readonly header: SafetensorsHeader,
    private readonly dataStart: number,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw new Error(`cannot open ${path}: ${error instanceof Error ? error.message : error}`);
    }
    try {
      const fileSize = (await file.stat()).size;
      const first8 = fileSize >= 8 ? await readExactly(file, 0, 8, path) : new Uint8Array(0);
      const headerLength = parseHeaderLength(first8, fileSize, path);
      const headerBytes = await readExactly(file, 8, headerLength, path);
      const dataStart = 8 + headerLength;
      const header = parseHeader(headerBytes, fileSize - dataStart, path);
      return new SafetensorsFile(path, file, header, dataStart);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names in data-offset order. */
  keys(): string[] {
    return [...this.header.entries.keys()];
  }

  has(key: string): boolean {
    return this.header.entries.has(key);
  }

  private entry(key: string): SafetensorsEntry {
    const entry = this.header.entries.get(key);
    if (!entry) throw new Error(`${this.path}: no tensor named "${key}"`);
    return entry;
  }

  info(key: string): SafetensorsTensorInfo {
    const entry = this.entry(key);
    return {
      fileDType: entry.dtype,
      dtype: FILE_TO_RAW_DTYPE[entry.dtype],
      shape: [...entry.shape],
      byteLength: entry.end - entry.begin,
    };
  }

  async read(key: string): Promise<RawTensor> {
    const entry = this.entry(key);
    const bytes = await readExactly(
      this.file,
      this.dataStart + entry.begin,
      entry.end - entry.begin,
      this.path,
    );
    return decodeEntry(bytes, entry, `${this.path}: tensor "${key}"`);
  }

  close(): void {
    this.file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function entriesOf(tensors: TensorCollection): [string, RawTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

function bytesOf(tensor: RawTensor): Uint8Array {
  return new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
}

/** How tensors are stored. */
export interface EncodeOptions {
  /** Store f32 tensors as F16 (half the bytes; they read back as f32). Default false. */
  halfFloats?: boolean;
}

/**
 * Serialises tensors. Data is laid out by decreasing element size (then insertion order)
 * so every tensor stays aligned to its element size.
 */
export function encodeSafetensors(
  tensors: TensorCollection,
  metadata?: Record<string, string>,
  options: EncodeOptions = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new Error(`safetensors: metadata key "${key}" must be a string, got ${typeof value}`);
      }
    }
    header.__metadata__ = metadata;
  }
  const entries = entriesOf(tensors);
  for (const [name, tensor] of entries) {
    if (name === "__metadata__" || name === "") {
      throw new Error(`safetensors: invalid tensor name "${name}"`);
    }
    assertValidRawTensor(tensor, name);
  }
  const stored = entries.map(([name, tensor], index) => {
    const half = options.halfFloats === true && tensor.dtype === "f32";
    const dtype: FileDType = half ? "F16" : RAW_TO_FILE_DTYPE[tensor.dtype];
    const bytes = half
      ? encodeHalfBytes(tensor.data as Float32Array, `safetensors: tensor "${name}"`)
      : tensor.dtype === "bool"
      ? bytesOf(tensor).map((b) => (b !== 0 ? 1 : 0))
      : bytesOf(tensor);
    return { name, shape: tensor.shape, dtype, bytes, index };
  });
  stored.sort((a, b) => FILE_DTYPE_SIZES[b.dtype] - FILE_DTYPE_SIZES[a.dtype] || a.index - b.index);

  let offset = 0;
  for (const { name, shape, dtype, bytes } of stored) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const { bytes } of stored) {
    out.set(bytes, position);
    position += bytes.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: TensorCollection,
  metadata?: Record<string, string>,
  options: EncodeOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata, options));
}
