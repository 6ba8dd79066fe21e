import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type AlertSummary, alertSummary, sendAlerts } from "../lib/runner/alerts.ts";
import type { RunResult } from "../lib/runner/executor.ts";
import { mayAuthenticate, sendMail } from "../lib/runner/smtp.ts";
import { startSmtpServer } from "./support/smtp_server.ts";
import { redact, registerSecrets } from "../lib/config/config.ts";

const RESULT: RunResult = {
  runId: "20260424-230000-ab12",
  target: "full_pipeline",
  status: "failed",
  startedAt: Date.parse("2026-04-24T23:00:00Z"),
  endedAt: Date.parse("2026-04-24T23:00:12.500Z"),
  durationMs: 12_500,
  jobs: [
    { id: "s3_check", status: "ok", attempts: 1, durationMs: 900 },
    {
      id: "batch_load",
      status: "failed",
      attempts: 3,
      durationMs: 9000,
      message: "exit code 1",
      logPath: "logs/runs/20260424-230000-ab12/batch_load.3.log",
    },
    {
      id: "validate_data",
      status: "upstream_failed",
      attempts: 0,
      durationMs: 0,
      message: "not run: batch_load failed",
    },
  ],
};

/** A webhook receiver on an ephemeral port that records each request. */
function startWebhook(status = 200) {
  const received: { path: string; type: string | null; body: AlertSummary }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    received.push({
      path: new URL(req.url).pathname,
      type: req.headers.get("content-type"),
      body: await req.json(),
    });
    return new Response("ok", { status });
  });
  return { port: server.addr.port, received, close: () => server.shutdown() };
}

/** A port with nothing listening on it (bound, then released). */
function deadPort(): number {
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("the alert summary names the run, its failed jobs and every job's status", () => {
  assertEquals(alertSummary(RESULT, "vm1"), {
    text: "egx-pipeline: run 20260424-230000-ab12 of full_pipeline on vm1 failed after 12.5s; " +
      "failed: batch_load (exit code 1)",
    run_id: "20260424-230000-ab12",
    target: "full_pipeline",
    status: "failed",
    host: "vm1",
    started_at: "2026-04-24T23:00:00.000Z",
    ended_at: "2026-04-24T23:00:12.500Z",
    duration_ms: 12_500,
    failed_jobs: [{
      job: "batch_load",
      status: "failed",
      attempts: 3,
      message: "exit code 1",
      log: "logs/runs/20260424-230000-ab12/batch_load.3.log",
    }],
    jobs: [
      { job: "s3_check", status: "ok", attempts: 1, duration_ms: 900 },
      { job: "batch_load", status: "failed", attempts: 3, duration_ms: 9000 },
      { job: "validate_data", status: "upstream_failed", attempts: 0, duration_ms: 0 },
    ],
  });
});

Deno.test("a failed run's summary is POSTed as JSON to the webhook", async () => {
  const hook = startWebhook();
  try {
    const summary = alertSummary(RESULT, "vm1");
    const url = `http://127.0.0.1:${hook.port}/hooks/T0KEN-secret-123`;
    const out = await sendAlerts(summary, { webhookUrl: url, emailFrom: "x@y" });
    assertEquals(out, [{ channel: "webhook", ok: true, detail: "webhook answered HTTP 200" }]);
    assertEquals(hook.received, [{
      path: "/hooks/T0KEN-secret-123",
      type: "application/json",
      body: summary,
    }]);
  } finally {
    await hook.close();
  }
});

Deno.test("a webhook that is down or answers 500 is reported in one line without its URL", async () => {
  const token = "T0KEN-secret-456";
  const down = `http://127.0.0.1:${deadPort()}/hooks/${token}`;
  const [out] = await sendAlerts(alertSummary(RESULT, "vm1"), {
    webhookUrl: down,
    emailFrom: "x@y",
  });
  assertEquals([out.channel, out.ok], ["webhook", false]);
  assertEquals(
    out.detail,
    "webhook failed: TypeError: fetch failed (error sending request for url (***): client error " +
      "(Connect): tcp connect error: Connection refused (os error 111))",
  );
  assertEquals(out.detail.includes(token), false);
  assertEquals(out.detail.includes("/hooks/"), false);
  assertEquals(out.detail.split("\n").length, 1);

  const hook = startWebhook(500);
  try {
    const [bad] = await sendAlerts(alertSummary(RESULT, "vm1"), {
      webhookUrl: `http://127.0.0.1:${hook.port}/hooks/${token}`,
      emailFrom: "x@y",
    });
    assertEquals(bad, { channel: "webhook", ok: false, detail: "webhook answered HTTP 500" });
  } finally {
    await hook.close();
  }
});

/** A webhook receiver answering `answers` in turn (status, Retry-After), then 200. */
async function withAnsweringWebhook(
  answers: [number, string][],
  fn: (url: string, received: AlertSummary[]) => Promise<void>,
) {
  const received: AlertSummary[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    received.push(await req.json());
    const answer = answers.shift();
    if (!answer) return new Response("ok");
    return new Response("busy", { status: answer[0], headers: { "Retry-After": answer[1] } });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/hook`, received);
  } finally {
    await server.shutdown();
  }
}

Deno.test("a webhook asking to retry within 5 s gets the summary once more after that wait", async () => {
  const summary = alertSummary(RESULT, "vm1");
  const waits: number[] = [];
  const sleep = (ms: number) => {
    waits.push(ms);
    return Promise.resolve();
  };
  // Seconds: delivered on the retry.
  await withAnsweringWebhook([[429, "2"]], async (url, received) => {
    const out = await sendAlerts(summary, { webhookUrl: url, emailFrom: "x@y" }, { sleep });
    assertEquals(out, [{
      channel: "webhook",
      ok: true,
      detail: "webhook answered HTTP 200 (after HTTP 429 with Retry-After 2 s: retried once)",
    }]);
    assertEquals(received, [summary, summary]);
  });
  assertEquals(waits, [2000]);
  // An HTTP date 3 s ahead of the clock; the retry fails too: no third POST.
  const now = Date.parse("2026-11-27T12:00:00Z");
  await withAnsweringWebhook(
    [[503, "Fri, 27 Nov 2026 12:00:03 GMT"], [503, "1"]],
    async (url, received) => {
      const out = await sendAlerts(summary, { webhookUrl: url, emailFrom: "x@y" }, {
        sleep,
        now: () => now,
      });
      assertEquals(out, [{
        channel: "webhook",
        ok: false,
        detail: "webhook answered HTTP 503 (after HTTP 503 with Retry-After 3 s: retried once)",
      }]);
      assertEquals(received.length, 2);
    },
  );
  assertEquals(waits, [2000, 3000]);
  // A real (zero) wait, without the injected sleep.
  await withAnsweringWebhook([[429, "0"]], async (url, received) => {
    const [out] = await sendAlerts(summary, { webhookUrl: url, emailFrom: "x@y" });
    assertEquals(
      out.detail,
      "webhook answered HTTP 200 (after HTTP 429 with Retry-After 0 s: retried once)",
    );
    assertEquals(received.length, 2);
  });
});

Deno.test("a webhook asking for a longer wait, a wait it cannot say, or answering 500 is not retried", async () => {
  const summary = alertSummary(RESULT, "vm1");
  const sleep = () => Promise.reject(new Error("no wait expected"));
  const cases: [number, string, string][] = [
    [429, "6", "webhook answered HTTP 429 (its Retry-After asks 6 s: more than 5 s, not retried)"],
    [
      503,
      "later",
      'webhook answered HTTP 503 (its Retry-After "later" is neither seconds nor a date: not ' +
      "retried)",
    ],
    [500, "1", "webhook answered HTTP 500"],
  ];
  for (const [status, header, detail] of cases) {
    await withAnsweringWebhook([[status, header]], async (url, received) => {
      const out = await sendAlerts(summary, { webhookUrl: url, emailFrom: "x@y" }, { sleep });
      assertEquals(out, [{ channel: "webhook", ok: false, detail }]);
      assertEquals(received.length, 1);
    });
  }
  // The channel's time limit covers the retry and its wait: 4 s asked with 3 s of 3 s left.
  await withAnsweringWebhook([[429, "4"]], async (url, received) => {
    const out = await sendAlerts(summary, { webhookUrl: url, emailFrom: "x@y" }, {
      sleep,
      timeoutMs: 3_000,
    });
    assertEquals(out, [{
      channel: "webhook",
      ok: false,
      detail: "webhook answered HTTP 429 (its Retry-After asks 4 s: more than is left of the " +
        "alert's 3 s, not retried)",
    }]);
    assertEquals(received.length, 1);
  });
});

Deno.test("a runner told to stop while waiting for a webhook's Retry-After does not POST again", async () => {
  const ac = new AbortController();
  await withAnsweringWebhook([[429, "5"]], async (url, received) => {
    const sleeping = sendAlerts(
      alertSummary(RESULT, "vm1"),
      { webhookUrl: url, emailFrom: "x@y" },
      {
        signal: ac.signal,
        sleep: (_ms, signal) => {
          ac.abort(); // the stop comes during the wait
          assert(signal?.aborted);
          return Promise.resolve();
        },
      },
    );
    assertEquals(await sleeping, [{
      channel: "webhook",
      ok: false,
      detail: "webhook failed: stopped (the runner was told to stop)",
    }]);
    assertEquals(received.length, 1);
  });
});

Deno.test("a webhook that redirects is reported as failed, the redirect not followed", async () => {
  const requests: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    requests.push(`${req.method} ${new URL(req.url).pathname}`);
    return req.method === "POST"
      ? new Response(null, { status: 302, headers: { location: "/landing" } })
      : new Response("ok");
  });
  try {
    const out = await sendAlerts(alertSummary(RESULT, "vm1"), {
      webhookUrl: `http://127.0.0.1:${server.addr.port}/hook`,
      emailFrom: "egx@localhost",
    });
    assertEquals(out, [{
      channel: "webhook",
      ok: false,
      detail: "webhook answered HTTP 302 (a redirect, not followed: " +
        "set EGX_ALERT_WEBHOOK_URL to the final URL)",
    }]);
    assertEquals(requests, ["POST /hook"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a failed run is mailed through SMTP with AUTH PLAIN", async () => {
  const smtp = await startSmtpServer({ user: "alerts@egx.test", password: "p@ss:w0rd/x" });
  try {
    const out = await sendAlerts(alertSummary(RESULT, "vm1"), {
      smtpUrl: smtp.url("alerts@egx.test", "p@ss:w0rd/x"),
      emailTo: "ops@egx.test, lead@egx.test",
      emailFrom: "egx-pipeline@egx.test",
    });
    assertEquals(out, [{
      channel: "email",
      ok: true,
      detail: "email sent to ops@egx.test, lead@egx.test",
    }]);
    assertEquals(smtp.messages.length, 1);
    const m = smtp.messages[0];
    assertEquals([m.from, m.to, m.auth], ["egx-pipeline@egx.test", [
      "ops@egx.test",
      "lead@egx.test",
    ], { user: "alerts@egx.test", password: "p@ss:w0rd/x" }]);
    const cut = m.data.indexOf("\r\n\r\n");
    const headers = m.data.slice(0, cut);
    assert(headers.includes("Content-Transfer-Encoding: quoted-printable"));
    const body = fromQuotedPrintable(m.data.slice(cut + 4));
    assert(
      headers.includes("Subject: [egx-pipeline] full_pipeline failed (run 20260424-230000-ab12)"),
    );
    assert(headers.includes("To: ops@egx.test, lead@egx.test"));
    assert(body.startsWith("Run 20260424-230000-ab12 of full_pipeline on vm1 failed after 12.5s."));
    assert(body.includes("FAILED batch_load after 3 attempt(s): exit code 1"));
    assert(body.includes('"run_id": "20260424-230000-ab12"'));
  } finally {
    await smtp.close();
  }
});

/** The text of a quoted-printable body (soft line breaks joined, =XX decoded, LF line ends). */
function fromQuotedPrintable(s: string): string {
  const t = s.replace(/=\r\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i] === "=") {
      bytes.push(parseInt(t.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(t.charCodeAt(i));
  }
  return new TextDecoder().decode(new Uint8Array(bytes)).replaceAll("\r\n", "\n");
}

Deno.test("a mail whose summary has lines of any length keeps every SMTP line under 77 characters", async () => {
  const smtp = await startSmtpServer({});
  try {
    // 40 failed jobs: the summary's one-line `text` alone is over 2,000 characters.
    const jobs = Array.from({ length: 40 }, (_, i) => ({
      id: `job_${i}`,
      status: "failed" as const,
      attempts: 1,
      durationMs: 10,
      message: `exit code 1 — ${"x".repeat(20)} = done `,
    }));
    const summary = alertSummary({ ...RESULT, jobs }, "vm1");
    assert(summary.text.length > 2000);
    const [out] = await sendAlerts(summary, {
      smtpUrl: smtp.url(),
      emailTo: "ops@egx.test",
      emailFrom: "a@egx.test",
    });
    assertEquals(out.ok, true, out.detail);
    const data = smtp.messages[0].data;
    const body = data.slice(data.indexOf("\r\n\r\n") + 4);
    const lines = body.split("\r\n");
    assertEquals(lines.filter((l) => l.length > 76), []);
    assertEquals(lines.filter((l) => /[ \t]$/.test(l)), []); // no trailing blanks
    const text = fromQuotedPrintable(body);
    assert(text.includes(`  "text": ${JSON.stringify(summary.text)},\n`));
    assert(
      text.includes(
        "FAILED job_39 after 1 attempt(s): exit code 1 — xxxxxxxxxxxxxxxxxxxx = done \n",
      ),
    );
  } finally {
    await smtp.close();
  }
});

Deno.test("an SMTP login failure or a dead SMTP server is reported without the password", async () => {
  const smtp = await startSmtpServer({ user: "u", password: "right-password" });
  try {
    const [out] = await sendAlerts(alertSummary(RESULT, "vm1"), {
      smtpUrl: smtp.url("u", "wrong-password-999"),
      emailTo: "ops@egx.test",
      emailFrom: "a@b",
    });
    assertEquals(out, {
      channel: "email",
      ok: false,
      detail: "email failed: SmtpError: AUTH: server answered 535 5.7.8 authentication failed",
    });
  } finally {
    await smtp.close();
  }
  const [dead] = await sendAlerts(alertSummary(RESULT, "vm1"), {
    smtpUrl: `smtp://u:wrong-password-999@127.0.0.1:${deadPort()}`,
    emailTo: "ops@egx.test",
    emailFrom: "a@b",
  });
  assertEquals(dead.ok, false);
  assert(dead.detail.startsWith("email failed: ConnectionRefused"), dead.detail);
  assertEquals(dead.detail.includes("wrong-password-999"), false);
});

Deno.test("an SMTP server that quotes the refused AUTH line does not reveal the base64 credentials", async () => {
  const smtp = await startSmtpServer({ user: "u", password: "right-password", quoteAuth: true });
  try {
    const url = smtp.url("alerts", "Wr0ng-Pa55");
    // As the runner and the scheduler do at start (the history and the output are masked alike).
    registerSecrets((name) => name === "EGX_SMTP_URL" ? url : undefined);
    const [out] = await sendAlerts(alertSummary(RESULT, "vm1"), {
      smtpUrl: url,
      emailTo: "ops@egx.test",
      emailFrom: "a@b",
    });
    // What went over the wire: base64 of "\0alerts\0Wr0ng-Pa55".
    const plain = btoa("\0alerts\0Wr0ng-Pa55");
    assertEquals(smtp.transcript.includes(`AUTH PLAIN ${plain}`), true);
    assertEquals(out, {
      channel: "email",
      ok: false,
      detail: "email failed: SmtpError: AUTH: server answered 535 5.7.8 authentication failed: " +
        "AUTH PLAIN ***",
    });
    // AUTH LOGIN's form (the password alone) and unpadded quotes are masked too.
    assertEquals(
      redact(`${btoa("Wr0ng-Pa55")} ${plain.replace(/=+$/, "")}!`),
      "*** ***!",
    );
  } finally {
    await smtp.close();
  }
});

Deno.test("the SMTP password goes in plain text only to this machine; elsewhere only over TLS", async () => {
  assertEquals(
    [
      mayAuthenticate("127.0.0.1", false),
      mayAuthenticate("localhost", false),
      mayAuthenticate("[::1]", false),
      mayAuthenticate("192.0.2.2", false),
      mayAuthenticate("smtp.example.com", false),
      mayAuthenticate("smtp.example.com", true),
    ],
    [true, true, true, false, false, true],
  );
  // A real server without STARTTLS on this machine's other address: no AUTH is sent.
  const other = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  );
  if (!other) return; // a machine with loopback only: the rule above is what can be shown
  const smtp = await startSmtpServer({ user: "u", password: "Sup3r-S3cret", host: other.address });
  try {
    const [out] = await sendAlerts(alertSummary(RESULT, "vm1"), {
      smtpUrl: smtp.url("u", "Sup3r-S3cret"),
      emailTo: "ops@egx.test",
      emailFrom: "a@b",
    });
    assertEquals(out, {
      channel: "email",
      ok: false,
      detail: `email failed: SmtpError: ${other.address} offered no STARTTLS: the password is ` +
        "not sent unencrypted to another host (use smtps://, or a server that offers STARTTLS)",
    });
    assertEquals(smtp.transcript.filter((l) => /^AUTH/i.test(l)), []);
    assertEquals(smtp.messages.length, 0);
  } finally {
    await smtp.close();
  }
});

Deno.test("email alerts need both the SMTP URL and a recipient", async () => {
  assertEquals(
    await sendAlerts(alertSummary(RESULT, "h"), { emailTo: "ops@egx.test", emailFrom: "a@b" }),
    [{
      channel: "email",
      ok: false,
      detail: "email alert needs both EGX_SMTP_URL and EGX_ALERT_EMAIL_TO",
    }],
  );
  assertEquals(await sendAlerts(alertSummary(RESULT, "h"), { emailFrom: "a@b" }), []);
});

Deno.test("SMTP bodies are dot-stuffed and non-ASCII subjects are encoded", async () => {
  const smtp = await startSmtpServer();
  try {
    await sendMail(smtp.url(), {
      from: "a@b",
      to: ["c@d"],
      subject: "تنبيه EGX",
      text: "line 1\n.starts with a dot\n.",
    });
    const m = smtp.messages[0];
    assert(
      m.data.includes(
        `Subject: =?UTF-8?B?${
          btoa(String.fromCharCode(...new TextEncoder().encode("تنبيه EGX")))
        }?=`,
      ),
    );
    assert(m.data.endsWith("\r\n\r\nline 1\r\n.starts with a dot\r\n."), JSON.stringify(m.data));
    assert(smtp.transcript.includes("..starts with a dot"));
  } finally {
    await smtp.close();
  }
});

/**
 * A TCP port whose accept queue is full (backlog 0, filled by the server itself): the kernel
 * drops further SYNs, so a connect to it waits until the OS gives up, minutes later.
 */
async function blackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const script = `
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.3)
print(port, flush=True)
time.sleep(600)
`;
  const py = new Deno.Command("python3", { args: ["-c", script], stdout: "piped" }).spawn();
  const reader = py.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return {
    port: Number(text.trim()),
    close: async () => {
      py.kill("SIGKILL");
      await py.status;
    },
  };
}

// The abandoned connect stays with the OS until it gives up: not a leak of ours.
Deno.test({
  name: "alerts to a host that never answers the connect end at their timeout, or at once on stop",
  sanitizeOps: false,
  async fn() {
    const hole = await blackhole();
    try {
      const cfg = {
        webhookUrl: `http://127.0.0.1:${hole.port}/hook`,
        smtpUrl: `smtp://alerts:Blackhole-Pa55@127.0.0.1:${hole.port}`,
        emailTo: "ops@example.com",
        emailFrom: "egx@example.com",
      };
      const summary = alertSummary(RESULT, "vm1");
      const outcome = (out: { channel: string; ok: boolean; detail: string }[]) =>
        out.map((o) => [o.channel, o.ok, o.detail]);
      let t0 = performance.now();
      const timedOut = await sendAlerts(summary, cfg, { timeoutMs: 300 });
      assert(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`);
      assertEquals(outcome(timedOut), [
        [
          "webhook",
          false,
          "webhook failed: TimeoutError: The operation was aborted due to timeout",
        ],
        [
          "email",
          false,
          "email failed: SmtpError: timed out (The operation was aborted due to timeout)",
        ],
      ]);
      // The runner's stop (SIGINT/SIGTERM while alerts go out) ends them without the timeout.
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 200);
      t0 = performance.now();
      const stopped = await sendAlerts(summary, cfg, { timeoutMs: 60_000, signal: stop.signal });
      assert(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`);
      assertEquals(outcome(stopped), [
        ["webhook", false, "webhook failed: stopped (the runner was told to stop)"],
        ["email", false, "email failed: stopped (the runner was told to stop)"],
      ]);
    } finally {
      await hole.close();
    }
  },
});

Deno.test("a malformed SMTP reply is masked before it is cut: no part of a secret is left", async () => {
  registerSecrets((k) =>
    ({ SNOWFLAKE_PASSWORD: "Sf-Greeting-Secret-77" } as Record<string, string>)[k]
  );
  // A greeting without a code, the secret across the 80th character.
  const greeting = `${"g".repeat(70)}Sf-Greeting-Secret-77 and more`;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await l.accept();
    await conn.write(new TextEncoder().encode(`${greeting}\r\n`));
    await new Promise((r) => setTimeout(r, 200));
    conn.close();
  })();
  try {
    const [out] = await sendAlerts(alertSummary(RESULT, "vm1"), {
      smtpUrl: `smtp://127.0.0.1:${(l.addr as Deno.NetAddr).port}`,
      emailTo: "ops@egx.test",
      emailFrom: "a@egx.test",
    });
    assertEquals(out, {
      channel: "email",
      ok: false,
      detail: `email failed: SmtpError: malformed reply: ${"g".repeat(70)}*** and mo`, // cut at 80
    });
  } finally {
    await served;
    l.close();
  }
});
