/**
 * Conversions between DuckDB values and the warehouse value mapping of warehouse.ts:
 * results (DATE -> "YYYY-MM-DD", TIMESTAMP -> ISO "...Z", integers -> number unless beyond 2^53),
 * bound parameters (a JS Date binds as a UTC TIMESTAMP) and Appender input per column type.
 */
import {
  type DuckDBAppender,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  timestampValue,
} from "@duckdb/node-api";
import type { SqlValue } from "./warehouse.ts";

const MS_PER_DAY = 86_400_000;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function isoFromMicros(micros: bigint): string {
  return new Date(Number(micros / 1000n)).toISOString();
}

function safeInt(v: bigint): number | bigint {
  return v <= SAFE && v >= -SAFE ? Number(v) : v;
}

/** One result value in the warehouse mapping. */
export function fromDuckDB(value: DuckDBValue, type: DuckDBType): SqlValue {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return value as boolean;
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return value as number;
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return safeInt(value as bigint);
    case DuckDBTypeId.DECIMAL:
      return (value as DuckDBDecimalValue).toDouble();
    case DuckDBTypeId.DATE:
      return (value as DuckDBDateValue).toString();
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return isoFromMicros((value as DuckDBTimestampValue | DuckDBTimestampTZValue).micros);
    case DuckDBTypeId.TIMESTAMP_S:
      return isoFromMicros((value as DuckDBTimestampSecondsValue).seconds * 1_000_000n);
    case DuckDBTypeId.TIMESTAMP_MS:
      return isoFromMicros((value as DuckDBTimestampMillisecondsValue).millis * 1000n);
    case DuckDBTypeId.TIMESTAMP_NS:
      return isoFromMicros((value as DuckDBTimestampNanosecondsValue).nanos / 1000n);
    case DuckDBTypeId.VARCHAR:
      return value as string;
    default:
      // TIME, INTERVAL, UUID, ENUM, nested types...: their SQL text form.
      return String(value);
  }
}

/** A parameter for `conn.run`: Dates become UTC TIMESTAMP values, the rest binds as is. */
export function toParam(v: SqlValue): DuckDBValue {
  if (v instanceof Date) return timestampValue(BigInt(v.getTime()) * 1000n);
  return v;
}

function daysOf(v: SqlValue, column: string): number {
  if (v instanceof Date) return Math.floor(v.getTime() / MS_PER_DAY);
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const t = Date.parse(`${v}T00:00:00Z`);
    if (!Number.isNaN(t)) return t / MS_PER_DAY;
  }
  throw new TypeError(`column ${column}: expected a DATE ("YYYY-MM-DD"), got ${String(v)}`);
}

function microsOf(v: SqlValue, column: string): bigint {
  if (v instanceof Date) return BigInt(v.getTime()) * 1000n;
  if (typeof v === "string") {
    // Naive strings are UTC (the warehouse convention), explicit offsets are honoured.
    const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(v) ? v : `${v.replace(" ", "T")}Z`;
    const t = Date.parse(iso);
    if (!Number.isNaN(t)) return BigInt(t) * 1000n;
  }
  throw new TypeError(`column ${column}: expected a TIMESTAMP (Date or ISO string), got ${v}`);
}

function numberOf(v: SqlValue, column: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new TypeError(`column ${column}: expected a number, got ${typeof v} ${String(v)}`);
}

function bigintOf(v: SqlValue, column: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  throw new TypeError(`column ${column}: expected an integer, got ${String(v)}`);
}

export type AppendFn = (a: DuckDBAppender, v: SqlValue) => void;

/** How to append a JS value to a column of this type (strict: wrong types throw TypeError). */
export function appendFnFor(type: DuckDBType, column: string): AppendFn {
  const guard = (f: AppendFn): AppendFn => (a, v) => v === null ? a.appendNull() : f(a, v);
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return guard((a, v) => {
        if (typeof v !== "boolean") throw new TypeError(`column ${column}: expected a boolean`);
        a.appendBoolean(v);
      });
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
      return guard((a, v) => a.appendInteger(numberOf(v, column)));
    case DuckDBTypeId.BIGINT:
      return guard((a, v) => a.appendBigInt(bigintOf(v, column)));
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return guard((a, v) => a.appendDouble(numberOf(v, column)));
    case DuckDBTypeId.DATE:
      return guard((a, v) => a.appendDate(new DuckDBDateValue(daysOf(v, column))));
    case DuckDBTypeId.TIMESTAMP:
      return guard((a, v) => a.appendTimestamp(new DuckDBTimestampValue(microsOf(v, column))));
    case DuckDBTypeId.VARCHAR:
      return guard((a, v) => a.appendVarchar(typeof v === "string" ? v : String(v)));
    default:
      return guard((a, v) => a.appendValue(toParam(v), type));
  }
}
