/**
 * PyTorch checkpoint (torch.save) reader for the zip format (torch >= 1.6) and the legacy
 * stream format (_use_new_zipfile_serialization=False). Tensors become RawTensor (contiguous);
 * other values follow the mapping documented in pickle.ts.
 */
import { unzipSync } from "./fflate.ts";
import { FILE_DTYPE_SIZES } from "./file_dtype.ts";
import { unpickle } from "./pickle.ts";
import { isRawTensor, type RawTensor } from "./raw_tensor.ts";
import {
  createTorchGlobals,
  materializeTensors,
  type PendingTensor,
  storageDTypeOf,
  type TorchStorage,
} from "./torch_pickle.ts";

export { extractStateDict } from "./state_dict.ts";

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

function asText(value: unknown): string {
  if (value instanceof Uint8Array) return Array.from(value, (c) => String.fromCharCode(c)).join("");
  return String(value);
}

function parseStorageId(pid: unknown, source: string) {
  if (!Array.isArray(pid) || pid.length < 5) {
    const shown = Array.isArray(pid) ? `tuple of ${pid.length}` : typeof pid;
    throw new Error(`${source}: unexpected persistent id (${shown}), expected a storage tuple`);
  }
  const typename = asText(pid[0]);
  if (typename !== "storage") {
    throw new Error(`${source}: unsupported persistent id type "${typename}"`);
  }
  const [, storageType, key, , numel, viewMetadata] = pid;
  if (!Number.isSafeInteger(numel) || numel < 0) {
    throw new Error(`${source}: storage "${asText(key)}" has invalid size ${String(numel)}`);
  }
  let fileDType;
  try {
    fileDType = storageDTypeOf(storageType);
  } catch (error) {
    throw new Error(`${source}: storage "${asText(key)}": ${(error as Error).message}`);
  }
  return { key: asText(key), fileDType, numel: numel as number, viewMetadata };
}

/** Gives each tensor its first path in the object ("model.layer.weight") for error messages. */
function nameTensors(root: unknown): Map<RawTensor, string> {
  const names = new Map<RawTensor, string>();
  const seen = new Set<unknown>();
  const visit = (value: unknown, path: string) => {
    if (typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    const child = (key: unknown) => (path ? `${path}.${asText(key)}` : asText(key));
    if (isRawTensor(value)) names.set(value, path || "<root>");
    else if (value instanceof Map) { for (const [k, v] of value) visit(v, child(k)); }
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, child(i)));
    else if (value instanceof Set) [...value].forEach((v, i) => visit(v, child(i)));
    else if (!ArrayBuffer.isView(value)) {
      for (const [k, v] of Object.entries(value)) visit(v, child(k));
    }
  };
  visit(root, "");
  return names;
}

function finish(value: unknown, pending: PendingTensor[], source: string): unknown {
  materializeTensors(pending, nameTensors(value), source);
  return value;
}

function checkStorageLength(storage: TorchStorage, bytes: Uint8Array, source: string): void {
  const expected = storage.numel * FILE_DTYPE_SIZES[storage.fileDType];
  if (bytes.length !== expected) {
    throw new Error(
      `${source}: storage "${storage.key}" has ${bytes.length} bytes, expected ${expected} ` +
        `(${storage.numel} x ${storage.fileDType}; truncated or corrupt file?)`,
    );
  }
}

function readZip(bytes: Uint8Array, source: string): unknown {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (error) {
    throw new Error(
      `${source}: not a readable zip archive (truncated?): ${(error as Error).message}`,
    );
  }
  const pickles = Object.keys(files).filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw new Error(
      `${source}: expected one <archive>/data.pkl in the zip, found ${pickles.length}`,
    );
  }
  const prefix = pickles[0].slice(0, -"data.pkl".length);
  const byteOrder = files[`${prefix}byteorder`];
  if (byteOrder && new TextDecoder().decode(byteOrder).trim() !== "little") {
    throw new Error(`${source}: big-endian checkpoints are not supported`);
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown) => {
    const { key, fileDType, numel } = parseStorageId(pid, source);
    const cached = storages.get(key);
    if (cached) return cached;
    const data = files[`${prefix}data/${key}`];
    if (!data) throw new Error(`${source}: storage ${prefix}data/${key} is missing from the zip`);
    const storage: TorchStorage = { key, fileDType, numel, bytes: data };
    checkStorageLength(storage, data, source);
    storages.set(key, storage);
    return storage;
  };
  const pending: PendingTensor[] = [];
  const { value } = unpickle(files[pickles[0]], {
    globals: createTorchGlobals(pending),
    persistentLoad,
    source: `${source}:${pickles[0]}`,
  });
  return finish(value, pending, source);
}

function legacyStorage(
  pid: unknown,
  storages: Map<string, TorchStorage>,
  source: string,
): TorchStorage {
  const { key, fileDType, numel, viewMetadata } = parseStorageId(pid, source);
  let root = storages.get(key);
  if (!root) {
    root = { key, fileDType, numel };
    storages.set(key, root);
  }
  if (viewMetadata === null || viewMetadata === undefined) return root;
  if (
    !Array.isArray(viewMetadata) || viewMetadata.length !== 3 ||
    !viewMetadata.slice(1).every((n) => Number.isSafeInteger(n) && n >= 0)
  ) {
    throw new Error(`${source}: storage "${key}" has invalid view metadata`);
  }
  const [viewKey, offset, size] = viewMetadata;
  const name = asText(viewKey);
  const existing = storages.get(name);
  if (existing) return existing;
  const view = {
    key: name,
    fileDType,
    numel: size as number,
    view: { root, elementOffset: offset as number },
  };
  storages.set(name, view);
  return view;
}

function readLegacy(bytes: Uint8Array, source: string): unknown {
  const magic = unpickle(bytes, { source }, 0);
  if (magic.value !== LEGACY_MAGIC) {
    throw new Error(`${source}: not a PyTorch checkpoint (invalid legacy magic number)`);
  }
  const protocol = unpickle(bytes, { source }, magic.end);
  if (protocol.value !== LEGACY_PROTOCOL_VERSION) {
    throw new Error(`${source}: unsupported legacy protocol version ${String(protocol.value)}`);
  }
  const sysInfo = unpickle(bytes, { source }, protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get("little_endian") === false) {
    throw new Error(`${source}: big-endian checkpoints are not supported`);
  }
  const storages = new Map<string, TorchStorage>();
  const pending: PendingTensor[] = [];
  const main = unpickle(bytes, {
    globals: createTorchGlobals(pending),
    persistentLoad: (pid) => legacyStorage(pid, storages, source),
    source,
  }, sysInfo.end);
  const keys = unpickle(bytes, { source }, main.end);
  if (!Array.isArray(keys.value)) throw new Error(`${source}: storage key list is missing`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = keys.end;
  for (const rawKey of keys.value) {
    const key = asText(rawKey);
    const storage = storages.get(key);
    if (!storage || storage.view) throw new Error(`${source}: unknown storage key "${key}"`);
    if (position + 8 > bytes.length) {
      throw new Error(`${source}: truncated before storage "${key}" at offset ${position}`);
    }
    const count = view.getBigInt64(position, true);
    if (count !== BigInt(storage.numel)) {
      throw new Error(
        `${source}: storage "${key}" at offset ${position} holds ${count} elements, expected ${storage.numel}`,
      );
    }
    const start = position + 8;
    const end = start + storage.numel * FILE_DTYPE_SIZES[storage.fileDType];
    if (end > bytes.length) {
      throw new Error(
        `${source}: storage "${key}" needs bytes ${start}..${end} but the file has ${bytes.length} (truncated?)`,
      );
    }
    storage.bytes = bytes.subarray(start, end);
    position = end;
  }
  return finish(main.value, pending, source);
}

function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === "ustar";
}

/** Parses a torch.save file held in memory. */
export function readPth(bytes: Uint8Array, source = "pth data"): unknown {
  if (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 &&
    bytes[3] === 0x04
  ) {
    return readZip(bytes, source);
  }
  if (isTar(bytes)) {
    throw new Error(
      `${source}: the tar checkpoint format of PyTorch < 0.4 is not supported; re-save it with a newer torch`,
    );
  }
  if (bytes.length < 2 || bytes[0] !== 0x80) {
    throw new Error(
      `${source}: not a PyTorch checkpoint (neither a zip archive nor a pickle stream)`,
    );
  }
  return readLegacy(bytes, source);
}

export async function loadPth(path: string): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
  return readPth(bytes, path);
}
