/**
 * Checks API answers against the server's own OpenAPI document (/api/v1/openapi.json), so a
 * field the code returns but the document does not describe (or the reverse) fails a test.
 * Covers the JSON-schema subset lib/web/api_schema.ts produces: type (one or a list), required,
 * properties (no others allowed), items, enum, integer, and local `$ref`s.
 */
import assert from "node:assert/strict";
import type { TestServer } from "./web_fixture.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Every way `value` departs from `schema`, as "path: problem" lines. */
export function schemaErrors(doc: Json, value: unknown, schema: Json, path = "$"): string[] {
  if (schema.$ref) {
    const target = (schema.$ref as string).replace(/^#\//, "").split("/")
      .reduce((s: Json, k: string) => s[k], doc);
    return schemaErrors(doc, value, target, path);
  }
  const out: string[] = [];
  if (schema.type !== undefined) {
    const allowed: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    const ok = allowed.includes(t) || (t === "integer" && allowed.includes("number"));
    if (!ok) return [`${path}: ${JSON.stringify(value)} is not ${allowed.join(" or ")}`];
  }
  if (schema.enum && !schema.enum.includes(value) && value !== null) {
    out.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(", ")}`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => out.push(...schemaErrors(doc, v, schema.items, `${path}[${i}]`)));
  }
  if (typeOf(value) === "object" && schema.properties) {
    for (const k of schema.required ?? []) {
      if (!(k in (value as object))) out.push(`${path}: missing ${k}`);
    }
    for (const [k, v] of Object.entries(value as object)) {
      const s = schema.properties[k];
      if (s === undefined) out.push(`${path}: ${k} is not in the OpenAPI document`);
      else out.push(...schemaErrors(doc, v, s, `${path}.${k}`));
    }
  }
  return out;
}

/** The 200 response schema the document gives for a request path (query string ignored). */
export function responseSchema(doc: Json, requestPath: string): Json {
  const path = new URL(requestPath, "http://x").pathname;
  for (const [template, item] of Object.entries(doc.paths as Record<string, Json>)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    if (re.test(path)) return item.get.responses["200"].content["application/json"].schema;
  }
  throw new Error(`${path} is not in the OpenAPI document`);
}

/** Fail unless `body`, the answer to `path`, is exactly what the server's document describes. */
export async function assertDocumented(srv: TestServer, path: string, body: unknown) {
  const doc = (await srv.get("/api/v1/openapi.json")).body;
  assert.deepEqual(schemaErrors(doc, body, responseSchema(doc, path)), [], path);
}
