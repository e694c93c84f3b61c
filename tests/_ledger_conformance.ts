/**
 * The advisory ledger's conformance suite: the lifecycle of advisories
 * (publish, decide, resolve, reopen), what a failed operation leaves, and
 * concurrent decisions from several processes, run against every backend of
 * the store contract (core/ledger.ts): tests/advisory_test.ts runs it on
 * SQLite, tests/advisory_postgres_test.ts on PostgreSQL. A backend is done
 * when this passes on it.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  accept,
  type Advisory,
  advisoryIdOf,
  decline,
  evidenceFingerprint,
  getAdvisory,
  listAdvisories,
  publish,
} from "../core/advisory.ts";
import { canonicalize } from "../core/canonical_json.ts";
import { UsageError } from "../core/errors.ts";
import type { AdvisoryLedger } from "../core/ledger.ts";
import { sha256Ref } from "../core/packet.ts";
import { denoRunArgs, runJrm } from "./_cli.ts";
import { conflict, drift, posture, report, resolved, skew } from "./_report_fixture.ts";

const T0 = new Date("2025-01-02T00:00:00Z");
const T1 = new Date("2025-01-03T00:00:00Z");
const T2 = new Date("2025-01-04T00:00:00Z");

/** A fresh, empty ledger of one backend, for one test. */
export interface TestStore {
  /** The `--store` value that names it. */
  store: string;
  /** What `jrm` needs to reach it: Deno permissions and environment (e.g. PGPASSWORD). */
  run: { permissions: string[]; env: Record<string, string> };
  /** Everything it holds, row by row, to show that a failed operation changed nothing. */
  snapshot(): Promise<string>;
  /**
   * Open the same store on a new connection, for `work`.
   * @param work what to do with it
   */
  reopen(work: (ledger: AdvisoryLedger) => Promise<void>): Promise<void>;
}

/** How the suite gets a backend's ledgers. */
export interface LedgerBackend {
  /** Register a test (e.g. `Deno.test`, or one skipped without a server). */
  define: (name: string, fn: (t: Deno.TestContext) => Promise<void>) => void;
  /**
   * Give `work` a fresh, empty ledger, open for writing, and remove it after.
   * @param work the test
   */
  withLedger(work: (ledger: AdvisoryLedger, store: TestStore) => Promise<void>): Promise<void>;
}

/**
 * Everything a ledger holds, table by table, through the store contract.
 * @param ledger the ledger
 * @returns the rows as JSON
 */
export async function ledgerSnapshot(ledger: AdvisoryLedger): Promise<string> {
  const tables = ["advisories", "advisory_history", "publications", "schema_version"];
  return await ledger.read(async (sql) =>
    JSON.stringify(
      await Promise.all(tables.map((table) => sql.all(`SELECT * FROM ${table} ORDER BY 1`))),
    )
  );
}

async function assertRejectsUsage(work: () => Promise<unknown>, exitCode: number, message: RegExp) {
  await assert.rejects(work, (error) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    assert.equal(error.exitCode, exitCode);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function only(advisories: Advisory[]): Advisory {
  assert.equal(advisories.length, 1);
  return advisories[0];
}

/**
 * Register the suite's tests for one backend.
 * @param backend how to define tests and get ledgers
 */
export function ledgerConformance(backend: LedgerBackend): void {
  const { define, withLedger } = backend;

  define(
    "publish() takes source, targets, action and recommendation from the drift's resolution",
    async (t) => {
      await withLedger(async (ledger) => {
        const cases: {
          what: string;
          drift: ReturnType<typeof skew>;
          sourceEnv: string | null;
          targetEnvs: string[];
          action: string;
          recommendation: string;
        }[] = [
          {
            what: "align: the targets move to the source",
            drift: resolved(
              skew("sig-skew", { A: { rev: 5, patchId: "p5" }, B: 3, C: 4 }),
              "align",
              "A",
              ["C", "B"],
              "Move B and C to revision 5, as A has it",
            ),
            sourceEnv: "A",
            targetEnvs: ["B", "C"],
            action: "move",
            recommendation: "Move B and C to revision 5, as A has it",
          },
          {
            what: "review with a source: a hold",
            drift: resolved(skew("sig-hold", { A: 5, B: 3 }), "review", "A", ["B"], "Hold: look"),
            sourceEnv: "A",
            targetEnvs: ["B"],
            action: "hold",
            recommendation: "Hold: look",
          },
          {
            what: "review without a source, some environments",
            drift: resolved(posture("sig-posture", { A: 0.5, B: 0.55, C: 0.9 }), "review", null, [
              "C",
            ], "Review C"),
            sourceEnv: null,
            targetEnvs: ["C"],
            action: "review",
            recommendation: "Review C",
          },
          {
            what: "no resolution (a detector that gives none): every environment reviews",
            drift: drift("STALE_ENV", "*", { B: { days: 30 }, A: { days: 1 } }),
            sourceEnv: null,
            targetEnvs: ["A", "B"],
            action: "review",
            recommendation:
              'Review drift STALE_ENV on signature "*" in A, B: STALE_ENV on * across A, B',
          },
        ];
        const result = await publish(ledger, report(cases.map((c) => c.drift)), { now: T0 });
        assert.equal(result.created.length, cases.length);
        for (const c of cases) {
          await t.step(c.what, async () => {
            const advisory = await getAdvisory(ledger, advisoryIdOf(c.drift));
            assert.equal(advisory.status, "published");
            assert.equal(advisory.sourceEnv, c.sourceEnv);
            assert.deepEqual(advisory.targetEnvs, c.targetEnvs);
            assert.equal(advisory.action, c.action);
            assert.equal(advisory.recommendation, c.recommendation);
            assert.equal(advisory.detail.driftId, c.drift.driftId);
            assert.deepEqual(advisory.detail.evidence, c.drift.evidence);
            assert.equal(advisory.createdAt, T0.toISOString());
            assert.deepEqual(advisory.history, [{
              at: T0.toISOString(),
              by: "jrm",
              from: null,
              to: "published",
              reason: "drift reported",
              driftId: c.drift.driftId,
            }]);
          });
        }
      });
    },
  );

  define("publish() of a report of version 1 asks every environment to review", async () => {
    await withLedger(async (ledger) => {
      const v1 = report([skew("sig", { A: 5, B: 3 })], {});
      const advisory = only(
        (await publish(ledger, { ...v1, reportVersion: 1 as const }, { now: T0 })).advisories,
      );
      assert.deepEqual(
        [advisory.action, advisory.sourceEnv, advisory.targetEnvs],
        ["review", null, ["A", "B"]],
      );
    });
  });

  define(
    "publish() refuses a report whose resolution breaks the rules, keeping the ledger",
    async () => {
      await withLedger(async (ledger, store) => {
        const before = await store.snapshot();
        // Not through parseReport: a report built in code.
        const bad = {
          ...report([]),
          environments: ["A", "B"],
          crossEnvDrifts: [resolved(skew("sig", { A: 5, B: 3 }), "align", null, ["B"])],
        };
        await assertRejectsUsage(
          () => publish(ledger, bad),
          2,
          /^The report's VERSION_SKEW drift for signature "sig" has a malformed resolution: "align" needs a "source"/,
        );
        assert.equal(await store.snapshot(), before);
      });
    },
  );

  define(
    "publish() re-asks a decision when the resolution changes, e.g. a move becomes a hold",
    async () => {
      await withLedger(async (ledger) => {
        const skewed = skew("sig", { A: 5, B: 3 });
        const move = resolved(skewed, "align", "A", ["B"], "Move B to revision 5");
        const first = only((await publish(ledger, report([move]), { now: T0 })).advisories);
        assert.equal(first.action, "move");
        await accept(ledger, first.advisoryId, { by: "alice", now: T0 });

        const hold = resolved(skewed, "review", "A", ["B"], "Hold: B holds a refinement A lacks");
        const result = await publish(ledger, report([hold]), { now: T1 });
        const held = await getAdvisory(ledger, first.advisoryId);
        assert.equal(held.action, "hold");
        assert.equal(held.recommendation, "Hold: B holds a refinement A lacks");
        // The accepted move is asked again: what was accepted is no longer what is advised.
        assert.equal(held.status, "published");
        assert.deepEqual(result.reopened, [first.advisoryId]);
        assert.equal(
          held.history.at(-1)!.reason,
          "recommendation changed: Hold: B holds a refinement A lacks",
        );
      });
    },
  );

  define(
    "publish() does not re-ask a decision whose stored fingerprint an earlier rule made",
    async () => {
      await withLedger(async (ledger) => {
        const drift = resolved(posture("sig", { A: 0.5, B: 0.55, C: 0.9 }), "review", null, ["C"]);
        const [advisory] = (await publish(ledger, report([drift]), { now: T0 })).advisories;
        await accept(ledger, advisory.advisoryId, { by: "alice", now: T0 });
        // Earlier versions fingerprinted only the confidences of this drift type, not the threshold.
        const earlier = sha256Ref(canonicalize({
          driftType: "POSTURE_DIVERGENCE",
          environments: { A: { confidence: 0.5 }, B: { confidence: 0.55 }, C: { confidence: 0.9 } },
          shared: {},
        }, "jcs"));
        await ledger.write((sql) =>
          sql.run("UPDATE advisories SET evidence_fingerprint = ?", [earlier])
        );

        const again = await publish(
          ledger,
          report([drift], { generatedAt: "2025-01-03T00:00:00Z" }),
          {
            now: T1,
          },
        );
        assert.deepEqual(again.unchanged, [advisory.advisoryId]);
        const stored = await getAdvisory(ledger, advisory.advisoryId);
        assert.equal(stored.status, "accepted");
        assert.equal(stored.evidenceFingerprint, evidenceFingerprint(drift), "brought up to date");
      });
    },
  );

  define("publish() is idempotent: the same report again creates and changes nothing", async () => {
    await withLedger(async (ledger) => {
      const drifts = [skew("a", { A: 2, B: 1 }), posture("b", { A: 0.1, B: 0.2, C: 0.9 })];
      const first = await publish(ledger, report(drifts), { now: T0 });
      assert.equal(first.created.length, 2);
      const advisoriesBefore = JSON.stringify(await listAdvisories(ledger));

      const again = await publish(ledger, report(drifts), { now: T1 });
      assert.deepEqual(again.created, []);
      assert.deepEqual(again.reopened, []);
      assert.deepEqual(again.changed, []);
      assert.deepEqual(again.resolved, []);
      assert.deepEqual(again.unchanged, first.created);
      assert.equal(JSON.stringify(await listAdvisories(ledger)), advisoriesBefore);
      assert.deepEqual(again.advisories, first.advisories);
    });
  });

  define("accept() and decline() persist, with who and why, across connections", async () => {
    await withLedger(async (ledger, store) => {
      const [x, y] = [skew("x", { A: 2, B: 1 }), skew("y", { A: 2, B: 1 })];
      await publish(ledger, report([x, y]), { now: T0 });
      await accept(ledger, advisoryIdOf(x), { by: "alice", reason: "rolling out", now: T1 });
      await decline(ledger, advisoryIdOf(y), { by: "bob", reason: "B is frozen", now: T1 });
      await store.reopen(async (again) => {
        const accepted = await getAdvisory(again, advisoryIdOf(x));
        assert.equal(accepted.status, "accepted");
        assert.equal(accepted.updatedAt, T1.toISOString());
        assert.deepEqual(accepted.history.at(-1), {
          at: T1.toISOString(),
          by: "alice",
          from: "published",
          to: "accepted",
          reason: "rolling out",
          driftId: x.driftId,
        });
        const declined = await getAdvisory(again, advisoryIdOf(y));
        assert.equal(declined.status, "declined");
        assert.equal(declined.history.at(-1)!.reason, "B is frozen");
        assert.deepEqual(
          (await listAdvisories(again, { status: "declined" })).map((a) => a.advisoryId),
          [advisoryIdOf(y)],
        );
      });
    });
  });

  define("publish() resolves an advisory whose drift is gone, keeping its history", async () => {
    await withLedger(async (ledger) => {
      const [gone, stays] = [skew("gone", { A: 2, B: 1 }), skew("stays", { A: 2, B: 1 })];
      await publish(ledger, report([gone, stays]), { now: T0 });
      await accept(ledger, advisoryIdOf(gone), { by: "alice", now: T0 });

      const result = await publish(ledger, report([stays], { environments: ["A", "B"] }), {
        now: T1,
      });
      assert.deepEqual(result.resolved, [advisoryIdOf(gone)]);
      const resolved = await getAdvisory(ledger, advisoryIdOf(gone));
      assert.equal(resolved.status, "resolved");
      assert.deepEqual(
        resolved.history.map((h) => [h.from, h.to]),
        [[null, "published"], ["published", "accepted"], ["accepted", "resolved"]],
      );
      assert.match(resolved.history.at(-1)!.reason!, /^drift no longer reported/);
      await assertRejectsUsage(
        () => decline(ledger, advisoryIdOf(gone), { by: "bob", reason: "late" }),
        1,
        /^Cannot decline advisory "adv-[0-9a-f]{20}": it is resolved \(by jrm at 2025-01-03T00:00:00\.000Z, drift no longer reported/,
      );

      // The drift comes back: the advisory is published again, not created anew.
      const back = await publish(ledger, report([gone, stays]), { now: T2 });
      assert.deepEqual(back.reopened, [advisoryIdOf(gone)]);
      assert.deepEqual(back.created, []);
      const reopened = await getAdvisory(ledger, advisoryIdOf(gone));
      assert.equal(reopened.status, "published");
      assert.equal(reopened.history.at(-1)!.reason, "drift reported again");
    });
  });

  define("publish() leaves alone advisories that the report does not cover", async (t) => {
    const cases = [
      {
        what: "an environment of the advisory is missing from the report",
        options: { environments: ["A", "C"] },
      },
      { what: "the detector for its drift type did not run", options: { detectors: [] } },
      {
        what: "the detector for its drift type failed",
        options: { failedDetectors: ["VERSION_SKEW"] },
      },
    ];
    for (const c of cases) {
      await t.step(c.what, async () => {
        await withLedger(async (ledger) => {
          const kept = skew("kept", { A: 2, B: 1 });
          await publish(ledger, report([kept]), { now: T0 });
          await decline(ledger, advisoryIdOf(kept), { by: "bob", reason: "not now", now: T0 });
          const result = await publish(ledger, report([], c.options), { now: T1 });
          assert.deepEqual(result.resolved, []);
          assert.deepEqual(result.uncovered, [advisoryIdOf(kept)]);
          assert.equal((await getAdvisory(ledger, advisoryIdOf(kept))).status, "declined");
        });
      });
    }
  });

  define("publish() re-asks a decision only when the evidence changed", async (t) => {
    await t.step("declined, same revisions in a newer packet window: stays declined", async () => {
      await withLedger(async (ledger) => {
        const before = skew("s", { A: 5, B: 3 }, "20250101T000000");
        await publish(ledger, report([before]), { now: T0 });
        await decline(ledger, advisoryIdOf(before), { by: "bob", reason: "B is frozen", now: T0 });
        const after = skew("s", { A: 5, B: 3 }, "20250201T000000");
        const result = await publish(ledger, report([after]), { now: T1 });
        assert.deepEqual(result.unchanged, [advisoryIdOf(before)]);
        const advisory = await getAdvisory(ledger, advisoryIdOf(before));
        assert.equal(advisory.status, "declined");
        assert.equal(advisory.history.length, 2);
        // The stored evidence follows the report, without a transition.
        assert.equal(advisory.detail.driftId, after.driftId);
      });
    });
    for (const decided of ["declined", "accepted"] as const) {
      await t.step(
        `${decided}, the revisions moved: published again, saying what changed`,
        async () => {
          await withLedger(async (ledger) => {
            const move = (rev: number) =>
              resolved(
                skew("s", { A: rev, B: 3 }),
                "align",
                "A",
                ["B"],
                `Move B to revision ${rev}`,
              );
            const before = move(5);
            await publish(ledger, report([before]), { now: T0 });
            const id = advisoryIdOf(before);
            if (decided === "declined") {
              await decline(ledger, id, { by: "bob", reason: "frozen", now: T0 });
            } else await accept(ledger, id, { by: "alice", now: T0 });
            const after = move(6);
            const result = await publish(ledger, report([after]), { now: T1 });
            assert.deepEqual(result.reopened, [id]);
            const advisory = await getAdvisory(ledger, id);
            assert.equal(advisory.status, "published");
            assert.match(advisory.recommendation, /to revision 6/);
            assert.deepEqual(advisory.history.at(-1), {
              at: T1.toISOString(),
              by: "jrm",
              from: decided,
              to: "published",
              reason: "evidence changed: A rev 5 → 6",
              driftId: after.driftId,
            });
            // Re-asked, it can be decided again.
            await accept(ledger, id, { by: "carol", now: T2 });
            assert.equal((await getAdvisory(ledger, id)).status, "accepted");
          });
        },
      );
    }
    await t.step(
      "published, the evidence changed: stays published, the change recorded",
      async () => {
        await withLedger(async (ledger) => {
          const before = posture("s", { A: 0.5, B: 0.55, C: 0.9 });
          await publish(ledger, report([before]), { now: T0, by: "hub" });
          const result = await publish(
            ledger,
            report([posture("s", { A: 0.5, B: 0.55, C: 0.95 })]),
            {
              now: T1,
              by: "hub",
            },
          );
          assert.deepEqual(result.changed, [advisoryIdOf(before)]);
          const last = (await getAdvisory(ledger, advisoryIdOf(before))).history.at(-1)!;
          assert.deepEqual([last.by, last.from, last.to, last.reason], [
            "hub",
            "published",
            "published",
            'evidence changed: C confidence 0.9 → 0.95, spread "0.4" → "0.45"',
          ]);
        });
      },
    );
  });

  define("accept() and decline() refuse unknown ids and invalid transitions", async (t) => {
    await withLedger(async (ledger, store) => {
      const x = skew("x", { A: 2, B: 1 });
      await publish(ledger, report([x]), { now: T0 });
      const id = advisoryIdOf(x);
      await accept(ledger, id, { by: "alice", now: T1 });
      const before = await store.snapshot();
      const cases: [string, () => Promise<unknown>, number, RegExp][] = [
        [
          "an unknown id",
          () => accept(ledger, "adv-ffffffffffffffffffff", { by: "alice" }),
          1,
          new RegExp(
            `^No advisory "adv-ffffffffffffffffffff" in ledger "${escapeRegExp(ledger.location)}"$`,
          ),
        ],
        [
          "accepting an accepted advisory",
          () => accept(ledger, id, { by: "bob" }),
          1,
          /^Cannot accept advisory "adv-[0-9a-f]{20}": it is accepted \(by alice at 2025-01-03T00:00:00\.000Z\); only a published advisory can be accepted or declined$/,
        ],
        [
          "declining an accepted advisory",
          () => decline(ledger, id, { by: "bob", reason: "changed my mind" }),
          1,
          /^Cannot decline advisory .*: it is accepted/,
        ],
        [
          "declining without a reason",
          () => decline(ledger, id, { by: "bob", reason: "  " }),
          2,
          /^Declining needs a reason$/,
        ],
        [
          "deciding without a name",
          () => accept(ledger, id, { by: " " }),
          2,
          /^Give the name of who acts$/,
        ],
        [
          "a name with control characters",
          () => accept(ledger, id, { by: "eve\u001b[2J" }),
          2,
          /^Name ".*" holds control characters$/,
        ],
        [
          "an unknown id to show",
          () => getAdvisory(ledger, "adv-nope"),
          1,
          /^No advisory "adv-nope"/,
        ],
        [
          "an unknown status to list",
          () => listAdvisories(ledger, { status: "open" }),
          2,
          /^Unknown status "open": expected published, accepted, declined, resolved$/,
        ],
      ];
      for (const [what, work, exitCode, message] of cases) {
        await t.step(what, async () => {
          await assertRejectsUsage(work, exitCode, message);
          assert.equal(await store.snapshot(), before);
        });
      }
    });
  });

  define("publish() that fails leaves the ledger as it was", async (t) => {
    await withLedger(async (ledger, store) => {
      const x = skew("x", { A: 2, B: 1 });
      await publish(ledger, report([x], { generatedAt: "2025-01-05T00:00:00Z" }), { now: T0 });
      await decline(ledger, advisoryIdOf(x), { by: "bob", reason: "frozen", now: T0 });
      const before = await store.snapshot();
      const changed = report([skew("x", { A: 3, B: 1 }), skew("y", { A: 2, B: 1 })], {
        generatedAt: "2025-01-06T00:00:00Z",
      });

      await t.step("an output that cannot be written rolls everything back", async () => {
        await assert.rejects(
          () =>
            publish(ledger, changed, {
              now: T1,
              beforeCommit: (result) => {
                assert.equal(result.created.length, 1);
                throw new Error("disk full");
              },
            }),
          /disk full/,
        );
        assert.equal(await store.snapshot(), before);
      });
      await t.step("two drifts for one advisory", async () => {
        const twice = report([skew("x", { A: 2, B: 1 }), skew("x", { A: 3, B: 1 })], {
          generatedAt: "2025-01-06T00:00:00Z",
        });
        await assertRejectsUsage(() => publish(ledger, twice), 2, /holds two VERSION_SKEW drifts/);
        assert.equal(await store.snapshot(), before);
      });
      await t.step("a report older than the newest published", async () => {
        const stale = report([], { generatedAt: "2025-01-04T00:00:00Z", environments: ["A", "B"] });
        await assertRejectsUsage(
          () => publish(ledger, stale),
          1,
          /^The report was generated at 2025-01-04T00:00:00\.000Z, before the newest report already published \(2025-01-05T00:00:00\.000Z\); not publishing it$/,
        );
        assert.equal(await store.snapshot(), before);
        const forced = await publish(ledger, stale, { allowOlderReport: true, now: T1 });
        assert.deepEqual(forced.resolved, [advisoryIdOf(x)]);
      });
      await t.step("a report whose generatedAt is not a date-time", async () => {
        const after = await store.snapshot();
        await assertRejectsUsage(
          () => publish(ledger, { ...changed, generatedAt: "yesterday" }),
          2,
          /^The report's generatedAt "yesterday" is not an ISO 8601 date-time$/,
        );
        assert.equal(await store.snapshot(), after);
      });
    });
  });

  define("publish() reads only the drift's environments as environments", async () => {
    await withLedger(async (ledger) => {
      // An environment named like a shared key is still an environment: its provenance is left out.
      const named = (packetName: string) =>
        drift(
          "POSTURE_DIVERGENCE",
          "s",
          JSON.parse(JSON.stringify({
            threshold: { confidence: 0.1, packetName },
            ["__proto__"]: { confidence: 0.15, packetName },
            A: { confidence: 0.9 },
          })),
          { environments: ["threshold", "__proto__", "A"] },
        );
      assert.ok(Object.hasOwn(named("p1").evidence, "__proto__"));
      assert.notEqual(
        evidenceFingerprint(named("p1")),
        evidenceFingerprint({ ...named("p1"), environments: ["threshold", "A"] }),
      );
      assert.equal(evidenceFingerprint(named("p1")), evidenceFingerprint(named("p2")));
      const advisory = only((await publish(ledger, report([named("p1")]))).advisories);
      assert.deepEqual(advisory.environments, ["A", "__proto__", "threshold"]);
      assert.deepEqual(advisory.targetEnvs, ["A", "__proto__", "threshold"]);
    });
  });

  define("listAdvisories() filters by status, drift type and environment", async () => {
    await withLedger(async (ledger) => {
      const drifts = [
        skew("a", { A: 2, B: 1 }),
        posture("b", { B: 0.1, C: 0.2, D: 0.9 }),
        conflict("c", { A: { rev: 1, patchId: "x" }, C: { rev: 1, patchId: "y" } }),
      ];
      await publish(ledger, report(drifts), { now: T0 });
      await decline(ledger, advisoryIdOf(drifts[1]), { by: "bob", reason: "noise", now: T0 });
      const ids = async (filter: Parameters<typeof listAdvisories>[1]) =>
        (await listAdvisories(ledger, filter)).map((a) => a.signatureId).sort();
      assert.deepEqual(await ids({}), ["a", "b", "c"]);
      assert.deepEqual(await ids({ environment: "A" }), ["a", "c"]);
      assert.deepEqual(await ids({ environment: "D" }), ["b"]);
      assert.deepEqual(await ids({ status: "published" }), ["a", "c"]);
      assert.deepEqual(await ids({ driftType: "POSTURE_DIVERGENCE", status: "declined" }), ["b"]);
      assert.deepEqual(await ids({ environment: "Z" }), []);
    });
  });

  define(
    "concurrent decisions on one advisory from several processes land exactly once",
    async () => {
      await withLedger(async (ledger, store) => {
        const x = skew("x", { A: 2, B: 1 });
        await publish(ledger, report([x]), { now: T0 });
        const id = advisoryIdOf(x);
        const deciders = ["alice", "bob", "carol", "dave"];
        const runs = await Promise.all(deciders.map((by, i) =>
          runJrm(
            i % 2 === 0
              ? ["advisory", "accept", id, "--by", by, "--store", store.store]
              : ["advisory", "decline", id, "--by", by, "--reason", "no", "--store", store.store],
            store.run,
          )
        ));
        const won = runs.filter((run) => run.code === 0);
        assert.equal(won.length, 1, runs.map((run) => run.stderr).join(""));
        for (const run of runs.filter((run) => run.code !== 0)) {
          assert.equal(run.code, 1, run.stderr);
          assert.match(
            run.stderr,
            /^error: Cannot (accept|decline) advisory "adv-[0-9a-f]{20}": it is (accepted|declined) \(by (alice|bob|carol|dave) at /,
          );
        }
        const decided = await getAdvisory(ledger, id);
        assert.equal(decided.history.length, 2, "one creation, one decision");
        assert.equal(decided.history[1].from, "published");
      });
    },
  );

  define("a process killed inside a write leaves the ledger as it was, and unlocked", async () => {
    await withLedger(async (ledger, store) => {
      await publish(ledger, report([skew("x", { A: 2, B: 1 })]), { now: T0 });
      const before = await store.snapshot();
      const child = new Deno.Command(Deno.execPath(), {
        args: denoRunArgs([store.store], {
          entry: new URL("./_ledger_crash.ts", import.meta.url),
          permissions: store.run.permissions,
        }),
        env: store.run.env,
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assert.equal((await lines.read()).value?.trim(), "inside");
      child.kill("SIGKILL");
      await child.status;
      await lines.cancel();
      assert.equal(await store.snapshot(), before);
      // The dead process's lock is gone: a decision goes through at once.
      const decided = await accept(ledger, advisoryIdOf(skew("x", { A: 2, B: 1 })), {
        by: "alice",
        now: T1,
      });
      assert.equal(decided.status, "accepted");
    });
  });
}
