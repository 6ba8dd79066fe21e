/**
 * What one REST endpoint is: its path, parameters (validated and documented from the same
 * description, so the OpenAPI document cannot drift from the code), response item schema and
 * handler. The server registers every endpoint from `api_routes.ts`; `openapi.ts` documents them.
 */
import type { Config } from "../config/config.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { DataVersion } from "./data_version.ts";
import type { Query } from "./validate.ts";

/** A JSON-schema fragment (the subset OpenAPI 3.1 uses here). */
export type Schema = Record<string, unknown>;

export interface Param {
  name: string;
  in: "path" | "query";
  description: string;
  schema: Schema;
  required?: boolean;
}

export interface PageInfo {
  limit: number;
  offset: number;
  /** Rows in the whole result (all pages). */
  total: number;
  /** Relative URL of the next page, or null on the last page. */
  next: string | null;
}

export interface ApiBody {
  data: unknown;
  page?: PageInfo;
}

/** Facts from outside the warehouse that pipeline health shows. */
export interface HealthSources {
  /**
   * The log end (next offset to be written) of each partition of `topic`, from the Kafka broker.
   * Lag = log end - the consumer's position recorded in the warehouse.
   */
  logEnds?(topic: string): Promise<Map<number, number>>;
  /**
   * The records each partition of `topic` holds now (log end - log start), from the Kafka
   * broker: the dead letters still in the dead-letter topic.
   */
  recordCounts?(topic: string): Promise<Map<number, number>>;
}

export interface ApiDeps {
  warehouse: Warehouse;
  config: Config;
  health: HealthSources;
  /** The cheap "has anything changed" check the cache and live pages use. */
  version: DataVersion;
  /**
   * "Now" for freshness and default dates, asked per request: the pinned as-of (EGX_AS_OF, the
   * sample's end) or the real clock, so a server running for days does not judge at its start.
   */
  asOf(): Date;
  /** The real clock (status files and loads are aged by it); tests may fix it. */
  now?(): Date;
}

export interface ApiRequest {
  url: URL;
  params: Record<string, string>;
  query: Query;
  deps: ApiDeps;
}

export interface Endpoint {
  /** OpenAPI operationId and cache key prefix. */
  id: string;
  /** Hono path, e.g. `/api/v1/prices/:ticker/daily`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  params: Param[];
  /** Schema of `data` in the response envelope. */
  data: Schema;
  paginated?: boolean;
  /** Responses may 404 (unknown ticker, index...). */
  notFound?: boolean;
  /** Results depend only on warehouse contents and the request: cache by data version. */
  cached: boolean;
  /** Cached, but computed again after this many ms (answers that also follow the clock or Kafka). */
  maxAgeMs?: number;
  /** Cached, but computed again when this changes (e.g. a default taken from the as-of date). */
  varies?(deps: ApiDeps): string;
  handle(req: ApiRequest): Promise<ApiBody>;
}

/** The `page` block for rows `page.offset..` of `total`, with the next page's URL. */
export function pageInfo(
  url: URL,
  page: { limit: number; offset: number },
  returned: number,
  total: number,
): PageInfo {
  const end = page.offset + returned;
  let next: string | null = null;
  if (end < total && returned > 0) {
    const u = new URL(url);
    u.searchParams.set("offset", String(end));
    u.searchParams.set("limit", String(page.limit));
    next = `${u.pathname}${u.search}`;
  }
  return { limit: page.limit, offset: page.offset, total, next };
}
