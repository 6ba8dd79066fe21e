/**
 * The OpenAPI 3.1 document served at /api/v1/openapi.json, generated from the endpoint table
 * (the same parameter descriptions the server validates with).
 */
import type { Endpoint, Schema } from "./endpoint.ts";

const ERROR: Schema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["status", "message"],
      properties: { status: { type: "integer" }, message: { type: "string" } },
    },
  },
};

const PAGE: Schema = {
  type: "object",
  required: ["limit", "offset", "total", "next"],
  properties: {
    limit: { type: "integer" },
    offset: { type: "integer" },
    total: { type: "integer", description: "rows in the whole result" },
    next: { type: ["string", "null"], description: "URL of the next page; null on the last" },
  },
};

/** Headers of an answer cached by data version (every data endpoint). */
const DATA_HEADERS = {
  "X-Data-Version": {
    description: "The data version (as /api/v1/version gives it) this answer was computed at",
    schema: { type: "string" },
  },
  "X-Data-Stale": {
    description: 'Present ("true") when the warehouse was busy and this is the last answer ' +
      "computed before, at the older X-Data-Version: ask again to get the current data",
    schema: { type: "string", enum: ["true"] },
  },
};

function errorResponse(description: string) {
  return {
    description,
    content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
  };
}

/** Convert a Hono path (`/x/:ticker`) to an OpenAPI path (`/x/{ticker}`). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, "{$1}");
}

export function openApiDocument(endpoints: readonly Endpoint[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {
    "/api/v1/openapi.json": {
      get: {
        operationId: "openapi",
        summary: "This document",
        tags: ["meta"],
        responses: {
          "200": { description: "OpenAPI 3.1 document" },
          "400": errorResponse("A query parameter (none are allowed) or a malformed %-escape"),
          "401": errorResponse("Missing or wrong bearer token (only when a token is configured)"),
        },
      },
    },
  };
  for (const ep of endpoints) {
    const envelope: Schema = {
      type: "object",
      required: ep.paginated ? ["data", "page"] : ["data"],
      properties: {
        data: ep.data,
        ...(ep.paginated ? { page: { $ref: "#/components/schemas/Page" } } : {}),
      },
    };
    const ok: Record<string, unknown> = {
      description: "OK",
      content: { "application/json": { schema: envelope } },
    };
    if (ep.cached) ok.headers = DATA_HEADERS;
    const responses: Record<string, unknown> = {
      "200": ok,
      "400": errorResponse(
        "Invalid input (a bad or unknown parameter, a malformed %-escape); the message names " +
          "the parameter",
      ),
      "401": errorResponse("Missing or wrong bearer token (only when a token is configured)"),
      "503": errorResponse(
        "The warehouse is busy and no earlier answer is kept; retry after the Retry-After seconds",
      ),
    };
    if (ep.notFound) responses["404"] = errorResponse("Unknown ticker, index or date");
    paths[openApiPath(ep.path)] = {
      get: {
        operationId: ep.id,
        summary: ep.summary,
        ...(ep.description ? { description: ep.description } : {}),
        tags: [ep.tag],
        parameters: ep.params.map((p) => ({
          name: p.name,
          in: p.in,
          required: p.in === "path" ? true : p.required ?? false,
          description: p.description,
          schema: p.schema,
        })),
        responses,
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "egx-pipeline API",
      version: "1.0.0",
      description:
        "Read-only market data for the Egyptian Exchange (EGX) from the egx-pipeline warehouse. " +
        "Dates are Cairo trade dates (YYYY-MM-DD); instants are UTC ISO strings; prices in EGP.",
    },
    servers: [{ url: "/" }],
    security: [{}, { bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { Error: ERROR, Page: PAGE },
    },
    paths,
  };
}
