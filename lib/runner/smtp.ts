/**
 * A minimal SMTP client (RFC 5321) for failure alerts: no dependency, enough for a relay or a
 * provider's submission port.
 *
 *   smtp://[user:password@]host[:port]   plain TCP (default port 25), upgraded with STARTTLS when
 *                                        the server offers it; AUTH PLAIN when credentials are given
 *   smtps://[user:password@]host[:port]  TLS from the start (default port 465)
 *
 * Errors never contain the password (the URL is never put into messages).
 */
import { redact } from "../config/config.ts";

export interface Mail {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

export class SmtpError extends Error {
  override name = "SmtpError";
}

class Lines {
  #buf = "";
  #dec = new TextDecoder();
  constructor(private conn: Deno.Conn) {}
  /** One full reply: code and text (multi-line replies joined). */
  async reply(): Promise<{ code: number; text: string }> {
    const lines: string[] = [];
    while (true) {
      const nl = this.#buf.indexOf("\r\n");
      if (nl < 0) {
        const chunk = new Uint8Array(4096);
        const n = await this.conn.read(chunk);
        if (n === null) throw new SmtpError("server closed the connection");
        this.#buf += this.#dec.decode(chunk.subarray(0, n), { stream: true });
        continue;
      }
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 2);
      lines.push(line);
      if (!/^\d{3}-/.test(line)) break;
    }
    const last = lines.at(-1)!;
    const code = Number(last.slice(0, 3));
    // Masked before it is cut: a cut through a secret would leave the rest of it readable.
    if (!Number.isInteger(code)) {
      throw new SmtpError(`malformed reply: ${redact(last).slice(0, 80)}`);
    }
    return { code, text: lines.map((l) => l.slice(4)).join("\n") };
  }
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

/**
 * Quoted-printable (RFC 2045): every line at most 76 characters, whatever the text's own lines
 * (SMTP refuses lines over 998 octets, and a summary's one-line `text` grows with its failures).
 */
export function quotedPrintable(text: string): string {
  const enc = new TextEncoder();
  return text.split(/\r?\n/).map((line) => {
    const bytes = enc.encode(line);
    const out: string[] = [];
    let cur = "";
    bytes.forEach((b, i) => {
      // Printable ASCII but "=", and space or tab except at the end of the line, stay as they are.
      const plain = (b >= 33 && b <= 126 && b !== 61) ||
        ((b === 32 || b === 9) && i < bytes.length - 1);
      const t = plain
        ? String.fromCharCode(b)
        : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
      if (cur.length + t.length > 75) {
        out.push(`${cur}=`); // a soft line break
        cur = "";
      }
      cur += t;
    });
    out.push(cur);
    return out.join("\r\n");
  }).join("\r\n");
}

function message(mail: Mail, hostname: string): string {
  const date = new Date().toUTCString().replace("GMT", "+0000");
  const id = `${crypto.randomUUID()}@${hostname}`;
  const body = quotedPrintable(mail.text).replace(/^\./gm, "..");
  const subject = /^[\x20-\x7e]*$/.test(mail.subject)
    ? mail.subject
    : `=?UTF-8?B?${b64(mail.subject)}?=`;
  return [
    `From: ${mail.from}`,
    `To: ${mail.to.join(", ")}`,
    `Subject: ${subject}`,
    `Date: ${date}`,
    `Message-ID: <${id}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    body,
  ].join("\r\n");
}

/** Send one mail through the server in `url`. Rejects with SmtpError (or a network error). */
/**
 * Whether credentials may go to `host`: over TLS, or in plain text to this machine only (a
 * relay on localhost). Elsewhere anyone on the path could strip STARTTLS from the server's
 * answer and read the password.
 */
export function mayAuthenticate(host: string, secure: boolean): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return secure || h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export async function sendMail(
  url: string,
  mail: Mail,
  opts: { signal?: AbortSignal; hostname?: string } = {},
): Promise<void> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SmtpError("EGX_SMTP_URL is not a URL (smtp://user:password@host:port)");
  }
  if (u.protocol !== "smtp:" && u.protocol !== "smtps:") {
    throw new SmtpError(`EGX_SMTP_URL must start with smtp:// or smtps://, not ${u.protocol}//`);
  }
  const tls = u.protocol === "smtps:";
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port || (tls ? 465 : 25));
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  const me = opts.hostname ?? "localhost";

  let conn: Deno.Conn = await within(
    tls ? Deno.connectTls({ hostname: host, port }) : Deno.connect({ hostname: host, port }),
    opts.signal,
  );
  const onAbort = () => conn.close();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    let lines = new Lines(conn);
    const enc = new TextEncoder();
    const send = async (line: string) => {
      const data = enc.encode(line + "\r\n");
      let off = 0;
      while (off < data.length) off += await conn.write(data.subarray(off));
    };
    const expect = async (what: string, ok: number[]) => {
      const r = await lines.reply();
      if (!ok.includes(r.code)) {
        throw new SmtpError(`${what}: server answered ${r.code} ${r.text.split("\n")[0]}`);
      }
      return r;
    };
    await expect("greeting", [220]);
    await send(`EHLO ${me}`);
    let ehlo = await expect("EHLO", [250]);
    let secure = tls;
    if (!tls && /^STARTTLS\b/im.test(ehlo.text)) {
      await send("STARTTLS");
      await expect("STARTTLS", [220]);
      conn = await Deno.startTls(conn as Deno.TcpConn, { hostname: host });
      lines = new Lines(conn);
      await send(`EHLO ${me}`);
      ehlo = await expect("EHLO", [250]);
      secure = true;
    }
    if (user && !mayAuthenticate(host, secure)) {
      throw new SmtpError(
        `${host} offered no STARTTLS: the password is not sent unencrypted to another host ` +
          "(use smtps://, or a server that offers STARTTLS)",
      );
    }
    if (user) {
      await send(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`);
      await expect("AUTH", [235]);
    }
    await send(`MAIL FROM:<${mail.from}>`);
    await expect("MAIL FROM", [250]);
    for (const to of mail.to) {
      await send(`RCPT TO:<${to}>`);
      await expect(`RCPT TO ${to}`, [250, 251]);
    }
    await send("DATA");
    await expect("DATA", [354]);
    await send(`${message(mail, me)}\r\n.`);
    await expect("message", [250]);
    await send("QUIT");
    await lines.reply().catch(() => undefined);
  } catch (e) {
    if (opts.signal?.aborted) throw aborted(opts.signal);
    throw e;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** "timed out" for a timeout signal, "stopped" for any other abort (the runner's stop). */
function aborted(signal: AbortSignal): SmtpError {
  const timeout = signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
  return new SmtpError(timeout ? "timed out" : "stopped", { cause: signal.reason });
}

/**
 * The connection, or an SmtpError once `signal` aborts: a connect to a host that drops the SYN
 * waits minutes for the OS, and Deno's connect takes no signal. A connection made after that is
 * closed.
 */
function within(connecting: Promise<Deno.Conn>, signal?: AbortSignal): Promise<Deno.Conn> {
  if (!signal) return connecting;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(aborted(signal));
      connecting.then((c) => c.close(), () => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    connecting.then(
      (c) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) c.close();
        else resolve(c);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
