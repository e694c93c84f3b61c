import assert from "node:assert/strict";
import { advisoryIdOf } from "../core/advisory.ts";
import { type Ledger, MIGRATIONS, openLedger } from "../core/store.ts";
import { type CliRun, runJrm, withTempDir } from "./_cli.ts";
import { posture, report, resolved, skew } from "./_report_fixture.ts";

/** The permissions the advisory commands need, and no more. */
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env=JRM_STORE,SOURCE_DATE_EPOCH,NO_COLOR",
];

/** Run `jrm advisory …` in its own process. */
function jrm(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  return runJrm(["advisory", ...args], {
    cwd: options.cwd,
    permissions: PERMISSIONS,
    // Empty values count as unset, so the caller's own environment cannot leak in.
    env: { JRM_STORE: "", SOURCE_DATE_EPOCH: "", ...options.env },
  });
}

function assertOk(run: CliRun): CliRun {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  assert.equal(run.stderr, "");
  return run;
}

/** A failed run: the exit code, and one line on stderr, no stack trace. */
function assertFails(run: CliRun, code: number, message: RegExp): void {
  assert.equal(run.code, code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.match(run.stderr, /^error: [^\n]*\n$/);
  assert.match(run.stderr.slice("error: ".length, -1), message);
  assert.equal(run.stdout, "");
}

/** The prefix of each test's temporary directory. */
const TEMP_PREFIX = "jrm-advisory-cli-";

async function writeReport(path: string, drifts: Parameters<typeof report>[0]): Promise<string> {
  await Deno.writeTextFile(path, JSON.stringify(report(drifts), null, 2));
  return path;
}

function query<T>(store: string, read: (ledger: Ledger) => T): T {
  const ledger = openLedger(store, { create: false });
  try {
    return read(ledger);
  } finally {
    ledger.close();
  }
}

function rows(store: string): string {
  return query(store, (ledger) =>
    JSON.stringify(
      ["advisories", "advisory_history", "publications", "schema_version"].map((table) =>
        ledger.db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all()
      ),
    ));
}

function statusOf(store: string, advisoryId: string): unknown {
  return query(
    store,
    (ledger) =>
      ledger.db.prepare("SELECT status FROM advisories WHERE advisory_id = ?").get(advisoryId)
        ?.status,
  );
}

const X = resolved(
  skew("sig-x", { A: 5, B: 3 }),
  "align",
  "A",
  ["B"],
  'Move B (revision 3) to revision 5 of signature "sig-x", as A has it',
);
const Y = resolved(skew("sig-y", { A: 2, C: 1 }), "align", "A", ["C"]);
const Z = posture("sig-z", { A: 0.5, B: 0.55, C: 0.9 });

Deno.test("advisory publish writes the ledger that later processes list and show", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X, Y]);
    const published = assertOk(
      await jrm([
        "publish",
        "--from",
        from,
        "--store",
        store,
        "--out",
        `${dir}/advisories.json`,
        "--json",
        "--now",
        "2025-01-02T00:00:00Z",
      ]),
    );
    const result = JSON.parse(published.stdout);
    assert.equal(result.ledger, store);
    assert.deepEqual(result.created, [advisoryIdOf(X), advisoryIdOf(Y)].sort());
    const written = JSON.parse(await Deno.readTextFile(`${dir}/advisories.json`));
    assert.deepEqual(written, { advisories: result.advisories });

    const listed = JSON.parse(assertOk(await jrm(["list", "--store", store, "--json"])).stdout);
    assert.deepEqual(listed.advisories, result.advisories);

    const lines = assertOk(await jrm(["list", "--store", store])).stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.match(
      lines.find((line) => line.includes("sig-x"))!,
      new RegExp(`^${advisoryIdOf(X)}  published  medium    VERSION_SKEW {9}sig-x  A → B$`),
    );

    const shown = assertOk(await jrm(["show", advisoryIdOf(X), "--store", store])).stdout;
    assert.match(
      shown,
      /^recommendation: Move B \(revision 3\) to revision 5 of signature "sig-x", as A has it$/m,
    );
    assert.match(
      shown,
      /^history:\n {2}2025-01-02T00:00:00\.000Z {2}jrm {2}\(new\) → published: drift reported$/m,
    );

    const again = JSON.parse(
      assertOk(await jrm(["publish", "--from", from, "--store", store, "--json"])).stdout,
    );
    assert.deepEqual(again.created, []);
    assert.deepEqual(again.unchanged, result.created);
  });
});

Deno.test("advisory accept and decline persist across processes", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X, Y]);
    assertOk(await jrm(["publish", "--from", from, "--store", store]));
    const accepted = assertOk(
      await jrm([
        "accept",
        advisoryIdOf(X),
        "--by",
        "alice",
        "--reason",
        "rolling out",
        "--store",
        store,
        "--now",
        "2025-01-03T10:00:00Z",
      ]),
    );
    assert.match(
      accepted.stdout,
      /^Accepted adv-[0-9a-f]{20} \(VERSION_SKEW on "sig-x"\) by alice: Move B/,
    );
    assertOk(
      await jrm([
        "decline",
        advisoryIdOf(Y),
        "--by",
        "bob",
        "--reason",
        "C is frozen",
        "--store",
        store,
      ]),
    );

    const x = JSON.parse(
      assertOk(await jrm(["show", advisoryIdOf(X), "--store", store, "--json"])).stdout,
    );
    assert.equal(x.status, "accepted");
    assert.deepEqual(x.history.at(-1), {
      at: "2025-01-03T10:00:00.000Z",
      by: "alice",
      from: "published",
      to: "accepted",
      reason: "rolling out",
      driftId: X.driftId,
    });
    const declined = JSON.parse(
      assertOk(await jrm(["list", "--status", "declined", "--store", store, "--json"])).stdout,
    );
    assert.deepEqual(declined.advisories.map((a: { advisoryId: string }) => a.advisoryId), [
      advisoryIdOf(Y),
    ]);
    assert.equal(declined.advisories[0].history.at(-1).reason, "C is frozen");

    // A republish of the same report does not re-ask either decision.
    assertOk(await jrm(["publish", "--from", from, "--store", store]));
    assert.equal(statusOf(store, advisoryIdOf(X)), "accepted");
    assert.equal(statusOf(store, advisoryIdOf(Y)), "declined");
  });
});

Deno.test("two processes deciding on different advisories at once both persist", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X, Y, Z]);
    assertOk(await jrm(["publish", "--from", from, "--store", store]));
    const runs = await Promise.all([
      jrm(["accept", advisoryIdOf(X), "--by", "alice", "--store", store]),
      jrm(["decline", advisoryIdOf(Y), "--by", "bob", "--reason", "frozen", "--store", store]),
      jrm(["accept", advisoryIdOf(Z), "--by", "carol", "--store", store]),
    ]);
    runs.forEach(assertOk);
    assert.equal(statusOf(store, advisoryIdOf(X)), "accepted");
    assert.equal(statusOf(store, advisoryIdOf(Y)), "declined");
    assert.equal(statusOf(store, advisoryIdOf(Z)), "accepted");
    const deciders = query(store, (ledger) =>
      ledger.db.prepare(
        "SELECT actor FROM advisory_history WHERE from_status = 'published' ORDER BY actor",
      ).all().map((row) => row.actor));
    assert.deepEqual(deciders, ["alice", "bob", "carol"]);
  });
});

Deno.test("two processes deciding on the same advisory at once: exactly one wins", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X]);
    assertOk(await jrm(["publish", "--from", from, "--store", store]));
    const id = advisoryIdOf(X);
    const runs = await Promise.all([
      jrm(["accept", id, "--by", "alice", "--store", store]),
      jrm(["decline", id, "--by", "bob", "--reason", "no", "--store", store]),
    ]);
    const winners = runs.filter((run) => run.code === 0);
    const losers = runs.filter((run) => run.code !== 0);
    assert.equal(winners.length, 1);
    assertFails(
      losers[0],
      1,
      /^Cannot (accept|decline) advisory "adv-[0-9a-f]{20}": it is (accepted|declined) \(by (alice|bob) at /,
    );
    const decisions = query(store, (ledger) =>
      ledger.db.prepare(
        "SELECT to_status FROM advisory_history WHERE advisory_id = ? AND from_status = 'published'",
      ).all(id));
    assert.equal(decisions.length, 1);
  });
});

Deno.test("two processes publishing into a new ledger at once both succeed", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/new/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X]);
    const runs = await Promise.all([
      jrm(["publish", "--from", from, "--store", store, "--json"]),
      jrm(["publish", "--from", from, "--store", store, "--json"]),
    ]);
    const results = runs.map((run) => JSON.parse(assertOk(run).stdout));
    assert.deepEqual(results.flatMap((r) => r.created), [advisoryIdOf(X)]);
    assert.deepEqual(results.flatMap((r) => r.unchanged), [advisoryIdOf(X)]);
    const counts = query(store, (ledger) => [
      ledger.db.prepare("SELECT count(*) AS n FROM advisories").get()?.n,
      ledger.db.prepare("SELECT count(*) AS n FROM publications").get()?.n,
      ledger.db.prepare("SELECT count(*) AS n FROM schema_version").get()?.n,
    ]);
    assert.deepEqual(counts, [1, 2, MIGRATIONS.length]);
  });
});

Deno.test("advisory publish refuses a bad report and leaves the ledger as it was", async (t) => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X]);
    assertOk(await jrm(["publish", "--from", from, "--store", store]));
    assertOk(await jrm(["accept", advisoryIdOf(X), "--by", "alice", "--store", store]));
    const bytes = await Deno.readFile(store);
    const before = rows(store);
    const notAReport = structuredClone(report([Y])) as Record<string, unknown>;
    delete notAReport.crossEnvDrifts;
    const cases: [string, string | Uint8Array | null, RegExp][] = [
      ["a missing file", null, /^Cannot read report ".*missing\.json": not found$/],
      ["a file that is not JSON", "{ not json", /^Cannot parse ".*\.json": /],
      ["an empty file", "", /^Cannot parse ".*\.json": Unexpected end of JSON input$/],
      ["bytes that are not UTF-8", new Uint8Array([0xff, 0xfe, 0x7b]), /not valid UTF-8/],
      ["JSON that is not an object", "[1, 2]", /^".*\.json" is not a federation report: /],
      [
        "a report without its drifts",
        JSON.stringify(notAReport),
        /^".*\.json" is not a federation report: field "crossEnvDrifts": /,
      ],
      [
        "a report of another version",
        JSON.stringify({ ...report([Y]), reportVersion: 3 }),
        /^".*\.json" is not a federation report: field "reportVersion": /,
      ],
    ];
    for (const [what, content, message] of cases) {
      await t.step(what, async () => {
        const path = `${dir}/${content === null ? "missing" : "bad"}.json`;
        if (typeof content === "string") await Deno.writeTextFile(path, content);
        else if (content !== null) await Deno.writeFile(path, content);
        assertFails(await jrm(["publish", "--from", path, "--store", store]), 2, message);
        assert.deepEqual(await Deno.readFile(store), bytes);
        assert.equal(rows(store), before);
      });
    }
    await t.step("an --out that cannot be written", async () => {
      const changed = await writeReport(`${dir}/changed.json`, [X, Y]);
      // Its directory would be a file: the write fails once the advisories are made.
      assertFails(
        await jrm([
          "publish",
          "--from",
          changed,
          "--store",
          store,
          "--out",
          `${changed}/advisories.json`,
        ]),
        1,
        /^Cannot write ".*changed\.json\/advisories\.json": /,
      );
      assert.equal(rows(store), before);
    });
    await t.step("an --out that is a directory", async () => {
      const changed = await writeReport(`${dir}/changed.json`, [X, Y]);
      assertFails(
        await jrm(["publish", "--from", changed, "--store", store, "--out", dir]),
        2,
        /^--out ".*" is a directory; an output is a regular file, written whole$/,
      );
      assert.equal(rows(store), before);
    });
  });
});

Deno.test("advisory commands refuse unknown ids and invalid transitions", async (t) => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X]);
    assertOk(await jrm(["publish", "--from", from, "--store", store]));
    assertOk(
      await jrm(["decline", advisoryIdOf(X), "--by", "bob", "--reason", "no", "--store", store]),
    );
    const before = rows(store);
    const cases: [string, string[], number, RegExp][] = [
      [
        "accepting an unknown id",
        ["accept", "adv-ffffffffffffffffffff", "--by", "alice"],
        1,
        /^No advisory "adv-ffffffffffffffffffff" in ledger ".*ledger\.sqlite"$/,
      ],
      ["showing an unknown id", ["show", "adv-nope"], 1, /^No advisory "adv-nope"/],
      [
        "accepting a declined advisory",
        ["accept", advisoryIdOf(X), "--by", "alice"],
        1,
        /^Cannot accept advisory "adv-[0-9a-f]{20}": it is declined \(by bob at .*\); only a published advisory can be accepted or declined$/,
      ],
      [
        "declining with an empty reason",
        ["decline", advisoryIdOf(X), "--by", "bob", "--reason", ""],
        2,
        /^Declining needs a reason \(--reason\)$/,
      ],
      [
        "a bad --now",
        ["accept", advisoryIdOf(X), "--by", "a", "--now", "noon"],
        2,
        /^--now needs an ISO 8601/,
      ],
    ];
    for (const [what, args, code, message] of cases) {
      await t.step(what, async () => {
        assertFails(await jrm([...args, "--store", store]), code, message);
        assert.equal(rows(store), before);
      });
    }
    await t.step("a decision in a ledger that does not exist", async () => {
      assertFails(
        await jrm(["accept", advisoryIdOf(X), "--by", "a", "--store", `${dir}/none.sqlite`]),
        2,
        /^No store at ".*none\.sqlite": publish a report or ingest packets first, or name an existing store \(--store\)$/,
      );
      await assert.rejects(() => Deno.stat(`${dir}/none.sqlite`), Deno.errors.NotFound);
    });
    await t.step("flags commander refuses exit 2", async () => {
      for (
        const args of [
          ["decline", advisoryIdOf(X), "--by", "bob"],
          ["list", "--status", "open"],
          ["accept", advisoryIdOf(X)],
        ]
      ) {
        const run = await jrm([...args, "--store", store]);
        assert.equal(run.code, 2, args.join(" "));
        assert.match(run.stderr, /^error: /);
      }
      assert.equal(rows(store), before);
    });
  });
});

Deno.test("the ledger is --store, else JRM_STORE, else ./.jrm/ledger.sqlite", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const from = await writeReport(`${dir}/report.json`, [X]);
    assertOk(await jrm(["publish", "--from", from], { cwd: dir }));
    assert.equal(statusOf(`${dir}/.jrm/ledger.sqlite`, advisoryIdOf(X)), "published");

    const env = { JRM_STORE: `${dir}/team.sqlite` };
    assertOk(await jrm(["publish", "--from", from], { cwd: dir, env }));
    assertOk(await jrm(["accept", advisoryIdOf(X), "--by", "alice"], { cwd: dir, env }));
    assert.equal(statusOf(`${dir}/team.sqlite`, advisoryIdOf(X)), "accepted");
    assert.equal(statusOf(`${dir}/.jrm/ledger.sqlite`, advisoryIdOf(X)), "published");

    assertOk(
      await jrm(["publish", "--from", from, "--store", `${dir}/mine.sqlite`], { cwd: dir, env }),
    );
    assert.equal(statusOf(`${dir}/mine.sqlite`, advisoryIdOf(X)), "published");
  });
});

Deno.test("recorded times come from --now, else SOURCE_DATE_EPOCH", async () => {
  await withTempDir(TEMP_PREFIX, async (dir) => {
    const store = `${dir}/ledger.sqlite`;
    const from = await writeReport(`${dir}/report.json`, [X]);
    const env = { SOURCE_DATE_EPOCH: "1700000000" };
    const published = JSON.parse(
      assertOk(await jrm(["publish", "--from", from, "--store", store, "--json"], { env })).stdout,
    );
    assert.equal(published.advisories[0].createdAt, "2023-11-14T22:13:20.000Z");
    const accepted = JSON.parse(
      assertOk(
        await jrm([
          "accept",
          advisoryIdOf(X),
          "--by",
          "alice",
          "--store",
          store,
          "--json",
          "--now",
          "2024-02-03T04:05:06+01:00",
        ], { env }),
      ).stdout,
    );
    assert.equal(accepted.updatedAt, "2024-02-03T03:05:06.000Z");
    assertFails(
      await jrm(["publish", "--from", from, "--store", store], {
        env: { SOURCE_DATE_EPOCH: "soon" },
      }),
      2,
      /^SOURCE_DATE_EPOCH must be whole seconds since 1970, not "soon"$/,
    );
  });
});
