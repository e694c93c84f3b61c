import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  accept,
  type Advisory,
  advisoryActionOf,
  advisoryIdOf,
  decline,
  evidenceFingerprint,
  getAdvisory,
  listAdvisories,
  publish,
} from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import { type Ledger, MIGRATIONS, openLedger } from "../core/store.ts";
import { canonicalize } from "../core/canonical_json.ts";
import { sha256Ref } from "../core/packet.ts";
import { runJrm } from "./_cli.ts";
import { conflict, drift, posture, report, resolved, skew } from "./_report_fixture.ts";

const T0 = new Date("2025-01-02T00:00:00Z");
const T1 = new Date("2025-01-03T00:00:00Z");
const T2 = new Date("2025-01-04T00:00:00Z");

/** A fresh ledger in a temporary directory, removed afterwards. */
async function withTempLedger(work: (ledger: Ledger, dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "jrm-advisory-" });
  const ledger = openLedger(`${dir}/ledger.sqlite`);
  try {
    await work(ledger, dir);
  } finally {
    ledger.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Everything the ledger holds, row by row, to show that a failed command changed nothing. */
function snapshot(ledger: Ledger): string {
  const tables = ["advisories", "advisory_history", "publications", "schema_version"];
  return JSON.stringify(
    tables.map((table) => ledger.db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all()),
  );
}

function assertUsageError(work: () => unknown, exitCode: number, message: RegExp): void {
  assert.throws(work, (error) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    assert.equal(error.exitCode, exitCode);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

async function assertRejectsUsage(work: () => Promise<unknown>, exitCode: number, message: RegExp) {
  await assert.rejects(work, (error) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    assert.equal(error.exitCode, exitCode);
    assert.match(error.message, message);
    return true;
  });
}

function only(advisories: Advisory[]): Advisory {
  assert.equal(advisories.length, 1);
  return advisories[0];
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

Deno.test("publish() takes source, targets, action and recommendation from the drift's resolution", async (t) => {
  await withTempLedger(async (ledger) => {
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
      await t.step(c.what, () => {
        const advisory = getAdvisory(ledger, advisoryIdOf(c.drift));
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
});

Deno.test("publish() of a report of version 1 asks every environment to review", async () => {
  await withTempLedger(async (ledger) => {
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

Deno.test("publish() refuses a report whose resolution breaks the rules, keeping the ledger", async () => {
  await withTempLedger(async (ledger) => {
    const before = snapshot(ledger);
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
    assert.equal(snapshot(ledger), before);
  });
});

Deno.test("publish() re-asks a decision when the resolution changes, e.g. a move becomes a hold", async () => {
  await withTempLedger(async (ledger) => {
    const skewed = skew("sig", { A: 5, B: 3 });
    const move = resolved(skewed, "align", "A", ["B"], "Move B to revision 5");
    const first = only((await publish(ledger, report([move]), { now: T0 })).advisories);
    assert.equal(first.action, "move");
    accept(ledger, first.advisoryId, { by: "alice", now: T0 });

    const hold = resolved(skewed, "review", "A", ["B"], "Hold: B holds a refinement A lacks");
    const result = await publish(ledger, report([hold]), { now: T1 });
    const held = getAdvisory(ledger, first.advisoryId);
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
});

Deno.test("publish() does not re-ask a decision whose stored fingerprint an earlier rule made", async () => {
  await withTempLedger(async (ledger) => {
    const drift = resolved(posture("sig", { A: 0.5, B: 0.55, C: 0.9 }), "review", null, ["C"]);
    const [advisory] = (await publish(ledger, report([drift]), { now: T0 })).advisories;
    accept(ledger, advisory.advisoryId, { by: "alice", now: T0 });
    // Earlier versions fingerprinted only the confidences of this drift type, not the threshold.
    const earlier = sha256Ref(canonicalize({
      driftType: "POSTURE_DIVERGENCE",
      environments: { A: { confidence: 0.5 }, B: { confidence: 0.55 }, C: { confidence: 0.9 } },
      shared: {},
    }, "jcs"));
    ledger.db.prepare("UPDATE advisories SET evidence_fingerprint = ?").run(earlier);

    const again = await publish(ledger, report([drift], { generatedAt: "2025-01-03T00:00:00Z" }), {
      now: T1,
    });
    assert.deepEqual(again.unchanged, [advisory.advisoryId]);
    const stored = getAdvisory(ledger, advisory.advisoryId);
    assert.equal(stored.status, "accepted");
    assert.equal(stored.evidenceFingerprint, evidenceFingerprint(drift), "brought up to date");
  });
});

Deno.test("publish() is idempotent: the same report again creates and changes nothing", async () => {
  await withTempLedger(async (ledger) => {
    const drifts = [skew("a", { A: 2, B: 1 }), posture("b", { A: 0.1, B: 0.2, C: 0.9 })];
    const first = await publish(ledger, report(drifts), { now: T0 });
    assert.equal(first.created.length, 2);
    const advisoriesBefore = JSON.stringify(listAdvisories(ledger));

    const again = await publish(ledger, report(drifts), { now: T1 });
    assert.deepEqual(again.created, []);
    assert.deepEqual(again.reopened, []);
    assert.deepEqual(again.changed, []);
    assert.deepEqual(again.resolved, []);
    assert.deepEqual(again.unchanged, first.created);
    assert.equal(JSON.stringify(listAdvisories(ledger)), advisoriesBefore);
    assert.deepEqual(again.advisories, first.advisories);
  });
});

Deno.test("accept() and decline() persist, with who and why, across connections", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jrm-advisory-" });
  try {
    const path = `${dir}/ledger.sqlite`;
    const [x, y] = [skew("x", { A: 2, B: 1 }), skew("y", { A: 2, B: 1 })];
    {
      using ledger = openLedger(path);
      await publish(ledger, report([x, y]), { now: T0 });
      accept(ledger, advisoryIdOf(x), { by: "alice", reason: "rolling out", now: T1 });
      decline(ledger, advisoryIdOf(y), { by: "bob", reason: "B is frozen", now: T1 });
    }
    using ledger = openLedger(path, { create: false });
    const accepted = getAdvisory(ledger, advisoryIdOf(x));
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
    const declined = getAdvisory(ledger, advisoryIdOf(y));
    assert.equal(declined.status, "declined");
    assert.equal(declined.history.at(-1)!.reason, "B is frozen");
    assert.deepEqual(
      listAdvisories(ledger, { status: "declined" }).map((a) => a.advisoryId),
      [advisoryIdOf(y)],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("publish() resolves an advisory whose drift is gone, keeping its history", async () => {
  await withTempLedger(async (ledger) => {
    const [gone, stays] = [skew("gone", { A: 2, B: 1 }), skew("stays", { A: 2, B: 1 })];
    await publish(ledger, report([gone, stays]), { now: T0 });
    accept(ledger, advisoryIdOf(gone), { by: "alice", now: T0 });

    const result = await publish(ledger, report([stays], { environments: ["A", "B"] }), {
      now: T1,
    });
    assert.deepEqual(result.resolved, [advisoryIdOf(gone)]);
    const resolved = getAdvisory(ledger, advisoryIdOf(gone));
    assert.equal(resolved.status, "resolved");
    assert.deepEqual(
      resolved.history.map((h) => [h.from, h.to]),
      [[null, "published"], ["published", "accepted"], ["accepted", "resolved"]],
    );
    assert.match(resolved.history.at(-1)!.reason!, /^drift no longer reported/);
    assertUsageError(
      () => decline(ledger, advisoryIdOf(gone), { by: "bob", reason: "late" }),
      1,
      /^Cannot decline advisory "adv-[0-9a-f]{20}": it is resolved \(by jrm at 2025-01-03T00:00:00\.000Z, drift no longer reported/,
    );

    // The drift comes back: the advisory is published again, not created anew.
    const back = await publish(ledger, report([gone, stays]), { now: T2 });
    assert.deepEqual(back.reopened, [advisoryIdOf(gone)]);
    assert.deepEqual(back.created, []);
    const reopened = getAdvisory(ledger, advisoryIdOf(gone));
    assert.equal(reopened.status, "published");
    assert.equal(reopened.history.at(-1)!.reason, "drift reported again");
  });
});

Deno.test("publish() leaves alone advisories that the report does not cover", async (t) => {
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
      await withTempLedger(async (ledger) => {
        const kept = skew("kept", { A: 2, B: 1 });
        await publish(ledger, report([kept]), { now: T0 });
        decline(ledger, advisoryIdOf(kept), { by: "bob", reason: "not now", now: T0 });
        const result = await publish(ledger, report([], c.options), { now: T1 });
        assert.deepEqual(result.resolved, []);
        assert.deepEqual(result.uncovered, [advisoryIdOf(kept)]);
        assert.equal(getAdvisory(ledger, advisoryIdOf(kept)).status, "declined");
      });
    });
  }
});

Deno.test("publish() re-asks a decision only when the evidence changed", async (t) => {
  await t.step("declined, same revisions in a newer packet window: stays declined", async () => {
    await withTempLedger(async (ledger) => {
      const before = skew("s", { A: 5, B: 3 }, "20250101T000000");
      await publish(ledger, report([before]), { now: T0 });
      decline(ledger, advisoryIdOf(before), { by: "bob", reason: "B is frozen", now: T0 });
      const after = skew("s", { A: 5, B: 3 }, "20250201T000000");
      const result = await publish(ledger, report([after]), { now: T1 });
      assert.deepEqual(result.unchanged, [advisoryIdOf(before)]);
      const advisory = getAdvisory(ledger, advisoryIdOf(before));
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
        await withTempLedger(async (ledger) => {
          const move = (rev: number) =>
            resolved(skew("s", { A: rev, B: 3 }), "align", "A", ["B"], `Move B to revision ${rev}`);
          const before = move(5);
          await publish(ledger, report([before]), { now: T0 });
          const id = advisoryIdOf(before);
          if (decided === "declined") decline(ledger, id, { by: "bob", reason: "frozen", now: T0 });
          else accept(ledger, id, { by: "alice", now: T0 });
          const after = move(6);
          const result = await publish(ledger, report([after]), { now: T1 });
          assert.deepEqual(result.reopened, [id]);
          const advisory = getAdvisory(ledger, id);
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
          accept(ledger, id, { by: "carol", now: T2 });
          assert.equal(getAdvisory(ledger, id).status, "accepted");
        });
      },
    );
  }
  await t.step(
    "published, the evidence changed: stays published, the change recorded",
    async () => {
      await withTempLedger(async (ledger) => {
        const before = posture("s", { A: 0.5, B: 0.55, C: 0.9 });
        await publish(ledger, report([before]), { now: T0, by: "hub" });
        const result = await publish(ledger, report([posture("s", { A: 0.5, B: 0.55, C: 0.95 })]), {
          now: T1,
          by: "hub",
        });
        assert.deepEqual(result.changed, [advisoryIdOf(before)]);
        const last = getAdvisory(ledger, advisoryIdOf(before)).history.at(-1)!;
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

Deno.test("accept() and decline() refuse unknown ids and invalid transitions", async (t) => {
  await withTempLedger(async (ledger) => {
    const x = skew("x", { A: 2, B: 1 });
    await publish(ledger, report([x]), { now: T0 });
    const id = advisoryIdOf(x);
    accept(ledger, id, { by: "alice", now: T1 });
    const before = snapshot(ledger);
    const cases: [string, () => unknown, number, RegExp][] = [
      [
        "an unknown id",
        () => accept(ledger, "adv-ffffffffffffffffffff", { by: "alice" }),
        1,
        /^No advisory "adv-ffffffffffffffffffff" in ledger ".*ledger\.sqlite"$/,
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
      await t.step(what, () => {
        assertUsageError(work, exitCode, message);
        assert.equal(snapshot(ledger), before);
      });
    }
  });
});

Deno.test("publish() that fails leaves the ledger as it was", async (t) => {
  await withTempLedger(async (ledger) => {
    const x = skew("x", { A: 2, B: 1 });
    await publish(ledger, report([x], { generatedAt: "2025-01-05T00:00:00Z" }), { now: T0 });
    decline(ledger, advisoryIdOf(x), { by: "bob", reason: "frozen", now: T0 });
    const before = snapshot(ledger);
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
      assert.equal(snapshot(ledger), before);
    });
    await t.step("two drifts for one advisory", async () => {
      const twice = report([skew("x", { A: 2, B: 1 }), skew("x", { A: 3, B: 1 })], {
        generatedAt: "2025-01-06T00:00:00Z",
      });
      await assertRejectsUsage(() => publish(ledger, twice), 2, /holds two VERSION_SKEW drifts/);
      assert.equal(snapshot(ledger), before);
    });
    await t.step("a report older than the newest published", async () => {
      const stale = report([], { generatedAt: "2025-01-04T00:00:00Z", environments: ["A", "B"] });
      await assertRejectsUsage(
        () => publish(ledger, stale),
        1,
        /^The report was generated at 2025-01-04T00:00:00\.000Z, before the newest report already published \(2025-01-05T00:00:00\.000Z\); not publishing it$/,
      );
      assert.equal(snapshot(ledger), before);
      const forced = await publish(ledger, stale, { allowOlderReport: true, now: T1 });
      assert.deepEqual(forced.resolved, [advisoryIdOf(x)]);
    });
    await t.step("a report whose generatedAt is not a date-time", async () => {
      const after = snapshot(ledger);
      await assertRejectsUsage(
        () => publish(ledger, { ...changed, generatedAt: "yesterday" }),
        2,
        /^The report's generatedAt "yesterday" is not an ISO 8601 date-time$/,
      );
      assert.equal(snapshot(ledger), after);
    });
  });
});

Deno.test("publish() reads only the drift's environments as environments", async () => {
  await withTempLedger(async (ledger) => {
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

Deno.test("listAdvisories() filters by status, drift type and environment", async () => {
  await withTempLedger(async (ledger) => {
    const drifts = [
      skew("a", { A: 2, B: 1 }),
      posture("b", { B: 0.1, C: 0.2, D: 0.9 }),
      conflict("c", { A: { rev: 1, patchId: "x" }, C: { rev: 1, patchId: "y" } }),
    ];
    await publish(ledger, report(drifts), { now: T0 });
    decline(ledger, advisoryIdOf(drifts[1]), { by: "bob", reason: "noise", now: T0 });
    const ids = (filter: Parameters<typeof listAdvisories>[1]) =>
      listAdvisories(ledger, filter).map((a) => a.signatureId).sort();
    assert.deepEqual(ids({}), ["a", "b", "c"]);
    assert.deepEqual(ids({ environment: "A" }), ["a", "c"]);
    assert.deepEqual(ids({ environment: "D" }), ["b"]);
    assert.deepEqual(ids({ status: "published" }), ["a", "c"]);
    assert.deepEqual(ids({ driftType: "POSTURE_DIVERGENCE", status: "declined" }), ["b"]);
    assert.deepEqual(ids({ environment: "Z" }), []);
  });
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
