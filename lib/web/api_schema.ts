/**
 * Building blocks for the endpoint table's documentation: small JSON-schema helpers and the
 * parameters many endpoints share.
 */
import type { Param, Schema } from "./endpoint.ts";
import { MAX_LIMIT, MAX_OFFSET } from "./validate.ts";

export const str = (description?: string, extra: Schema = {}): Schema => ({
  type: "string",
  ...(description ? { description } : {}),
  ...extra,
});
export const num = (description?: string): Schema => ({
  type: "number",
  ...(description ? { description } : {}),
});
export const int = (description?: string): Schema => ({
  type: "integer",
  ...(description ? { description } : {}),
});
export const nullable = (s: Schema): Schema => ({ ...s, type: [s.type as string, "null"] });
export const obj = (properties: Record<string, Schema>): Schema => ({
  type: "object",
  required: Object.keys(properties),
  properties,
});
export const list = (items: Schema): Schema => ({ type: "array", items });

export const DATE_SCHEMA: Schema = { type: "string", format: "date", example: "2025-12-08" };

export const PARAMS = {
  from: {
    name: "from",
    in: "query",
    description: "First Cairo trade date, YYYY-MM-DD (inclusive)",
    schema: DATE_SCHEMA,
  },
  to: {
    name: "to",
    in: "query",
    description: "Last Cairo trade date, YYYY-MM-DD (inclusive)",
    schema: DATE_SCHEMA,
  },
  date: {
    name: "date",
    in: "query",
    description: "Cairo trade date YYYY-MM-DD (default: the latest with data)",
    schema: DATE_SCHEMA,
  },
  limit: {
    name: "limit",
    in: "query",
    description: `Rows per page, 1-${MAX_LIMIT}`,
    schema: { type: "integer", minimum: 1, maximum: MAX_LIMIT },
  },
  offset: {
    name: "offset",
    in: "query",
    description: "Rows to skip (use page.next)",
    schema: { type: "integer", minimum: 0, maximum: MAX_OFFSET },
  },
  ticker: {
    name: "ticker",
    in: "path",
    description: "EGX ticker, e.g. COMI (case-insensitive; a trailing .CA, Yahoo's and " +
      "Investing.com's Cairo suffix, is dropped: ACTF.CA is ACTF)",
    schema: { type: "string", pattern: "^[A-Za-z][A-Za-z0-9]{1,9}([.][Cc][Aa])?$" },
  },
} satisfies Record<string, Param>;
