/**
 * Named statements kept in a `.sql` file (SQL stays out of TypeScript): blocks start with a line
 * `-- name: some_name` and run to the next such line. Values are bound as `?` parameters.
 * `{{other_name}}` inside a block is replaced by the block `other_name` of this file or of one
 * of the `includes` (shared CTEs, e.g. lib/web/live_daily.sql).
 */

export class NamedSql {
  readonly #statements = new Map<string, string>();

  readonly #includes: readonly NamedSql[];

  constructor(text: string, readonly file: string, opts: { includes?: NamedSql[] } = {}) {
    this.#includes = opts.includes ?? [];
    let name: string | undefined;
    let lines: string[] = [];
    const flush = () => {
      if (name === undefined) return;
      // Full-line comments document the file; they are not sent (nor expanded).
      const sql = lines.filter((l) => !l.trim().startsWith("--")).join("\n").trim()
        .replace(/;\s*$/, "");
      if (sql === "") throw new Error(`${file}: statement ${name} is empty`);
      if (this.#statements.has(name)) throw new Error(`${file}: statement ${name} defined twice`);
      this.#statements.set(name, sql);
    };
    for (const line of text.split("\n")) {
      const m = /^--\s*name:\s*([a-z0-9_]+)\s*$/.exec(line);
      if (m) {
        flush();
        name = m[1];
        lines = [];
      } else if (name !== undefined) {
        lines.push(line);
      }
    }
    flush();
  }

  /** The statement called `name`; throws when the file has none (a programming error). */
  get(name: string): string {
    const sql = this.#find(name);
    if (sql === undefined) throw new Error(`${this.file} has no statement named ${name}`);
    return sql.replace(/\{\{([a-z0-9_]+)\}\}/g, (_, inner: string) => this.get(inner));
  }

  #find(name: string): string | undefined {
    const own = this.#statements.get(name);
    if (own !== undefined) return own;
    for (const other of this.#includes) {
      if (other.names().includes(name)) return other.get(name);
    }
    return undefined;
  }

  names(): string[] {
    return [...this.#statements.keys()];
  }
}
