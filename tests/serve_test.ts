// `jrm hub serve` as users run it: a spawned server on a free loopback port, real HTTP.
import assert from "node:assert/strict";
import { denoRunArgs, oneErrorLine, runJrm, withTempDir } from "./_cli.ts";
import { comparable, federateInProcess, generateFederation } from "./_federation.ts";
import { buildTestPacket, hmacSigner, TEST_KEY } from "./_packets.ts";
import { random } from "./_random.ts";
import { browserTest, openPage } from "./_chromium.ts";

const SERVE_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];
const NOW = "2026-03-01T00:00:00Z";
const KEY_ENV = { JRM_TEST_SERVE_KEY: TEST_KEY };

/** A running `jrm hub serve`. */
interface Server {
  url: string;
  process: Deno.ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr: () => string;
  /** Wait for it to exit. */
  exited: Promise<Deno.CommandStatus>;
}

async function startServer(args: string[]): Promise<Server> {
  const process = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(
      ["hub", "serve", "--listen", "127.0.0.1:0", "--key-env", "JRM_TEST_SERVE_KEY", ...args],
      { permissions: SERVE_PERMISSIONS },
    ),
    env: { NO_COLOR: "1", ...KEY_ENV },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const { promise: url, resolve: listening } = Promise.withResolvers<string>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of process.stderr) {
      text += decoder.decode(chunk, { stream: true });
      const match = /listening on (http:\/\/\S+)/.exec(text);
      if (match) listening(match[1]);
    }
  })();
  const exited = process.status.then(async (status) => {
    await reading;
    return status;
  });
  const started = await Promise.race([
    url,
    exited.then((status) => {
      throw new Error(`the server exited (${status.code}) before listening: ${text}`);
    }),
  ]);
  return { url: started, process, stderr: () => text, exited };
}

/** A publishing server whose operators file (0600) names one operator; its token. */
async function startWithOperator(
  dir: string,
  name: string,
): Promise<{ server: Server; token: string }> {
  const token = `${name}-token-${crypto.randomUUID()}`;
  const path = `${dir}/operators.json`;
  const operators = { operators: [{ name, tokenSha256: await sha256Hex(token) }] };
  await Deno.writeTextFile(path, JSON.stringify(operators), { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  const server = await startServer([
    "--store",
    `${dir}/s.sqlite`,
    "--now",
    NOW,
    "--publish",
    "--operators",
    path,
  ]);
  return { server, token };
}

async function stop(server: Server): Promise<Deno.CommandStatus> {
  try {
    server.process.kill("SIGTERM");
  } catch { /* already gone */ }
  return await server.exited;
}

async function push(
  url: string,
  bytes: Uint8Array,
  name = "p.zip",
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/packets?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers: { "content-type": "application/zip" },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  return { status: response.status, body: await response.json() };
}

/** Push every file with `clients` concurrent clients, in a shuffled order. */
async function pushAll(
  url: string,
  files: { name: string; bytes: Uint8Array }[],
  clients: number,
  seed: number,
  onAnswer?: (done: number) => void,
): Promise<Map<string, number[]>> {
  const next = random(seed);
  const queue = [...files].sort(() => next() - 0.5);
  const statuses = new Map<string, number[]>();
  let done = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const { status } = await push(url, file.bytes, file.name);
      statuses.set(file.name, [...statuses.get(file.name) ?? [], status]);
      onAnswer?.(++done);
    }
  }));
  return statuses;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return await response.json();
}

/** The report the server holds, against `federate` over the same files. */
async function assertSameAsFederate(
  url: string,
  dir: string,
  files: string[],
  repushed = false,
): Promise<void> {
  const keyring = (await generateFederation(1)).keyring;
  const expected = await federateInProcess(files, keyring, NOW);
  const actual = await getJson(`${url}/v1/report`);
  // Pushed packets are named by their push, batch ones by their path: compare without either.
  const got = comparable(actual as never, dir);
  const want = comparable(expected.report, dir);
  // Pushed again, every packet is a duplicate once more: only the count of copies differs.
  if (repushed) got.duplicates = want.duplicates;
  assert.deepEqual(got, want);
}

Deno.test("jrm hub serve refuses to start without keys, before opening a port", async () => {
  await withTempDir("jrm-serve-", async (dir) => {
    const run = await runJrm([
      "hub",
      "serve",
      "--store",
      `${dir}/s.sqlite`,
      "--listen",
      "127.0.0.1:0",
    ], {
      permissions: SERVE_PERMISSIONS,
    });
    const line = oneErrorLine(run, 2);
    assert.match(line, /needs keys/);
    assert.doesNotMatch(run.stderr, /listening/);
  });
});

Deno.test("jrm hub serve refuses a --listen that is not HOST:PORT", async () => {
  const run = await runJrm(["hub", "serve", "--listen", "somewhere", "--key-env", "X"], {
    permissions: SERVE_PERMISSIONS,
  });
  assert.match(oneErrorLine(run, 2), /Invalid --listen "somewhere"/);
});

Deno.test("pushed = batch: 16 concurrent clients in any order give federate's report; copies are 200; equivocation is 422 for both", async () => {
  await withTempDir("jrm-serve-", async (dir) => {
    // About 100 packets from 4 environments, with copies, a forgery and an equivocating pair.
    const federation = await generateFederation(7, {
      environments: 4,
      windows: 20,
      equivocations: 1,
      copies: 5,
      forged: 1,
    });
    assert.ok(federation.packets.length >= 100, String(federation.packets.length));
    const files: string[] = [];
    for (const packet of federation.packets) {
      await Deno.writeFile(`${dir}/${packet.name}`, packet.bytes);
      files.push(`${dir}/${packet.name}`);
    }
    const server = await startServer(["--store", `${dir}/s.sqlite`, "--now", NOW]);
    try {
      // Readers during the load: each answers from the last commit, never an error.
      let pushing = true;
      const readers = Array.from({ length: 2 }, async () => {
        const codes: number[] = [];
        while (pushing) {
          for (const path of ["/v1/report", "/healthz", "/v1/advisories", "/"]) {
            const response = await fetch(`${server.url}${path}`);
            codes.push(response.status);
            await response.body?.cancel();
          }
        }
        return codes;
      });
      const statuses = await pushAll(server.url, federation.packets, 16, 3);
      pushing = false;
      const codes = (await Promise.all(readers)).flat();
      assert.ok(codes.length > 0);
      assert.deepEqual(codes.filter((c) => c !== 200), [], "reads during the load");
      assert.equal(statuses.size, federation.packets.length, "every packet answered");
      for (const packet of federation.packets) {
        const [status] = statuses.get(packet.name)!;
        if (packet.role === "forged") assert.equal(status, 422, packet.name);
        else assert.ok([200, 201, 422].includes(status), `${packet.name}: ${status}`);
      }
      // A packet and its byte copies: the first to arrive is accepted (or refused), the others 200.
      for (const original of federation.packets.filter((p) => p.role === "packet")) {
        const group = federation.packets.filter((p) =>
          p.name === original.name || (p.role === "copy" && p.copyOf === original.name)
        ).map((p) => statuses.get(p.name)![0]);
        assert.equal(group.filter((s) => s !== 200).length, 1, `${original.name}: ${group}`);
      }
      await assertSameAsFederate(server.url, dir, files);
      // Every later push of either side of an equivocation is refused, naming the other.
      const pair = federation.packets.filter((p) => p.role === "equivocation");
      assert.ok(pair.length >= 1);
      for (const packet of pair) {
        const again = await push(server.url, packet.bytes, packet.name);
        assert.equal(again.status, 422, JSON.stringify(again.body));
        const violations = again.body.violations as { code: string; message: string }[];
        assert.ok(violations.some((v) => v.code === "EQUIVOCATION"), JSON.stringify(violations));
        // Naming the other side's digest.
        for (const other of pair.filter((p) => p !== packet)) {
          const digest = `sha256:${await sha256Hex(other.bytes)}`;
          assert.ok(violations.some((v) => v.message.includes(digest)), JSON.stringify(violations));
        }
        assert.doesNotMatch(JSON.stringify(again.body), /jrm-serve-/, "no server path leaks");
      }
      // A copy pushed again changes nothing and says so.
      const copy = federation.packets.find((p) => p.role === "packet")!;
      const repeated = await push(server.url, copy.bytes, copy.name);
      assert.ok([200, 422].includes(repeated.status));
      await assertSameAsFederate(server.url, dir, files, true);
      const status = await stop(server);
      assert.equal(status.code, 0, server.stderr());
      assert.match(server.stderr(), /stopped/);
    } finally {
      try {
        server.process.kill("SIGKILL");
      } catch { /* stopped */ }
    }
  });
});

Deno.test("kill -9 in the middle of a load, a restart and a re-push of everything: the same final state", async () => {
  await withTempDir("jrm-serve-", async (dir) => {
    const federation = await generateFederation(11, { environments: 4, windows: 12, copies: 4 });
    const files: string[] = [];
    for (const packet of federation.packets) {
      await Deno.writeFile(`${dir}/${packet.name}`, packet.bytes);
      files.push(`${dir}/${packet.name}`);
    }
    const store = `${dir}/s.sqlite`;
    const first = await startServer(["--store", store, "--now", NOW]);
    const half = Math.floor(federation.packets.length / 2);
    let killed = false;
    await pushAll(first.url, federation.packets, 8, 5, (done) => {
      if (done >= half && !killed) {
        killed = true;
        first.process.kill("SIGKILL");
      }
    }).catch(() => {/* connections cut by the kill */});
    if (!killed) first.process.kill("SIGKILL");
    await first.exited;
    const second = await startServer(["--store", store, "--now", NOW]);
    try {
      const statuses = await pushAll(second.url, federation.packets, 8, 6);
      assert.equal(statuses.size, federation.packets.length);
      await assertSameAsFederate(second.url, dir, files, true);
      assert.equal((await getJson(`${second.url}/healthz`)).status, "ok");
    } finally {
      await stop(second);
    }
  });
});

Deno.test("operators decide over HTTP with a token; the ledger records who, the page shows it", async () => {
  await withTempDir("jrm-serve-", async (dir) => {
    const federation = await generateFederation(7);
    const { server, token } = await startWithOperator(dir, "alice");
    try {
      await pushAll(server.url, federation.packets, 4, 1);
      const { advisories } = await getJson(`${server.url}/v1/advisories?status=published`) as {
        advisories: { advisoryId: string }[];
      };
      assert.ok(advisories.length > 0, "drift was published as advisories");
      const id = advisories[0].advisoryId;
      const decide = (auth: string | undefined, body: unknown) =>
        fetch(`${server.url}/v1/advisories/${id}/accept`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(auth === undefined ? {} : { authorization: auth }),
          },
          body: JSON.stringify(body),
        });
      const anonymous = await decide(undefined, { reason: "x" });
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      const wrong = await decide("Bearer not-the-token", { reason: "x" });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      const accepted = await decide(`Bearer ${token}`, { reason: "moving to rev 3" });
      assert.equal(accepted.status, 200);
      const advisory = await accepted.json();
      assert.equal(advisory.status, "accepted");
      const last = advisory.history[advisory.history.length - 1];
      assert.deepEqual([last.by, last.to, last.reason], ["alice", "accepted", "moving to rev 3"]);
      const again = await decide(`Bearer ${token}`, { reason: "twice" });
      assert.equal(again.status, 409);
      await again.body?.cancel();
      // Seen at once by the next request, and on the page.
      assert.equal((await getJson(`${server.url}/v1/advisories/${id}`)).status, "accepted");
      const page = await (await fetch(`${server.url}/`)).text();
      assert.match(page, /alice/);
      assert.match(page, /Content-Security-Policy/);
      assert.doesNotMatch(server.stderr(), new RegExp(token), "tokens are never logged");
      const unknown = await fetch(`${server.url}/v1/advisories/adv-nope`);
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
    } finally {
      await stop(server);
    }
  });
});

Deno.test("a flood of 500 hostile pushes: the server stays up, /healthz and a valid push are answered meanwhile", async () => {
  await withTempDir("jrm-serve-", async (dir) => {
    const server = await startServer([
      "--store",
      `${dir}/s.sqlite`,
      "--now",
      NOW,
      "--max-body-bytes",
      "65536",
      "--request-timeout",
      "2",
    ]);
    try {
      const next = random(99);
      const hostile = (i: number): Uint8Array => {
        const size = 1 + Math.floor(next() * 4096);
        const bytes = new Uint8Array(size);
        for (let k = 0; k < size; k++) bytes[k] = Math.floor(next() * 256);
        if (i % 3 === 0) bytes.set([0x50, 0x4b, 0x03, 0x04]); // starts like a zip
        return bytes;
      };
      const codes = new Map<number, number>();
      let sent = 0;
      const flood = Promise.all(Array.from({ length: 24 }, async () => {
        while (sent < 500) {
          const i = sent++;
          const response = await fetch(`${server.url}/v1/packets`, {
            method: "POST",
            headers: { "content-type": "application/zip" },
            body: hostile(i) as Uint8Array<ArrayBuffer>,
          });
          codes.set(response.status, (codes.get(response.status) ?? 0) + 1);
          await response.body?.cancel();
        }
      }));
      // During the flood: health and a valid push, each given 5 s.
      const health = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const { bytes } = await buildTestPacket({ signer: await hmacSigner() });
      const valid = await fetch(`${server.url}/v1/packets`, {
        method: "POST",
        headers: { "content-type": "application/zip" },
        body: bytes as Uint8Array<ArrayBuffer>,
        signal: AbortSignal.timeout(5000),
      });
      assert.ok([201, 503].includes(valid.status), String(valid.status));
      await valid.body?.cancel();
      await flood;
      assert.equal([...codes.values()].reduce((a, b) => a + b, 0), 500);
      assert.deepEqual(
        [...codes.keys()].filter((c) => c !== 422 && c !== 503),
        [],
        String([...codes]),
      );
      // Too big, wrong type, a body that stops, a client that goes away.
      const big = await fetch(`${server.url}/v1/packets`, {
        method: "POST",
        headers: { "content-type": "application/zip" },
        body: new Uint8Array(70_000),
      });
      assert.equal(big.status, 413);
      await big.body?.cancel();
      const typed = await fetch(`${server.url}/v1/packets`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "x",
      });
      assert.equal(typed.status, 415);
      assert.equal(((await typed.json()).error as { code: string }).code.length > 0, true);
      const stalled = await fetch(`${server.url}/v1/packets`, {
        method: "POST",
        headers: { "content-type": "application/zip" },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new Uint8Array([0x50, 0x4b]));
          }, // and never more
        }),
      });
      assert.equal(stalled.status, 408);
      await stalled.body?.cancel();
      const port = Number(new URL(server.url).port);
      const socket = await Deno.connect({ hostname: "127.0.0.1", port });
      await socket.write(new TextEncoder().encode(
        "POST /v1/packets HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\nContent-Length: 60000\r\n\r\nPK",
      ));
      socket.close();
      const after = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      assert.equal(after.status, 200);
      await after.body?.cancel();
      const status = await stop(server);
      assert.equal(status.code, 0, server.stderr());
    } finally {
      try {
        server.process.kill("SIGKILL");
      } catch { /* stopped */ }
    }
  });
});

Deno.test("--watch ingests the .zip files of a folder, those there at start and those renamed in", async () => {
  await withTempDir("jrm-serve-", async (dir) => {
    await Deno.mkdir(`${dir}/in`);
    const signer = await hmacSigner();
    const early = await buildTestPacket({ signer, environmentId: "SOC_EAST" });
    await Deno.writeFile(`${dir}/in/early.zip`, early.bytes);
    const server = await startServer([
      "--store",
      `${dir}/s.sqlite`,
      "--now",
      NOW,
      "--watch",
      `${dir}/in`,
    ]);
    try {
      const late = await buildTestPacket({ signer, environmentId: "SOC_WEST" });
      await Deno.writeFile(`${dir}/late.tmp`, late.bytes);
      await Deno.rename(`${dir}/late.tmp`, `${dir}/in/late.zip`);
      // Wait (bounded) for both to be folded.
      let environments: string[] = [];
      for (let i = 0; i < 100 && environments.length < 2; i++) {
        environments = (await getJson(`${server.url}/v1/report`)).environments as string[];
        if (environments.length < 2) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(environments, ["SOC_EAST", "SOC_WEST"], server.stderr());
      // Files are left in place.
      assert.ok((await Deno.stat(`${dir}/in/early.zip`)).isFile);
    } finally {
      await stop(server);
    }
  });
});

browserTest(
  "GET / in Chromium: the live page runs under its CSP, shows the drift and who decided",
  async (chromium) => {
    await withTempDir("jrm-serve-", async (dir) => {
      const federation = await generateFederation(7, { environments: 3, windows: 2 });
      const { server, token } = await startWithOperator(dir, "bob");
      try {
        await pushAll(server.url, federation.packets, 4, 2);
        const { advisories } = await getJson(`${server.url}/v1/advisories`) as {
          advisories: { advisoryId: string }[];
        };
        assert.ok(advisories.length > 0);
        const declined = await fetch(
          `${server.url}/v1/advisories/${advisories[0].advisoryId}/decline`,
          {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ reason: "known lab noise" }),
          },
        );
        assert.equal(declined.status, 200);
        await declined.body?.cancel();
        const seen = await openPage(chromium, `${server.url}/`, async (page) => {
          await page.waitFor(`document.querySelectorAll("#matrix tbody tr").length > 0`);
          return {
            rows: await page.evaluate<number>(
              `document.querySelectorAll("#matrix tbody tr:not(.detail)").length`,
            ),
            advisories: await page.evaluate<string>(
              `document.getElementById("advisories-table").textContent`,
            ),
            refresh: await page.evaluate<string | null>(
              `document.querySelector('meta[http-equiv="refresh"]')?.content ?? null`,
            ),
            errors: page.errors,
          };
        });
        assert.ok(seen.rows > 0, "the matrix script ran and drew rows");
        assert.match(seen.advisories, /bob/);
        assert.match(seen.advisories, /known lab noise/);
        assert.equal(seen.refresh, "30");
        assert.deepEqual(seen.errors, [], "no script error, no CSP violation");
      } finally {
        await stop(server);
      }
    });
  },
);

async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
