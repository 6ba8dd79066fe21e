/**
 * A small real SMTP server for tests (node:net, no install): accepts EHLO/HELO, AUTH PLAIN,
 * MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT on an ephemeral port and keeps every message and
 * the whole transcript. With `user`/`password` set, AUTH is required and checked (535 on a
 * mismatch). Start it per test and `close()` it at the end.
 */
import { createServer, type Socket } from "node:net";

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The message as sent (headers and body, dot-stuffing undone, CRLF line ends). */
  data: string;
  auth?: { user: string; password: string };
}

export interface SmtpServer {
  port: number;
  url(user?: string, password?: string): string;
  messages: ReceivedMail[];
  /** Every line received from clients, in order. */
  transcript: string[];
  close(): Promise<void>;
}

export async function startSmtpServer(
  opts: {
    user?: string;
    password?: string;
    host?: string;
    /** Quote the refused AUTH line in the 535 reply, as some servers do. */
    quoteAuth?: boolean;
  } = {},
): Promise<SmtpServer> {
  const host = opts.host ?? "127.0.0.1"; // where it listens and what its url() names
  const messages: ReceivedMail[] = [];
  const transcript: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf = "";
    let inData = false;
    let dataLines: string[] = [];
    let mail: Partial<ReceivedMail> = { to: [] };
    let auth: ReceivedMail["auth"];
    const say = (line: string) => socket.write(line + "\r\n");
    say("220 test-smtp ready");
    socket.on("data", (chunk: Uint8Array) => {
      buf += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        transcript.push(line);
        if (inData) {
          if (line === ".") {
            inData = false;
            messages.push({
              from: mail.from ?? "",
              to: mail.to ?? [],
              data: dataLines.join("\r\n"),
              auth,
            });
            mail = { to: [] };
            dataLines = [];
            say("250 queued");
          } else dataLines.push(line.startsWith("..") ? line.slice(1) : line);
          continue;
        }
        const [verb, ...rest] = line.split(" ");
        const arg = rest.join(" ");
        switch (verb.toUpperCase()) {
          case "EHLO":
            socket.write("250-test-smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
            break;
          case "HELO":
            say("250 test-smtp");
            break;
          case "AUTH": {
            const [mech, b64] = arg.split(" ");
            const parts = mech === "PLAIN" && b64
              ? new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))
                .split("\0")
              : [];
            if (parts.length === 3 && parts[1] === opts.user && parts[2] === opts.password) {
              auth = { user: parts[1], password: parts[2] };
              say("235 2.7.0 authenticated");
            } else say(`535 5.7.8 authentication failed${opts.quoteAuth ? `: ${line}` : ""}`);
            break;
          }
          case "MAIL":
            if (opts.user && !auth) {
              say("530 5.7.0 authentication required");
              break;
            }
            mail.from = /<(.*)>/.exec(arg)?.[1] ?? "";
            say("250 ok");
            break;
          case "RCPT":
            mail.to!.push(/<(.*)>/.exec(arg)?.[1] ?? "");
            say("250 ok");
            break;
          case "DATA":
            inData = true;
            say("354 end with <CRLF>.<CRLF>");
            break;
          case "RSET":
            mail = { to: [] };
            say("250 ok");
            break;
          case "NOOP":
            say("250 ok");
            break;
          case "QUIT":
            say("221 bye");
            socket.end();
            break;
          default:
            say("502 command not implemented");
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (user, password) =>
      user
        ? `smtp://${encodeURIComponent(user)}:${encodeURIComponent(password ?? "")}@${host}:${port}`
        : `smtp://${host}:${port}`,
    messages,
    transcript,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
