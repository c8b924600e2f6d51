/** Byte helpers: bounds-checked reading (a read past the end answers undefined), UTF-8, concatenation. */
import { z } from 'zod';

/** Any Uint8Array (Buffer included), typed loosely enough for Node's Buffers. */
export const bytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected bytes');

/** Bounds-checked reading. */
export class Reader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get offset(): number {
    return this.at;
  }
  get rest(): number {
    return this.bytes.length - this.at;
  }
  byte(): number | undefined {
    return this.at < this.bytes.length ? this.bytes[this.at++] : undefined;
  }
  uint16(): number | undefined {
    if (this.rest < 2) return undefined;
    const value = (this.bytes[this.at]! << 8) | this.bytes[this.at + 1]!;
    this.at += 2;
    return value;
  }
  uint32(): number | undefined {
    if (this.rest < 4) return undefined;
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 4);
    this.at += 4;
    return view.getUint32(0);
  }
  /** A copy (never a view of the input), so that values parsed out own their bytes. */
  take(length: number): Uint8Array | undefined {
    if (length > this.rest) return undefined;
    this.at += length;
    return this.bytes.slice(this.at - length, this.at);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 (no replacement characters, the BOM kept), or undefined. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

export const uint16 = (value: number): Uint8Array => Uint8Array.of(value >> 8, value & 0xff);

export function uint32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value);
  return bytes;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}
