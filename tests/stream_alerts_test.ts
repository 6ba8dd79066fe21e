/**
 * Alerts on the stream side: `deno task stream consumer` evaluates the alert rules on what it
 * writes, on a warehouse built from the bundled sample by the real batch loader and models
 * (tests/support/market_warehouse.ts), with a real broker and a real webhook server.
 */
import assert from "node:assert/strict";
import { addDays, cairoWallToInstant, isTradingDay, sessionOn } from "../lib/market/calendar.ts";
import type { Quote } from "../lib/market/sources/source.ts";
import { encodeQuote } from "../lib/stream/message.ts";
import { readStatus } from "../lib/stream/status.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import {
  freshTopics,
  kafkaTest,
  spawnStream,
  streamEnv,
  tail,
  testClient,
  waitFor,
} from "./support/kafka.ts";
import { buildMarketWarehouse, readInputs, withPrevClose } from "./support/market_warehouse.ts";

kafkaTest(
  "the stream consumer fires an alert on a streamed bar once, prints it and posts it to the webhook",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "egx_stream_alerts_" });
    const path = `${dir}/egx.duckdb`;
    const posts: { alert: Record<string, unknown> }[] = [];
    const webhook = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (r) => {
        posts.push(await r.json());
        return new Response("ok");
      },
    );
    try {
      await buildMarketWarehouse(path);
      // ETEL on the first trading day after the sample: +6%, then a later poll +8%.
      const etel = withPrevClose((await readInputs()).daily, "ETEL");
      const prev = etel[etel.length - 1];
      let date = addDays(prev.date, 1);
      while (!isTradingDay(date)) date = addDays(date, 1);
      const open = cairoWallToInstant(date, sessionOn(date)!.open).getTime();
      const bar = (minute: number, changePct: number): Quote => {
        const price = Math.round(prev.close * (1 + changePct / 100) * 100) / 100;
        const t = open + minute * 60_000;
        return {
          ticker: "ETEL",
          barStart: new Date(t).toISOString(),
          interval: "1m",
          open: price,
          high: price,
          low: price,
          close: price,
          volume: 1000,
          source: "test",
          fetchedAt: new Date(t + 300_000).toISOString(),
        };
      };
      const first = bar(0, 6);
      const later = bar(1, 8);
      await Deno.writeTextFile(
        `${dir}/rules.yaml`,
        "rules:\n  - {id: move, kind: price_move, threshold_pct: 5}\n" +
          "  - {id: typo, kind: price_move, threshold_pct: 1, tickers: [ETLE]}\n",
      );

      const client = await testClient();
      const names = await freshTopics(client, 1);
      const env = await streamEnv(names, dir, {
        EGX_STREAM_ALERT_RULES: `${dir}/rules.yaml`,
        EGX_ALERT_WEBHOOK_URL: `http://127.0.0.1:${webhook.addr.port}/hook`,
      });
      const publish = async (q: Quote) => {
        const p = client.producer();
        await p.connect();
        await p.send(names.topic, [encodeQuote(q) as { key: string; value: string }]);
        await p.disconnect();
      };
      const written = async () =>
        Number(
          ((await readStatus(`${dir}/status`, "consumer"))?.counters as { written: number })
            ?.written ?? 0,
        );
      const events = async (log: string, event: string) =>
        (await Deno.readTextFile(log).catch(() => "")).split("\n").filter((l) =>
          l.includes(`"event":"${event}"`)
        ).length;
      const stop = async ({ child, output }: ReturnType<typeof spawnStream>, log: string) => {
        child.kill("SIGTERM");
        assert.equal((await child.status).code, 0, await tail(log));
        await output;
      };

      // The first poll: one alert, printed and posted.
      await publish(first);
      const a = spawnStream(["consumer"], env, `${dir}/a.log`);
      await waitFor("the alert", () => Promise.resolve(posts.length > 0), 60_000).catch(
        async (e) => {
          a.child.kill("SIGKILL");
          const status = await Deno.readTextFile(`${dir}/status/consumer.json`).catch(() => "");
          const lag = JSON.stringify(await client.lag(names.group, names.topic));
          throw new Error(`${e.message}\n${await tail(`${dir}/a.log`)}\n${status}\nlag ${lag}`);
        },
      );
      // A later poll of the same day moves further: the alert does not fire again.
      await publish(later);
      await waitFor("the later poll to be written", async () => (await written()) === 2, 60_000);
      await stop(a, `${dir}/a.log`);
      // A restarted consumer evaluates at once, on both polls: nothing new either.
      const b = spawnStream(["consumer"], env, `${dir}/b.log`);
      try {
        await waitFor(
          "an evaluation",
          async () => (await events(`${dir}/b.log`, "alerts.evaluated")) > 0,
          60_000,
        );
      } finally {
        await stop(b, `${dir}/b.log`);
      }

      // The rule naming a ticker the warehouse does not list is reported at each start.
      const unknown = (await Deno.readTextFile(`${dir}/a.log`)).split("\n").filter((l) =>
        l.includes('"event":"alerts.unknown_subjects"')
      );
      assert.equal(unknown.length, 1, unknown.join("\n"));
      assert.match(unknown[0], /rules\.yaml:3:\d+ rule typo: unknown ticker ETLE/);
      assert.match(unknown[0], /"level":"warn"/);
      const lines = (await Deno.readTextFile(`${dir}/a.log.out`)).trim().split("\n");
      const observed = (first.close / prev.close - 1) * 100;
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0], new RegExp(`^ALERT ${date} ETEL \\[move\\] `));
      assert.equal(await Deno.readTextFile(`${dir}/b.log.out`), "");
      assert.equal(posts.length, 1);
      assert.deepEqual(
        [posts[0].alert.rule, posts[0].alert.subject, posts[0].alert.date, posts[0].alert.source],
        ["move", "ETEL", date, "stream"],
      );
      const wh = await openWarehouse({ kind: "duckdb", path });
      try {
        const rows = await wh.query<{
          RULE_ID: string;
          SUBJECT: string;
          ALERT_DATE: string;
          DIRECTION: string;
          OBSERVED: number;
          SOURCE: string;
          DELIVERED: boolean;
        }>(
          `SELECT RULE_ID, SUBJECT, ALERT_DATE, DIRECTION, OBSERVED, SOURCE,
             DELIVERED_AT IS NOT NULL AS DELIVERED
           FROM OPERATIONAL.TBL_ALERT_EVENT`,
        );
        assert.equal(rows.length, 1);
        const { OBSERVED, ...alert } = rows[0];
        assert.ok(Math.abs(OBSERVED - observed) < 1e-9, `observed ${OBSERVED}, want ${observed}`);
        assert.deepEqual(alert, {
          RULE_ID: "move",
          SUBJECT: "ETEL",
          ALERT_DATE: date,
          DIRECTION: "up",
          SOURCE: "stream",
          DELIVERED: true,
        });
        // The later poll did reach the day's bar.
        const [day] = await wh.query<{ CLOSE: number }>(
          `SELECT CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE
           WHERE TICKER = 'ETEL' AND TRADE_DATE = ? AND DATA_SOURCE = 'STREAMING_API'`,
          [date],
        );
        assert.equal(day.CLOSE, later.close);
      } finally {
        await wh.close();
      }
    } finally {
      await webhook.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
