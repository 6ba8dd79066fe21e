/**
 * Named statements kept in a `.sql` file (SQL stays out of TypeScript): blocks start with a line
 * `-- name: some_name` and run to the next such line. Values are bound as `?` parameters.
 */

export class NamedSql {
  readonly #statements = new Map<string, string>();

  constructor(text: string, readonly file: string) {
    let name: string | undefined;
    let lines: string[] = [];
    const flush = () => {
      if (name === undefined) return;
      const sql = lines.join("\n").trim().replace(/;\s*$/, "");
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
    const sql = this.#statements.get(name);
    if (sql === undefined) throw new Error(`${this.file} has no statement named ${name}`);
    return sql;
  }

  names(): string[] {
    return [...this.#statements.keys()];
  }
}
