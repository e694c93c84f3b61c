import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  advisoryActionOf,
  advisoryIdOf,
  evidenceFingerprint,
  listAdvisories,
  publishWithin,
} from "../core/advisory.ts";
import { sqliteStatements } from "../core/ledger.ts";
import { UsageError } from "../core/errors.ts";
import { MIGRATIONS, openLedger } from "../core/store.ts";
import { runJrm } from "./_cli.ts";
import { ledgerConformance, ledgerSnapshot } from "./_ledger_conformance.ts";
import { conflict, drift, posture, report, resolved, skew } from "./_report_fixture.ts";

// The ledger's lifecycle and concurrency tests, on SQLite (tests/_ledger_conformance.ts).
ledgerConformance({
  define: (name, fn) => Deno.test(`[sqlite] ${name}`, fn),
  async withLedger(work) {
    const dir = await Deno.makeTempDir({ prefix: "jrm-advisory-" });
    const path = `${dir}/ledger.sqlite`;
    const ledger = openLedger(path);
    try {
      await work(ledger, {
        store: path,
        run: { permissions: ["--allow-read", "--allow-write", "--allow-env"], env: {} },
        snapshot: () => ledgerSnapshot(ledger),
        async reopen(again) {
          using other = openLedger(path, { create: false });
          await again(other);
        },
      });
    } finally {
      ledger.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function assertUsageError(work: () => unknown, exitCode: number, message: RegExp): void {
  assert.throws(work, (error) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    assert.equal(error.exitCode, exitCode);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("advisoryIdOf() derives the id from type, signature and the set of environments", () => {
  const a = advisoryIdOf({ driftType: "VERSION_SKEW", signatureId: "s", environments: ["B", "A"] });
  assert.match(a, /^adv-[0-9a-f]{20}$/);
  assert.equal(
    a,
    advisoryIdOf({ driftType: "VERSION_SKEW", signatureId: "s", environments: ["A", "B", "A"] }),
  );
  assert.notEqual(
    a,
    advisoryIdOf({ driftType: "VERSION_SKEW", signatureId: "t", environments: ["A", "B"] }),
  );
  assert.notEqual(
    a,
    advisoryIdOf({ driftType: "POSTURE_DIVERGENCE", signatureId: "s", environments: ["A", "B"] }),
  );
  assert.notEqual(
    a,
    advisoryIdOf({ driftType: "VERSION_SKEW", signatureId: "s", environments: ["A", "B", "C"] }),
  );
});

Deno.test("evidenceFingerprint() counts the compared values, not provenance", async (t) => {
  await t.step("a new packet window with the same revisions is the same", () => {
    const before = skew("s", { A: 5, B: 3 }, "20250101T000000");
    const after = skew("s", { A: 5, B: 3 }, "20250201T000000");
    assert.notEqual(before.driftId, after.driftId);
    assert.equal(evidenceFingerprint(before), evidenceFingerprint(after));
    assert.notEqual(evidenceFingerprint(before), evidenceFingerprint(skew("s", { A: 5, B: 4 })));
  });
  await t.step("every provenance field of an environment's evidence is left out", () => {
    const provenance = {
      packetName: "p",
      source: "a.zip",
      digest: "sha256:00",
      windowStart: "2025-01-01T00:00:00Z",
      windowEnd: "2025-01-01T00:10:00Z",
      part: 1,
    };
    const bare = drift("X", "s", { A: { rev: 1 }, B: { rev: 2 } });
    const traced = drift("X", "s", { A: { rev: 1, ...provenance }, B: { rev: 2, part: 2 } });
    assert.equal(evidenceFingerprint(bare), evidenceFingerprint(traced));
  });
  await t.step("confidences and the threshold count", () => {
    const before = posture("s", { A: 0.9, B: 0.5 });
    assert.notEqual(
      evidenceFingerprint(before),
      evidenceFingerprint(posture("s", { A: 0.9, B: 0.4 })),
    );
    assert.notEqual(
      evidenceFingerprint(before),
      evidenceFingerprint(posture("s", { A: 0.9, B: 0.5 }, "0.25")),
    );
  });
  await t.step("the patches and the evidence shared by all (a conflicts list) count", () => {
    const before = conflict("s", { A: { rev: 4, patchId: "pa" }, B: { rev: 4, patchId: "pb" } });
    const moved = {
      ...before,
      evidence: { ...before.evidence, A: { rev: 4, patchId: "pa", packetName: "x" } },
    };
    assert.equal(evidenceFingerprint(before), evidenceFingerprint(moved));
    const otherConflict = conflict(
      "s",
      { A: { rev: 4, patchId: "pa" }, B: { rev: 4, patchId: "pb" } },
      "conflicting-changes",
    );
    assert.notEqual(evidenceFingerprint(before), evidenceFingerprint(otherConflict));
  });
  await t.step("the decision is not evidence", () => {
    const before = skew("s", { A: 5, B: 3 });
    assert.equal(
      evidenceFingerprint(before),
      evidenceFingerprint(resolved(before, "align", "A", ["B"])),
    );
  });
});

Deno.test("advisoryActionOf() maps align to move, review with a source to hold, else review", () => {
  assert.equal(advisoryActionOf({ action: "align", source: "A" }), "move");
  assert.equal(advisoryActionOf({ action: "review", source: "A" }), "hold");
  assert.equal(advisoryActionOf({ action: "review", source: null }), "review");
});

Deno.test("openLedger() sets up a team-safe ledger and refuses files it does not own", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jrm-store-" });
  try {
    await t.step(
      "a new ledger: WAL, busy timeout, foreign keys, schema at the newest version",
      () => {
        using ledger = openLedger(`${dir}/new/ledger.sqlite`);
        const pragma = (name: string) =>
          Object.values(ledger.db.prepare(`PRAGMA ${name}`).get()!)[0];
        assert.equal(pragma("journal_mode"), "wal");
        assert.equal(pragma("busy_timeout"), 5000);
        assert.equal(pragma("foreign_keys"), 1);
        assert.equal(ledger.schemaVersion, MIGRATIONS.length);
      },
    );
    await t.step("no ledger where one must exist", () => {
      assertUsageError(
        () => openLedger(`${dir}/missing.sqlite`, { create: false }),
        2,
        /^No store at ".*missing\.sqlite": publish a report or ingest packets first, or name an existing store$/,
      );
    });
    await t.step("a file that is not SQLite", async () => {
      await Deno.writeTextFile(`${dir}/notes.txt`, "not a database, just some notes\n".repeat(40));
      assertUsageError(
        () => openLedger(`${dir}/notes.txt`),
        2,
        /^".*notes\.txt" is not a jrm store: file is not a database$/,
      );
    });
    await t.step("another program's SQLite database", () => {
      const other = new DatabaseSync(`${dir}/places.sqlite`);
      other.exec("CREATE TABLE bookmarks (url TEXT)");
      other.close();
      assertUsageError(
        () => openLedger(`${dir}/places.sqlite`),
        2,
        /^".*places\.sqlite" is not a jrm store: it holds table "bookmarks" and no schema version$/,
      );
    });
    await t.step("a ledger from a newer jrm", () => {
      const path = `${dir}/future.sqlite`;
      openLedger(path).close();
      const db = new DatabaseSync(path);
      db.exec(`INSERT INTO schema_version VALUES (${MIGRATIONS.length + 1}, 'later')`);
      db.close();
      assertUsageError(
        () => openLedger(path),
        2,
        new RegExp(
          `^Store ".*future\\.sqlite" has schema version ${
            MIGRATIONS.length + 1
          }; this jrm knows up to ${MIGRATIONS.length}$`,
        ),
      );
    });
    await t.step("a new ledger another connection keeps locked past the timeout", () => {
      const path = `${dir}/held.sqlite`;
      const holder = new DatabaseSync(path);
      try {
        holder.exec("BEGIN IMMEDIATE");
        assertUsageError(
          () => openLedger(path, { busyTimeoutMs: 20 }),
          1,
          /^Store ".*held\.sqlite" is busy: another jrm kept it locked; try again$/,
        );
      } finally {
        holder.close();
      }
      using ledger = openLedger(path);
      assert.equal(ledger.db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      assert.equal(ledger.schemaVersion, MIGRATIONS.length);
    });
    await t.step("a ledger another connection is writing past the timeout", () => {
      const path = `${dir}/written.sqlite`;
      openLedger(path).close();
      using writer = openLedger(path);
      writer.db.exec("BEGIN IMMEDIATE");
      using other = openLedger(path, { busyTimeoutMs: 20 });
      assertUsageError(
        () => other.transaction(() => {}),
        1,
        /^Store ".*written\.sqlite" is busy: another jrm kept it locked; try again$/,
      );
      writer.db.exec("ROLLBACK");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLedger() waits for another process that is setting up the same new ledger", async () => {
  // Another process holds the write lock of a new, still empty ledger file,
  // as a second jrm does while it switches the file to WAL. Switching needs
  // that lock too, and SQLite refuses it at once rather than through the
  // busy timeout; openLedger must wait for the holder, then set up the file.
  const dir = await Deno.makeTempDir({ prefix: "jrm-store-" });
  try {
    const path = `${dir}/ledger.sqlite`;
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DatabaseSync } from "node:sqlite";
         const db = new DatabaseSync(${JSON.stringify(path)});
         db.exec("BEGIN IMMEDIATE");
         console.log("locked");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
         db.exec("ROLLBACK");
         db.close();`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await lines.read()).value?.trim(), "locked");
    {
      using ledger = openLedger(path);
      assert.equal(ledger.db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      assert.equal(ledger.schemaVersion, MIGRATIONS.length);
    }
    await lines.cancel();
    assert.equal((await holder.status).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLedger() from several processes at once on a new ledger: all succeed", async () => {
  // The processes start together but take unequal times to load, so each
  // waits for the same instant, far enough ahead for all of them to be
  // loaded: then they create the file, switch it to WAL and migrate it at
  // the same moment. A late process only makes the test weaker, never wrong:
  // every process must succeed however they interleave.
  const actors = ["p0", "p1", "p2", "p3"];
  const script = `
    import { openLedger } from ${JSON.stringify(new URL("../core/store.ts", import.meta.url).href)};
    const [path, me, at] = Deno.args;
    while (Date.now() < Number(at));
    using ledger = openLedger(path);
    ledger.transaction((db) => {
      db.prepare(
        "INSERT INTO publications (at, actor, report_generated_at, drifts) VALUES ('t', ?, 't', 0)",
      ).run(me);
    });
  `;
  const dir = await Deno.makeTempDir({ prefix: "jrm-store-" });
  try {
    const entry = `${dir}/open.ts`;
    await Deno.writeTextFile(entry, script);
    const path = `${dir}/new/ledger.sqlite`;
    const at = String(Date.now() + 1000);
    const runs = await Promise.all(
      actors.map((me) =>
        runJrm([path, me, at], { entry, permissions: ["--allow-read", "--allow-write"] })
      ),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    using ledger = openLedger(path, { create: false });
    const written = ledger.db.prepare("SELECT actor FROM publications ORDER BY actor").all();
    assert.deepEqual(written.map((row) => row.actor), actors);
    assert.equal(
      ledger.db.prepare("SELECT count(*) AS n FROM schema_version").get()?.n,
      MIGRATIONS.length,
    );
    assert.equal(ledger.schemaVersion, MIGRATIONS.length);
    assert.equal(ledger.db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[sqlite] listAdvisories() inside a transaction the caller holds reads in it", async () => {
  using ledger = openLedger(":memory:");
  await ledger.transactionAsync(async (db) => {
    await publishWithin(sqliteStatements(db), ledger.location, report([skew("s", { A: 2, B: 1 })]));
    assert.equal((await listAdvisories(ledger)).length, 1, "sees the transaction's own rows");
  });
  assert.equal((await listAdvisories(ledger)).length, 1);
});
