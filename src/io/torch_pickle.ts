/**
 * torch-specific pickle globals: storage types, tensor/parameter rebuild functions and a few
 * harmless constants. Rebuilt tensors are placeholders until their storage bytes are known
 * (the legacy format stores them after the pickle), see materializeTensors().
 */
import {
  decodeFileData,
  FILE_DTYPE_SIZES,
  FILE_TO_RAW_DTYPE,
  type FileDType,
} from "./file_dtype.ts";
import { BASE_GLOBALS, defineGlobals, type GlobalTable, PyGlobal } from "./pickle.ts";
import type { RawTensor } from "./raw_tensor.ts";

export const STORAGE_DTYPES: Readonly<Record<string, FileDType>> = {
  "torch.FloatStorage": "F32",
  "torch.DoubleStorage": "F64",
  "torch.HalfStorage": "F16",
  "torch.BFloat16Storage": "BF16",
  "torch.LongStorage": "I64",
  "torch.IntStorage": "I32",
  "torch.ShortStorage": "I16",
  "torch.CharStorage": "I8",
  "torch.ByteStorage": "U8",
  "torch.BoolStorage": "BOOL",
  "torch.UntypedStorage": "U8",
  "torch.storage.UntypedStorage": "U8",
};

/** A torch storage; `bytes` may arrive after the pickle (legacy format). */
export interface TorchStorage {
  key: string;
  fileDType: FileDType;
  numel: number;
  bytes?: Uint8Array;
  /** Set for legacy storage views: this storage is `numel` elements of `view.root`. */
  view?: { root: TorchStorage; elementOffset: number };
}

export interface PendingTensor {
  tensor: RawTensor;
  storage: TorchStorage;
  storageOffset: number;
  stride: number[];
}

export function storageDTypeOf(storageType: unknown): FileDType {
  const name = storageType instanceof PyGlobal ? storageType.qualifiedName : String(storageType);
  const dtype = STORAGE_DTYPES[name];
  if (!dtype) throw new Error(`unsupported storage type ${name}`);
  return dtype;
}

function integerList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what} must be a tuple of non-negative ints`);
  }
  return value as number[];
}

function rebuildTensor(pending: PendingTensor[], args: unknown[]): RawTensor {
  const [storage, storageOffset, size, stride] = args;
  if (typeof storage !== "object" || storage === null || !("fileDType" in storage)) {
    throw new Error("first argument is not a storage");
  }
  if (!Number.isSafeInteger(storageOffset) || (storageOffset as number) < 0) {
    throw new Error(`invalid storage offset ${String(storageOffset)}`);
  }
  const shape = integerList(size, "size");
  const strides = integerList(stride, "stride");
  if (strides.length !== shape.length) {
    throw new Error(`size [${shape}] and stride [${strides}] have different lengths`);
  }
  const torchStorage = storage as TorchStorage;
  const tensor: RawTensor = {
    dtype: FILE_TO_RAW_DTYPE[torchStorage.fileDType],
    shape: [...shape],
    data: new Uint8Array(0),
  };
  pending.push({
    tensor,
    storage: torchStorage,
    storageOffset: storageOffset as number,
    stride: strides,
  });
  return tensor;
}

function rebuildFromType(args: unknown[]): unknown {
  const [func, , funcArgs] = args;
  if (!(func instanceof PyGlobal) || !func.behaviour.call || !Array.isArray(funcArgs)) {
    throw new Error("_rebuild_from_type_v2 expects an allowed rebuild function and its arguments");
  }
  return func.behaviour.call(funcArgs);
}

const TORCH_DTYPE_NAMES = [
  "float32",
  "float64",
  "float16",
  "bfloat16",
  "int64",
  "int32",
  "int16",
  "int8",
  "uint8",
  "bool",
];

/** Allow-list for torch.save pickles; rebuilt tensors are appended to `pending`. */
export function createTorchGlobals(pending: PendingTensor[]): GlobalTable {
  const tensorRebuild = { call: (args: unknown[]) => rebuildTensor(pending, args) };
  const passFirst = { call: (args: unknown[]) => args[0] };
  const torchGlobals = defineGlobals({
    "torch._utils._rebuild_tensor": tensorRebuild,
    "torch._utils._rebuild_tensor_v2": tensorRebuild,
    "torch._utils._rebuild_parameter": passFirst,
    "torch._utils._rebuild_parameter_with_state": passFirst,
    "torch._tensor._rebuild_from_type_v2": { call: rebuildFromType },
    "torch.Tensor": {},
    "torch.nn.parameter.Parameter": {},
    "torch.Size": { call: (args) => [...integerList(args[0] ?? [], "torch.Size")] },
    "torch.device": { call: (args) => args.filter((a) => a !== null).join(":") },
    ...Object.fromEntries(Object.keys(STORAGE_DTYPES).map((name) => [name, {}])),
    ...Object.fromEntries(TORCH_DTYPE_NAMES.map((name) => [`torch.${name}`, { value: name }])),
  });
  return new Map([...BASE_GLOBALS, ...torchGlobals]);
}

function resolveStorage(storage: TorchStorage): { bytes: Uint8Array; elementOffset: number } {
  let elementOffset = 0;
  let current = storage;
  while (current.view) {
    elementOffset += current.view.elementOffset;
    current = current.view.root;
  }
  if (!current.bytes) throw new Error(`storage "${current.key}" has no data`);
  return { bytes: current.bytes, elementOffset };
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Copies the strided view's elements (raw bytes) into a row-major buffer. */
function gatherBytes(
  source: Uint8Array,
  elementSize: number,
  firstElement: number,
  shape: number[],
  stride: number[],
  numel: number,
): Uint8Array {
  if (isContiguous(shape, stride)) {
    return source.subarray(firstElement * elementSize, (firstElement + numel) * elementSize);
  }
  const out = new Uint8Array(numel * elementSize);
  const index = new Array(shape.length).fill(0);
  let element = firstElement;
  for (let i = 0, o = 0; i < numel; i++) {
    for (let b = element * elementSize, e = b + elementSize; b < e; b++) out[o++] = source[b];
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]++;
      element += stride[d];
      if (index[d] < shape[d]) break;
      element -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Fills each pending tensor's data (contiguous copy); `names` labels tensors in errors. */
export function materializeTensors(
  pending: PendingTensor[],
  names: Map<RawTensor, string>,
  source: string,
): void {
  for (const { tensor, storage, storageOffset, stride } of pending) {
    const what = `${source}: tensor "${names.get(tensor) ?? `<storage ${storage.key}>`}"`;
    const elementSize = FILE_DTYPE_SIZES[storage.fileDType];
    const numel = tensor.shape.reduce((a, b) => a * b, 1);
    const { bytes, elementOffset } = resolveStorage(storage);
    if (numel > 0) {
      const last = storageOffset + tensor.shape.reduce((sum, d, i) => sum + (d - 1) * stride[i], 0);
      if (last >= storage.numel) {
        throw new Error(
          `${what}: view (offset ${storageOffset}, size [${tensor.shape}], stride [${stride}]) ` +
            `exceeds its storage "${storage.key}" of ${storage.numel} elements`,
        );
      }
    }
    const gathered = numel === 0 ? new Uint8Array(0) : gatherBytes(
      bytes,
      elementSize,
      elementOffset + storageOffset,
      tensor.shape,
      stride,
      numel,
    );
    tensor.data = decodeFileData(gathered, storage.fileDType, what).data;
  }
}
