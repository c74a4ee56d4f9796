/** Bounds-checked little-endian cursor over pickle bytes. */
export class PickleReader {
  position: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
    private readonly source: string,
  ) {
    this.position = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  error(message: string, at = this.position): Error {
    return new Error(`pickle: ${message} (offset ${at} of ${this.source})`);
  }

  private take(n: number): number {
    if (n < 0 || this.position + n > this.bytes.length) {
      throw this.error(`unexpected end of data: needed ${n} more bytes (truncated file?)`);
    }
    const at = this.position;
    this.position += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.take(1)];
  }
  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }
  i32(): number {
    return this.view.getInt32(this.take(4), true);
  }
  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }
  f64BigEndian(): number {
    return this.view.getFloat64(this.take(8), false);
  }
  u64(): number {
    const value = this.view.getBigUint64(this.take(8), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error(`length ${value} is too large`);
    return Number(value);
  }

  bytesOf(n: number): Uint8Array {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }

  utf8(n: number): string {
    const at = this.take(n);
    return new TextDecoder().decode(this.bytes.subarray(at, at + n));
  }

  latin1(n: number): string {
    const at = this.take(n);
    let text = "";
    for (let i = at; i < at + n; i++) text += String.fromCharCode(this.bytes[i]);
    return text;
  }

  /** A newline-terminated text argument (protocol 0 opcodes, GLOBAL). */
  line(encoding: "utf8" | "latin1" = "utf8"): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) throw this.error("unexpected end of data: missing newline (truncated file?)");
    const length = end - this.position;
    const text = encoding === "latin1" ? this.latin1(length) : this.utf8(length);
    this.position = end + 1;
    return text;
  }

  /** Little-endian two's-complement integer of `n` bytes (LONG1 / LONG4). */
  signedInteger(n: number): number | bigint {
    const at = this.take(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[at + i]);
    if (n > 0 && this.bytes[at + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return narrowInteger(value);
  }
}

/** Python ints become numbers when exactly representable, bigints otherwise. */
export function narrowInteger(value: bigint): number | bigint {
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  return value >= -limit && value <= limit ? Number(value) : value;
}
