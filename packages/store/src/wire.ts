/**
 * The PostgreSQL wire format (protocol 3.0) for PGlite's raw entry point: frontend messages of the extended query
 * protocol written into one buffer, and the backend's reply to such a buffer read into rows, command tag, error
 * and transaction status.
 */
import { messages } from '@electric-sql/pglite';

/** A parameter as sent: text, binary (bytea, as node-postgres sends Buffers) or NULL. */
export type WireValue = string | Buffer | null;

type Parser = (value: string, typeId: number) => unknown;

/** Frontend messages appended to one growing buffer (one writer per buffer sent). */
export class MessageWriter {
  #buf = Buffer.allocUnsafe(512);
  #len = 0;

  /** Parse: prepares `sql` as statement `name`, parameter types left to the server (OID 0, as node-postgres). */
  parse(name: string, sql: string): void {
    const start = this.#begin(0x50, 2 + Buffer.byteLength(name) + Buffer.byteLength(sql) + 2);
    this.#cstring(name);
    this.#cstring(sql);
    this.#int16(0);
    this.#end(start);
  }

  /** Bind of statement `name` to the unnamed portal; results in text format. */
  bind(name: string, values: readonly WireValue[]): void {
    const binary = values.some((v) => Buffer.isBuffer(v));
    let size = Buffer.byteLength(name) + 1 + 1 + 2 + (binary ? 2 * values.length : 0) + 2 + 2;
    for (const v of values)
      size += 4 + (v === null ? 0 : Buffer.isBuffer(v) ? v.length : Buffer.byteLength(v));
    const start = this.#begin(0x42, size);
    this.#cstring('');
    this.#cstring(name);
    if (binary) {
      this.#int16(values.length);
      for (const v of values) this.#int16(Buffer.isBuffer(v) ? 1 : 0);
    } else {
      this.#int16(0);
    }
    this.#int16(values.length);
    for (const v of values) {
      if (v === null) {
        this.#int32(-1);
      } else if (Buffer.isBuffer(v)) {
        this.#int32(v.length);
        v.copy(this.#buf, this.#len);
        this.#len += v.length;
      } else {
        const at = this.#len;
        this.#len += 4;
        const n = this.#buf.write(v, this.#len, 'utf8');
        this.#buf.writeInt32BE(n, at);
        this.#len += n;
      }
    }
    this.#int16(0);
    this.#end(start);
  }

  /** Describe of the unnamed portal: its RowDescription (or NoData) comes before its rows. */
  describePortal(): void {
    const start = this.#begin(0x44, 2);
    this.#buf[this.#len++] = 0x50;
    this.#cstring('');
    this.#end(start);
  }

  /** Execute of the unnamed portal, all rows. */
  execute(): void {
    const start = this.#begin(0x45, 5);
    this.#cstring('');
    this.#int32(0);
    this.#end(start);
  }

  /** Close of prepared statement `name` (not an error when it does not exist). */
  close(name: string): void {
    const start = this.#begin(0x43, 2 + Buffer.byteLength(name));
    this.#buf[this.#len++] = 0x53;
    this.#cstring(name);
    this.#end(start);
  }

  /** Sync: ends the implicit transaction (commits it unless BEGIN opened a block) and asks for ReadyForQuery. */
  sync(): void {
    this.#end(this.#begin(0x53, 0));
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  /** Writes the type byte and room for the length; `size` (the body) need only be an upper bound. */
  #begin(type: number, size: number): number {
    const need = this.#len + 5 + size;
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(bigger, 0, 0, this.#len);
      this.#buf = bigger;
    }
    this.#buf[this.#len] = type;
    this.#len += 5;
    return this.#len - 4;
  }

  #end(lengthAt: number): void {
    this.#buf.writeInt32BE(this.#len - lengthAt, lengthAt);
  }

  #cstring(s: string): void {
    this.#len += this.#buf.write(s, this.#len, 'utf8');
    this.#buf[this.#len++] = 0;
  }

  #int16(n: number): void {
    this.#buf.writeInt16BE(n, this.#len);
    this.#len += 2;
  }

  #int32(n: number): void {
    this.#buf.writeInt32BE(n, this.#len);
    this.#len += 4;
  }
}

/** What the backend answered to one buffer ending in Sync. */
export interface Reply {
  /** ParseComplete messages: the first `parsed` Parse messages of the buffer created their statement. */
  parsed: number;
  /** Rows of the last Execute that completed, with its command tag ('' for an empty query). */
  rows: Record<string, unknown>[];
  tag: string;
  /** The first ErrorResponse, as the error PGlite's own query() throws; the backend skipped the rest. */
  error: messages.DatabaseError | undefined;
  /** Transaction status at the end: I idle, T in a transaction block, E in a failed one. */
  status: string;
}

interface Column {
  name: string;
  typeId: number;
  parse: Parser | undefined;
}

const ERROR_FIELDS: Record<string, keyof messages.DatabaseError> = {
  S: 'severity',
  C: 'code',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

/** Reads the reply to one buffer; text values are converted with `parsers` by type OID (PGlite's table). */
export function readReply(buf: Buffer, parsers: Record<number, Parser>): Reply {
  const reply: Reply = { parsed: 0, rows: [], tag: '', error: undefined, status: 'I' };
  let columns: Column[] | undefined;
  let rows: Record<string, unknown>[] = [];
  let pos = 0;
  while (pos + 5 <= buf.length) {
    const type = buf[pos];
    const length = buf.readInt32BE(pos + 1);
    const body = pos + 5;
    pos += 1 + length;
    switch (type) {
      case 0x31: // ParseComplete
        reply.parsed++;
        break;
      case 0x54: // RowDescription
        columns = readColumns(buf, body, parsers);
        rows = [];
        break;
      case 0x44: // DataRow (ignored for an Execute that was not described)
        if (columns !== undefined) rows.push(readRow(buf, body, columns));
        break;
      case 0x43: // CommandComplete
      case 0x49: // EmptyQueryResponse
        reply.tag = type === 0x43 ? buf.toString('utf8', body, pos - 1) : '';
        reply.rows = columns === undefined ? [] : rows;
        columns = undefined;
        rows = [];
        break;
      case 0x45: // ErrorResponse
        reply.error ??= readError(buf, body, pos, length);
        break;
      case 0x5a: // ReadyForQuery
        reply.status = String.fromCharCode(buf[body] ?? 0x49);
        break;
    }
  }
  return reply;
}

function readColumns(buf: Buffer, at: number, parsers: Record<number, Parser>): Column[] {
  const count = buf.readInt16BE(at);
  let pos = at + 2;
  const columns: Column[] = [];
  for (let i = 0; i < count; i++) {
    const nul = buf.indexOf(0, pos);
    const name = buf.toString('utf8', pos, nul);
    const typeId = buf.readInt32BE(nul + 7);
    columns.push({ name, typeId, parse: parsers[typeId] });
    pos = nul + 19;
  }
  return columns;
}

function readRow(buf: Buffer, at: number, columns: Column[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  let pos = at + 2;
  for (const column of columns) {
    const length = buf.readInt32BE(pos);
    pos += 4;
    if (length < 0) {
      row[column.name] = null;
      continue;
    }
    const text = buf.toString('utf8', pos, pos + length);
    pos += length;
    row[column.name] = column.parse === undefined ? text : column.parse(text, column.typeId);
  }
  return row;
}

function readError(buf: Buffer, at: number, end: number, length: number): messages.DatabaseError {
  const fields: Record<string, string> = {};
  let pos = at;
  while (pos < end && buf[pos] !== 0) {
    const nul = buf.indexOf(0, pos + 1);
    fields[String.fromCharCode(buf[pos] ?? 0)] = buf.toString('utf8', pos + 1, nul);
    pos = nul + 1;
  }
  const error = new messages.DatabaseError(fields['M'] ?? '', length, 'error');
  for (const [key, property] of Object.entries(ERROR_FIELDS)) {
    (error as unknown as Record<string, string | undefined>)[property] = fields[key];
  }
  return error;
}
