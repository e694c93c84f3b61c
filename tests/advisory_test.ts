import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
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
import { UsageError } from "../core/errors.ts";
import { type Ledger, MIGRATIONS, openLedger } from "../core/store.ts";
import { runJrm } from "./_cli.ts";
import { conflict, drift, posture, report, skew } from "./_report_fixture.ts";

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
  await t.step("VERSION_SKEW: a new packet window with the same revisions is the same", () => {
    const before = skew("s", { A: 5, B: 3 }, "20250101T000000");
    const after = skew("s", { A: 5, B: 3 }, "20250201T000000");
    assert.notEqual(before.driftId, after.driftId);
    assert.equal(evidenceFingerprint(before), evidenceFingerprint(after));
    assert.notEqual(evidenceFingerprint(before), evidenceFingerprint(skew("s", { A: 5, B: 4 })));
  });
  await t.step("POSTURE_DIVERGENCE: spread and threshold are derived, confidences count", () => {
    const before = posture("s", { A: 0.9, B: 0.5 });
    assert.equal(
      evidenceFingerprint(before),
      evidenceFingerprint({ ...before, evidence: { ...before.evidence, spread: "0.41" } }),
    );
    assert.notEqual(
      evidenceFingerprint(before),
      evidenceFingerprint(posture("s", { A: 0.9, B: 0.4 })),
    );
  });
  await t.step("REFINEMENT_CONFLICT: the patches and the conflicts list count", () => {
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
  await t.step("an unknown drift type: the whole evidence", () => {
    const before = drift("STALE_ENV", "*", { A: { days: 3 }, note: "x" }, { environments: ["A"] });
    const after = drift("STALE_ENV", "*", { A: { days: 3 }, note: "y" }, { environments: ["A"] });
    assert.notEqual(evidenceFingerprint(before), evidenceFingerprint(after));
  });
});

Deno.test("publish() gives each drift type a source, targets and a recommendation", async (t) => {
  await withTempLedger(async (ledger) => {
    const cases: {
      what: string;
      drift: ReturnType<typeof skew>;
      sourceEnv: string | null;
      targetEnvs: string[];
      action: string;
      recommendation: RegExp;
    }[] = [
      {
        what: "VERSION_SKEW: the highest revision is the source, the ones behind the targets",
        drift: skew("sig-skew", { A: { rev: 5, patchId: "p5" }, B: 3, C: 4 }),
        sourceEnv: "A",
        targetEnvs: ["B", "C"],
        action: "move",
        recommendation:
          /^Move B \(revision 3\), C \(revision 4\) to revision 5 of signature "sig-skew" \(patch "p5"\), as A has it$/,
      },
      {
        what: "VERSION_SKEW: two environments at the top through different patches",
        drift: skew("sig-tie", {
          A: { rev: 5, patchId: "pa" },
          B: { rev: 5, patchId: "pb" },
          C: 1,
        }),
        sourceEnv: null,
        targetEnvs: ["A", "B", "C"],
        action: "review",
        recommendation: /different patches \("pa", "pb"\); choose one before moving C/,
      },
      {
        what: "VERSION_SKEW: a revision missing from the evidence",
        drift: drift("VERSION_SKEW", "sig-norev", { A: { rev: 2 }, B: { patchId: "x" } }),
        sourceEnv: null,
        targetEnvs: ["A", "B"],
        action: "review",
        recommendation: /no revision of signature "sig-norev" for B/,
      },
      {
        what: "POSTURE_DIVERGENCE: the outlier is the target",
        drift: posture("sig-posture", { A: 0.5, B: 0.55, C: 0.9 }),
        sourceEnv: null,
        targetEnvs: ["C"],
        action: "review",
        recommendation:
          /in C \(0\.9\): the majority, A \(0\.5\), B \(0\.55\), agrees within 0\.3 and it lies apart$/,
      },
      {
        what: "POSTURE_DIVERGENCE: two environments, no majority, both reviewed",
        drift: posture("sig-pair", { A: 0.9, B: 0.5 }),
        sourceEnv: null,
        targetEnvs: ["A", "B"],
        action: "review",
        recommendation: /no majority of environments agrees/,
      },
      {
        what: "REFINEMENT_CONFLICT: a manual review naming the competing patches",
        drift: conflict("sig-conflict", {
          A: { rev: 4, patchId: "patch-a" },
          B: { rev: 4, patchId: "patch-b" },
        }),
        sourceEnv: null,
        targetEnvs: ["A", "B"],
        action: "review",
        recommendation:
          /^Review manually .*A: patch "patch-a" at revision 4; B: patch "patch-b" at revision 4\).*A vs B: same revision reached by different patches; change no environment's patch/,
      },
      {
        what: "an unknown drift type: a manual review",
        drift: drift("STALE_ENV", "*", { A: { days: 30 } }),
        sourceEnv: null,
        targetEnvs: ["A"],
        action: "review",
        recommendation: /^Review drift STALE_ENV on signature "\*" in A: /,
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
        assert.match(advisory.recommendation, c.recommendation);
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

Deno.test("publish() compares posture as decimals: half the threshold exactly is not apart", async () => {
  await withTempLedger(async (ledger) => {
    // Median 0.5; C is 0.15 away, exactly half of 0.3 (in binary, 0.65 - 0.5 > 0.15).
    const onEdge = posture("edge", { A: 0.5, B: 0.5, C: 0.65, D: 0.2 });
    const advisory = only((await publish(ledger, report([onEdge]))).advisories);
    assert.deepEqual(advisory.targetEnvs, ["D"]);
  });
});

Deno.test("publish() holds a version move while the signature has a refinement conflict", async () => {
  await withTempLedger(async (ledger) => {
    const move = skew("sig", { A: 5, B: 3 });
    const first = only((await publish(ledger, report([move]), { now: T0 })).advisories);
    assert.equal(first.action, "move");
    accept(ledger, first.advisoryId, { by: "alice", now: T0 });

    const clash = conflict("sig", { A: { rev: 5, patchId: "pa" }, C: { rev: 5, patchId: "pc" } });
    const result = await publish(ledger, report([move, clash]), { now: T1 });
    const held = getAdvisory(ledger, first.advisoryId);
    assert.equal(held.action, "hold");
    assert.match(held.recommendation, /^Hold: review the refinement conflict on signature "sig"/);
    assert.match(held.recommendation, /could discard a refinement$/);
    // The accepted move is asked again: what was accepted is no longer what is advised.
    assert.equal(held.status, "published");
    assert.deepEqual(result.reopened, [first.advisoryId]);
    assert.match(held.history.at(-1)!.reason!, /^recommendation changed: Hold/);
  });
});

Deno.test("publish() asks to check for local refinements when no conflict check ran", async () => {
  await withTempLedger(async (ledger) => {
    const checked = report([skew("sig", { A: 5, B: 3 })], { detectors: ["VERSION_SKEW"] });
    const advisory = only((await publish(ledger, checked)).advisories);
    assert.match(advisory.recommendation, /confirm that B hold no refinement of their own$/);
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
          const before = skew("s", { A: 5, B: 3 });
          await publish(ledger, report([before]), { now: T0 });
          const id = advisoryIdOf(before);
          if (decided === "declined") decline(ledger, id, { by: "bob", reason: "frozen", now: T0 });
          else accept(ledger, id, { by: "alice", now: T0 });
          const after = skew("s", { A: 6, B: 3 });
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
          "evidence changed: C confidence 0.9 → 0.95",
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
        /^Declining needs a reason \(--reason\)$/,
      ],
      [
        "deciding without a name",
        () => accept(ledger, id, { by: " " }),
        2,
        /^Give a name with --by$/,
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
    // An environment named like a derived key is still an environment.
    const odd = drift("POSTURE_DIVERGENCE", "s", {
      threshold: { confidence: 0.1 },
      spread: { confidence: 0.15 },
      A: { confidence: 0.9 },
    }, { environments: ["threshold", "spread", "A"] });
    const advisory = only((await publish(ledger, report([odd]))).advisories);
    assert.deepEqual(advisory.environments, ["A", "spread", "threshold"]);
    assert.deepEqual(advisory.targetEnvs, ["A"]);
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
        /^No ledger at ".*missing\.sqlite" \(publish a report first, or give --store\)$/,
      );
    });
    await t.step("a file that is not SQLite", async () => {
      await Deno.writeTextFile(`${dir}/notes.txt`, "not a database, just some notes\n".repeat(40));
      assertUsageError(
        () => openLedger(`${dir}/notes.txt`),
        2,
        /^Cannot open ledger ".*notes\.txt": file is not a database$/,
      );
    });
    await t.step("another program's SQLite database", () => {
      const other = new DatabaseSync(`${dir}/places.sqlite`);
      other.exec("CREATE TABLE bookmarks (url TEXT)");
      other.close();
      assertUsageError(
        () => openLedger(`${dir}/places.sqlite`),
        2,
        /^".*places\.sqlite" is not a jrm ledger: it holds table "bookmarks" and no schema version$/,
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
          `^Ledger ".*future\\.sqlite" has schema version ${
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
          /^Ledger ".*held\.sqlite" is busy: another jrm kept it locked; try again$/,
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
        /^Ledger ".*written\.sqlite" is busy: another jrm kept it locked; try again$/,
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
    assert.equal(ledger.db.prepare("SELECT count(*) AS n FROM schema_version").get()?.n, 1);
    assert.equal(ledger.schemaVersion, MIGRATIONS.length);
    assert.equal(ledger.db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
