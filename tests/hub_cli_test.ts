/**
 * `jrm hub ingest`, `hub report` and `hub status` as users run them: in
 * their own processes, killed mid-transaction, two at once, and on stores
 * that are missing, corrupt, read-only, from a newer version or not stores.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { MIGRATIONS } from "../core/store.ts";
import { type CliRun, denoRunArgs, oneErrorLine, runJrm, withTempDir } from "./_cli.ts";
import { buildTestPacket, json } from "./_packets.ts";

const PACKETS = fileURLToPath(new URL("../fixtures/packets", import.meta.url));
const KEYRING = fileURLToPath(new URL("../fixtures/keyring.json", import.meta.url));
const NOW = "2026-03-01T00:00:00Z";
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The fixture packets of one environment. */
function packetsOf(env: string): string[] {
  return [...Deno.readDirSync(PACKETS)].map((e) => `${PACKETS}/${e.name}`)
    .filter((path) => path.includes(`_${env}_`)).sort();
}

function jrm(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runJrm(args, { env: { SOURCE_DATE_EPOCH: "", JRM_STORE: "", ...env } });
}

function ingestArgs(store: string, packets: string[], ...more: string[]): string[] {
  return [
    "hub",
    "ingest",
    "--store",
    store,
    "--packets",
    ...packets,
    "--keyring",
    KEYRING,
    "--now",
    NOW,
    ...more,
  ];
}

/** A report without what a store's report and a batch report may differ in. */
async function readComparable(path: string): Promise<Record<string, unknown>> {
  const report = JSON.parse(await Deno.readTextFile(path));
  delete report.generatedAt;
  delete report.duplicates;
  delete report.driftsGone;
  for (const drift of report.crossEnvDrifts) delete drift.life;
  return report;
}

async function lines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").sort();
}

Deno.test("hub ingest in two runs, then hub report and hub status, give what federate gives", async () => {
  await withTempDir("jrm-hub-cli-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const first = await jrm(ingestArgs(store, packetsOf("SOC_EAST")));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /3 accepted, 0 rejected, 0 duplicate, 0 withdrawn/);
    const second = await jrm(
      ingestArgs(store, [PACKETS], "--out", `${dir}/ingest.json`, "--detailed-exitcode"),
    );
    assert.equal(second.code, 2, "drift exists after the ingest: " + second.stderr);
    assert.match(second.stdout, /6 accepted, 0 rejected, 3 duplicate/);
    const report = await jrm([
      "hub",
      "report",
      "--store",
      store,
      "--out",
      `${dir}/report.json`,
      "--graph-out",
      `${dir}/graph.jsonl`,
      "--html",
      `${dir}/report.html`,
      "--now",
      NOW,
    ]);
    assert.equal(report.code, 0, report.stderr);
    const federate = await jrm([
      "federate",
      "--packets",
      PACKETS,
      "--keyring",
      KEYRING,
      "--out",
      `${dir}/federate.json`,
      "--graph-out",
      `${dir}/federate.jsonl`,
      "--now",
      NOW,
    ]);
    assert.equal(federate.code, 0, federate.stderr);
    const expected = await readComparable(`${dir}/federate.json`);
    assert.deepEqual(await readComparable(`${dir}/report.json`), expected);
    assert.deepEqual(await readComparable(`${dir}/ingest.json`), expected);
    assert.deepEqual(await lines(`${dir}/graph.jsonl`), await lines(`${dir}/federate.jsonl`));
    assert.match(await Deno.readTextFile(`${dir}/report.html`), /^<!doctype html>/i);
    const written = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(written.duplicates.length, 3);
    assert.equal(written.crossEnvDrifts[0].life.firstSeenAt, "2026-03-01T00:00:00.000Z");
    const status = await jrm(["hub", "status", "--store", store, "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const shown = JSON.parse(status.stdout);
    assert.deepEqual(
      shown.environments.map((e: { environmentId: string; packets: number }) => [
        e.environmentId,
        e.packets,
      ]),
      [["SOC_EAST", 3], ["SOC_NORTH", 3], ["SOC_WEST", 3]],
    );
    assert.equal(shown.store.accepted, 9);
    assert.equal(shown.lastIngest.duplicates, 3);
    assert.equal(shown.drifts.current.length, written.crossEnvDrifts.length);
    const table = await jrm(["hub", "status", "--store", store]);
    assert.match(table.stdout, /SOC_NORTH\s+3\s+2026-02-28T10:20:00Z/);
  });
});

Deno.test("hub ingest exits 1 for a rejected packet, publishes with --publish, prints JSON with --json", async () => {
  await withTempDir("jrm-hub-cli-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const unsigned = `${dir}/unsigned.zip`;
    await Deno.writeFile(unsigned, (await buildTestPacket({ environmentId: "SOC_EAST" })).bytes);
    const run = await jrm(
      ingestArgs(store, [PACKETS, unsigned], "--require-signature", "--publish", "--json"),
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: 1 of 10 packet\(s\) rejected/m);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.outcomes.filter((o: { kind: string }) => o.kind === "accepted").length, 9);
    const rejected = printed.outcomes.find((o: { kind: string }) => o.kind === "rejected");
    assert.equal(rejected.reasonCode, "SIGNATURE_MISSING");
    const advisories = await jrm(["advisory", "list", "--store", store, "--json"]);
    assert.equal(advisories.code, 0, advisories.stderr);
    assert.ok(JSON.parse(advisories.stdout).advisories.length > 0);
  });
});

/** Spawn `jrm` with a test pause; its stderr is collected as it comes. */
function spawnJrm(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(args),
    cwd: ROOT,
    env: { NO_COLOR: "1", SOURCE_DATE_EPOCH: "", JRM_STORE: "", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const stdout = new Response(child.stdout).text();
  return {
    child,
    stderr: () => stderr,
    async done(): Promise<CliRun> {
      const status = await child.status;
      await reading;
      return { code: status.code, stdout: await stdout, stderr };
    },
  };
}

/** Wait for `check` to hold, polling, at most `seconds`: a bound, not a timing assertion. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, seconds = 120) {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("hub ingest killed with SIGKILL inside its transaction leaves the store as before; a re-run lands", async (t) => {
  await withTempDir("jrm-hub-cli-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    assert.equal((await jrm(ingestArgs(store, packetsOf("SOC_EAST")))).code, 0);
    const report = async (name: string) => {
      const run = await jrm(["hub", "report", "--store", store, "--out", `${dir}/${name}`]);
      assert.equal(run.code, 0, run.stderr);
      return await readComparable(`${dir}/${name}`);
    };
    const before = await report("before.json");
    const rest = [...packetsOf("SOC_NORTH"), ...packetsOf("SOC_WEST")];
    for (const stage of ["packet:2", "commit"]) {
      await t.step(`killed at ${stage}`, async () => {
        const marker = `${dir}/paused-${stage.replace(":", "-")}`;
        const ingest = spawnJrm(ingestArgs(store, rest), {
          JRM_TEST_INGEST_PAUSE: `${stage}:${marker}`,
        });
        await waitFor(`the ingest to pause at ${stage}`, () => exists(marker));
        ingest.child.kill("SIGKILL");
        const killed = await ingest.done();
        assert.equal(killed.code, 137, killed.stderr);
        assert.deepEqual(await report("after-kill.json"), before);
      });
    }
    await t.step("the re-run gives the state after", async () => {
      const rerun = await jrm(ingestArgs(store, rest));
      assert.equal(rerun.code, 0, rerun.stderr);
      const federate = await jrm([
        "federate",
        "--packets",
        PACKETS,
        "--keyring",
        KEYRING,
        "--out",
        `${dir}/federate.json`,
      ]);
      assert.equal(federate.code, 0, federate.stderr);
      assert.deepEqual(await report("after.json"), await readComparable(`${dir}/federate.json`));
    });
  });
});

Deno.test("two hub ingest processes on one store: the second waits and both land", async (t) => {
  await withTempDir("jrm-hub-cli-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const marker = `${dir}/first-paused`;
    const first = spawnJrm(ingestArgs(store, packetsOf("SOC_EAST")), {
      JRM_TEST_INGEST_PAUSE: `commit:${marker}`,
    });
    try {
      await waitFor("the first ingest to hold the store", () => exists(marker));
      await t.step("a second one with a short --lock-timeout gives up, exit 1", async () => {
        const impatient = await jrm(
          ingestArgs(store, packetsOf("SOC_WEST"), "--lock-timeout", "1"),
        );
        assert.match(impatient.stderr, /^waiting up to 1 s for another ingest to finish with/m);
        assert.match(
          impatient.stderr,
          /^error: Store ".*store\.sqlite" is busy: another ingest kept it locked for 1 s; try again$/m,
        );
        assert.equal(impatient.code, 1);
      });
      const second = spawnJrm(ingestArgs(store, packetsOf("SOC_NORTH")), {});
      await waitFor(
        "the second ingest to say it waits",
        () => /waiting up to 60 s/.test(second.stderr()),
      );
      await Deno.writeTextFile(`${marker}.go`, "");
      const [a, b] = [await first.done(), await second.done()];
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
    } finally {
      await Deno.writeTextFile(`${marker}.go`, "");
      await first.done();
    }
    const status = await jrm(["hub", "status", "--store", store, "--json"]);
    const shown = JSON.parse(status.stdout);
    assert.deepEqual(
      shown.environments.map((e: { environmentId: string }) => e.environmentId),
      ["SOC_EAST", "SOC_NORTH"],
    );
    assert.equal(shown.store.ingests, 2);
  });
});

Deno.test("stores that cannot be used are refused in one line and left untouched", async (t) => {
  await withTempDir("jrm-hub-cli-", async (dir) => {
    const east = packetsOf("SOC_EAST");
    const readers = (store: string) => [
      ["hub", "status", "--store", store],
      ["hub", "report", "--store", store, "--out", `${dir}/r.json`],
      ["advisory", "list", "--store", store],
    ];
    await t.step("missing: readers refuse it and create nothing", async () => {
      const store = `${dir}/none.sqlite`;
      for (const args of readers(store)) {
        const line = oneErrorLine(await jrm(args), 2);
        assert.match(line, /^error: No store at ".*none\.sqlite"/);
        assert.equal(await exists(store), false);
      }
    });
    const unchanged = async (store: string, args: string[][], message: RegExp) => {
      const bytes = await Deno.readFile(store);
      for (const command of args) {
        assert.match(oneErrorLine(await jrm(command), 2), message, command.join(" "));
        assert.deepEqual(await Deno.readFile(store), bytes, `${command.join(" ")} changed it`);
      }
    };
    await t.step("not a database", async () => {
      const store = `${dir}/notes.sqlite`;
      await Deno.writeTextFile(store, "some notes, not a database\n".repeat(100));
      await unchanged(
        store,
        [ingestArgs(store, east), ...readers(store)],
        /^error: ".*notes\.sqlite" is not a jrm store: file is not a database$/,
      );
    });
    await t.step("another program's database", async () => {
      const store = `${dir}/places.sqlite`;
      const db = new DatabaseSync(store);
      db.exec("CREATE TABLE bookmarks (url TEXT)");
      db.close();
      await unchanged(
        store,
        [ingestArgs(store, east), ...readers(store)],
        /is not a jrm store: it holds table "bookmarks" and no schema version$/,
      );
    });
    await t.step("a store from a newer jrm", async () => {
      const store = `${dir}/future.sqlite`;
      assert.equal((await jrm(ingestArgs(store, east))).code, 0);
      const db = new DatabaseSync(store);
      db.exec(`INSERT INTO schema_version VALUES (${MIGRATIONS.length + 1}, 'later')`);
      db.close();
      await unchanged(
        store,
        [ingestArgs(store, east), ...readers(store)],
        new RegExp(`has schema version ${MIGRATIONS.length + 1}; this jrm knows up to`),
      );
    });
    await t.step("a corrupt store", async () => {
      const store = `${dir}/corrupt.sqlite`;
      assert.equal((await jrm(ingestArgs(store, east))).code, 0);
      const bytes = await Deno.readFile(store);
      // Every page after the first (which holds the schema) overwritten.
      const page = new DataView(bytes.buffer).getUint16(16);
      bytes.fill(0xa5, page);
      await Deno.writeFile(store, bytes);
      await unchanged(
        store,
        [ingestArgs(store, east), ["hub", "status", "--store", store]],
        /^error: Store ".*corrupt\.sqlite" is corrupt: database disk image is malformed$/,
      );
    });
    await t.step("a read-only store: refused by ingest, read by status", async () => {
      const store = `${dir}/frozen.sqlite`;
      assert.equal((await jrm(ingestArgs(store, east))).code, 0);
      await makeReadOnly(store, async () => {
        await unchanged(
          store,
          [ingestArgs(store, packetsOf("SOC_WEST"))],
          /^error: Store ".*frozen\.sqlite" is read-only: this command writes to it$/,
        );
        const status = await jrm(["hub", "status", "--store", store, "--json"]);
        assert.equal(status.code, 0, status.stderr);
        assert.equal(JSON.parse(status.stdout).store.accepted, 3);
      });
    });
    await t.step(
      "a store of an older schema: readers read it as it is, ingest migrates it",
      async () => {
        const store = `${dir}/old.sqlite`;
        const db = new DatabaseSync(store);
        db.exec("PRAGMA journal_mode = WAL");
        db.exec(
          "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        );
        db.exec(MIGRATIONS[0]);
        db.exec("INSERT INTO schema_version VALUES (1, 'then')");
        db.close();
        const status = await jrm(["hub", "status", "--store", store, "--json"]);
        assert.equal(status.code, 0, status.stderr);
        assert.equal(JSON.parse(status.stdout).store.schemaVersion, 1);
        assert.deepEqual(JSON.parse(status.stdout).environments, []);
        assert.equal((await jrm(ingestArgs(store, east))).code, 0);
        const after = await jrm(["hub", "status", "--store", store, "--json"]);
        assert.equal(JSON.parse(after.stdout).store.schemaVersion, MIGRATIONS.length);
      },
    );
  });
});

/**
 * Make a file read-only for this process while `use` runs: by its mode, or,
 * when the mode does not stop this process (root), by the immutable attribute.
 */
async function makeReadOnly(path: string, use: () => Promise<void>): Promise<void> {
  await Deno.chmod(path, 0o444);
  let privileged = false;
  try {
    (await Deno.open(path, { write: true })).close();
    privileged = true;
  } catch { /* the mode is enough */ }
  const chattr = (flag: string) =>
    new Deno.Command("chattr", { args: [flag, path], stderr: "null" }).output();
  try {
    if (privileged && !(await chattr("+i")).success) {
      console.warn("skipped: chattr +i is not available to make a file read-only for root");
      return;
    }
    await use();
  } finally {
    if (privileged) await chattr("-i");
    await Deno.chmod(path, 0o644);
  }
}

Deno.test("hub ingest takes --now and --max-clock-skew, and refuses equivocation across runs with exit 1", async () => {
  await withTempDir("jrm-hub-cli-", async (dir) => {
    const store = `${dir}/store.sqlite`;
    const write = async (name: string, options: Parameters<typeof buildTestPacket>[0]) => {
      const path = `${dir}/${name}.zip`;
      await Deno.writeFile(path, (await buildTestPacket(options)).bytes);
      return path;
    };
    // Unsigned packets, no keyring: only the clock and equivocation can refuse them.
    const ingestArgs = (store: string, packets: string[], ...more: string[]) => [
      "hub",
      "ingest",
      "--store",
      store,
      "--packets",
      ...packets,
      "--now",
      NOW,
      ...more,
    ];
    // An hour after the clock: refused with the default skew, judged again and taken with more.
    const future = await write("future", {
      environmentId: "SOC_WEST",
      windowStart: "2026-03-01T00:50:00Z",
      windowEnd: "2026-03-01T01:00:00Z",
    });
    let run = await jrm(ingestArgs(store, [future]));
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /WINDOW_IN_FUTURE/);
    run = await jrm(ingestArgs(store, [future], "--max-clock-skew", "3600"));
    assert.equal(run.code, 0, run.stderr);
    const canon = (rev: number) => ({
      "canon_entry.json": json({ environmentId: "SOC_EAST", entries: { "sig-1": { rev } } }),
    });
    const one = await write("one", { environmentId: "SOC_EAST", files: canon(1) });
    const other = await write("other", { environmentId: "SOC_EAST", files: canon(2) });
    run = await jrm(ingestArgs(store, [one]));
    assert.equal(run.code, 0, run.stderr);
    run = await jrm(ingestArgs(store, [other], "--json"));
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /1 packet\(s\) ingested before are refused from now on/);
    const printed = JSON.parse(run.stdout);
    assert.deepEqual(printed.withdrawn.map((p: { source: string }) => p.source), [one]);
    const digest = async (path: string) =>
      "sha256:" + Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path))),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
    // Sent again, the earlier one stays refused, naming the other's digest, and the run exits 1.
    run = await jrm(ingestArgs(store, [one]));
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /EQUIVOCATION/);
    assert.ok(run.stdout.includes(await digest(other)), run.stdout);
    run = await jrm(["hub", "report", "--store", store, "--out", `${dir}/report.json`]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.deepEqual(report.environments, ["SOC_WEST"]);
    const refused = report.packetsRejected.map((r: { source: string; reasonCode: string }) =>
      `${r.source} ${r.reasonCode}`
    ).sort();
    assert.deepEqual(refused, [`${one} EQUIVOCATION`, `${other} EQUIVOCATION`]);
  });
});
