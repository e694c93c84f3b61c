import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type FederationReport, parseReport, type ReportDrift } from "../core/report.ts";
import htmlReporter, { driftMatrix } from "../plugins/reporters/html.ts";
import jsonReporter from "../plugins/reporters/json.ts";
import { PluginRegistry } from "../core/plugin.ts";
import { publish } from "../core/advisory.ts";
import { defaultConfig, resolveDetectorRuns } from "../core/config.ts";
import { runDetectors } from "../core/drift.ts";
import { ingestFiles } from "../core/hub.ts";
import { loadKeyring } from "../core/keyring.ts";
import { buildReport } from "../core/report.ts";
import { openLedger } from "../core/store.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { htmlAdvisory, reportOf, resolved } from "./_report_fixture.ts";

const REPO = new URL("..", import.meta.url).pathname;

// --- fixtures ----------------------------------------------------------------

let nextDrift = 0;

function drift(
  driftType: string,
  signatureId: string,
  evidence: Record<string, unknown>,
  severity: ReportDrift["severity"] = "medium",
  detail = `${driftType} on ${signatureId}`,
): ReportDrift {
  const environments = Object.keys(evidence).filter((key) =>
    !["spread", "threshold", "conflicts"].includes(key)
  ).sort();
  return {
    driftId: `drift-${String(nextDrift++).padStart(24, "0")}`,
    driftType,
    severity,
    environments,
    signatureId,
    detail,
    evidence,
    detector: driftType.toLowerCase().replaceAll("_", "-"),
  };
}

const skew = (sig: string, revs: Record<string, number>) =>
  drift(
    "VERSION_SKEW",
    sig,
    Object.fromEntries(
      Object.entries(revs).map(([env, rev]) => [env, {
        rev,
        patchId: `${sig}-p${rev}`,
        packetName: `JRM_X_PACKET_${env}`,
        windowEnd: "2026-02-28T10:20:00Z",
      }]),
    ),
    "low",
  );

const posture = (sig: string, confidences: Record<string, number>, threshold = "0.3") =>
  drift("POSTURE_DIVERGENCE", sig, {
    ...Object.fromEntries(
      Object.entries(confidences).map(([env, confidence]) => [env, { confidence }]),
    ),
    spread: String(
      Math.max(...Object.values(confidences)) - Math.min(...Object.values(confidences)),
    ),
    threshold,
  });

const conflict = (
  sig: string,
  patches: Record<string, string>,
  pairs: [string, string][],
) =>
  drift(
    "REFINEMENT_CONFLICT",
    sig,
    {
      ...Object.fromEntries(
        Object.entries(patches).map(([env, patchId]) => [env, {
          rev: 3,
          previousRev: 2,
          patchId,
          lineage: [`${sig}-p1`, `${sig}-p2`],
        }]),
      ),
      conflicts: pairs.map((environments) => ({ environments, reason: "diverged-history" })),
    },
    "high",
  );

function report(
  drifts: ReportDrift[],
  extra: Partial<FederationReport> = {},
): FederationReport {
  return reportOf(drifts, {
    packets: 1,
    windowStart: "2026-02-28T10:00:00Z",
    windowEnd: "2026-02-28T10:20:00Z",
    signatures: 10,
    graphNodes: 3,
    graphEdges: 2,
  }, {
    generatedAt: "2026-03-01T00:00:00.000Z",
    detectors: [],
    detectorErrors: [],
    ...extra,
  });
}

const render = async (r: FederationReport, context: Record<string, unknown> = {}) =>
  String(await htmlReporter.render(r, context));

/** The text of the page's executable script and of its JSON data block. */
function scripts(page: string): { code: string; data: string } {
  const data = page.match(/<script type="application\/json" id="jrm-data">([^]*?)<\/script>/);
  const code = page.match(/<script>([^]*?)<\/script>/);
  assert.ok(data && code, "the page has a data block and a script");
  return { code: code[1], data: data[1] };
}

// --- the page ----------------------------------------------------------------

Deno.test("render() writes one self-contained page that loads nothing from outside", async () => {
  const page = await render(report([skew("sig-0001", { SOC_EAST: 3, SOC_NORTH: 4 })]));
  assert.match(page, /^<!DOCTYPE html>\n<html lang="en">/);
  assert.doesNotMatch(page, /\b(?:src|href|action|srcset)\s*=\s*"(?!#|data:)/i);
  assert.doesNotMatch(page, /https?:\/\//);
  assert.doesNotMatch(page, /@import|url\(/);
  assert.doesNotMatch(page, /<(?:link rel="stylesheet"|iframe|object|embed|img|base)\b/);
  assert.equal(page.match(/<script\b/g)?.length, 2);
  assert.equal(page.match(/<\/script/g)?.length, 2);
});

Deno.test("render() sets a strict Content-Security-Policy that hashes its own script and style", async () => {
  const page = await render(report([skew("sig-0001", { SOC_EAST: 3, SOC_NORTH: 4 })]));
  const csp = page.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)">/)?.[1];
  assert.ok(csp, "a CSP meta element");
  assert.ok(
    page.indexOf("Content-Security-Policy") < page.indexOf("<style>"),
    "the policy comes before any style or script",
  );
  const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
  const style = page.match(/<style>([^]*?)<\/style>/)![1];
  assert.equal(
    csp,
    [
      "default-src 'none'",
      `script-src ${sha256(scripts(page).code)}`,
      `style-src ${sha256(style)}`,
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
    ].join("; "),
  );
  assert.doesNotMatch(page, /\sstyle="/, "no inline style attribute, which the policy would block");
  assert.doesNotMatch(page, /\son[a-z]+="/, "no inline event handler");
});

Deno.test("render() shows the summary: environments, packets and drift by type and severity", async () => {
  const r = report(
    [
      skew("sig-0001", { SOC_EAST: 3, SOC_NORTH: 4 }),
      skew("sig-0002", { SOC_EAST: 3, SOC_NORTH: 4 }),
      posture("sig-0003", { SOC_EAST: 0.6, SOC_NORTH: 0.1 }),
    ],
    {
      packetsIngested: 7,
      packetsRejected: [{
        source: "in/JRM_X_PACKET_SOC_WEST_x.zip",
        packetName: "JRM_X_PACKET_SOC_WEST_x",
        environmentId: "SOC_WEST",
        reasonCode: "SIGNATURE_INVALID",
        violations: [{
          code: "SIGNATURE_INVALID",
          message: "The manifest signature does not verify",
          entry: "manifest.json",
        }],
      }],
      duplicates: [{ source: "in/copy.zip", digest: "sha256:ab", duplicateOf: "in/orig.zip" }],
    },
  );
  const page = await render(r);
  const card = (label: string) =>
    page.match(new RegExp(`<div class="n">([\\d,]+)</div><div class="label">${label}</div>`))
      ?.[1];
  assert.equal(card("Environments"), "2");
  assert.equal(card("Packets accepted"), "7");
  assert.equal(card("Packets rejected"), "1");
  assert.equal(card("Duplicate packets"), "1");
  assert.equal(card("Drifts"), "3");
  const counts = page.match(/<table class="grid" id="drift-counts">([^]*?)<\/table>/)![1];
  assert.match(
    counts,
    /<th scope="row">VERSION_SKEW<\/th><td class="num sev-low">2<\/td><td class="num zero">0<\/td>/,
  );
  assert.match(
    counts,
    /<th scope="row">POSTURE_DIVERGENCE<\/th><td class="num zero">0<\/td><td class="num sev-medium">1<\/td>/,
  );
  assert.match(
    counts,
    /<tfoot><tr><th scope="row">Total<\/th><td class="num">2<\/td><td class="num">1<\/td>/,
  );
  const rejected = page.match(/<table class="grid" id="rejected-table">([^]*?)<\/table>/)![1];
  assert.ok(rejected.includes("in/JRM_X_PACKET_SOC_WEST_x.zip"));
  assert.ok(rejected.includes('<span class="badge reason">SIGNATURE_INVALID</span>'));
  assert.ok(rejected.includes("The manifest signature does not verify"));
  assert.ok(rejected.includes("(manifest.json)"));
  assert.ok(page.includes("in/copy.zip") && page.includes("in/orig.zip"));
});

Deno.test("render() warns when a detector failed, since the drift list is then incomplete", async () => {
  const page = await render(report([], {
    environments: ["SOC_EAST"],
    detectorErrors: [{ detector: "stale-env", hook: "detect", message: "boom" }],
  }));
  assert.match(page, /<div class="alert" role="alert"><strong>A detector failed/);
  assert.ok(page.includes("detector <code>stale-env</code> failed in <code>detect</code>: boom"));
});

Deno.test("render() shows advisories with their status, open ones first", async () => {
  const page = await render(report([skew("sig-0001", { SOC_EAST: 3, SOC_NORTH: 4 })]), {
    advisories: [
      htmlAdvisory({ advisoryId: "adv-resolved", status: "resolved" }),
      htmlAdvisory({
        advisoryId: "adv-accepted",
        status: "accepted",
        sourceEnv: null,
        targetEnvs: [],
      }),
      htmlAdvisory({ advisoryId: "adv-published", status: "published", severity: "high" }),
    ],
  });
  const table = page.match(/<table class="grid" id="advisories-table">([^]*?)<\/table>/)![1];
  const order = [...table.matchAll(/<code>(adv-[a-z]+)<\/code>/g)].map((m) => m[1]);
  assert.deepEqual(order, ["adv-published", "adv-accepted", "adv-resolved"]);
  assert.ok(table.includes('<span class="badge status status-published">published</span>'));
  assert.ok(table.includes("Move SOC_EAST, SOC_WEST to rev 4 (sig-0001-p4)"));
  assert.ok(table.includes("<td>SOC_NORTH</td><td>SOC_EAST, SOC_WEST</td>"));
  assert.ok(table.includes("<td>—</td><td>—</td>"), "no source and no target show a dash");
  assert.match(page, /status-accepted">accepted<\/span> 1<\/span>/);
});

Deno.test("render() says when no ledger was given, and refuses advisories that are not a list", async () => {
  const r = report([]);
  assert.ok((await render(r)).includes("No advisory ledger was given for this report."));
  assert.ok((await render(r, { advisories: [] })).includes("The ledger holds no advisory."));
  await assert.rejects(
    () => render(r, { advisories: "adv-1" }),
    { message: 'Cannot render the HTML report: "advisories" must be a list, not string' },
  );
});

Deno.test("render() gives the same bytes for the same report", async () => {
  const r = report([skew("sig-0001", { SOC_EAST: 3, SOC_NORTH: 4 })]);
  assert.equal(await render(r), await render(r));
});

// --- hostile input -------------------------------------------------------------

const HOSTILE = [
  "<img src=x onerror=alert(1)>",
  "</script><script>alert(1)</script>",
  '"><svg onload=alert(1)>',
  "<!--",
  "&lt;not-an-entity&gt;",
];

Deno.test("render() writes every packet-controlled string as text, never as markup", async (t) => {
  for (const hostile of HOSTILE) {
    await t.step(hostile, async () => {
      const env = `SOC_${hostile}`;
      const r = report(
        [
          skew(hostile, { [env]: 3, SOC_NORTH: 4 }),
          resolved(
            drift(
              "VERSION_SKEW",
              "sig-2",
              {
                SOC_NORTH: { rev: hostile, patchId: hostile },
                [env]: { rev: 1 },
              },
              "low",
              `detail ${hostile}\u2028\u2029`,
            ),
            "align",
            "SOC_NORTH",
            [env],
            `recommendation ${hostile}\u2028`,
          ),
        ],
        {
          packetsRejected: [{
            source: hostile,
            packetName: hostile,
            environmentId: hostile,
            reasonCode: hostile,
            violations: [{ code: hostile, message: hostile, entry: hostile }],
          }],
          duplicates: [{ source: hostile, digest: hostile, duplicateOf: hostile }],
          detectors: [{
            name: hostile,
            version: hostile,
            driftTypes: [hostile],
            origin: hostile,
            findings: 1,
          }],
          detectorErrors: [{ detector: hostile, hook: hostile, message: hostile }],
          generatedAt: hostile,
        },
      );
      const page = await render(r, {
        advisories: [htmlAdvisory({
          advisoryId: hostile,
          driftType: hostile,
          severity: hostile,
          signatureId: hostile,
          sourceEnv: hostile,
          targetEnvs: [hostile],
          recommendation: hostile,
          status: hostile,
          updatedAt: hostile,
        })],
      });
      assert.doesNotMatch(page, /<img|<svg|<script>alert|<!--/i);
      assert.equal(page.match(/<script\b/g)?.length, 2);
      assert.equal(page.match(/<\/script/g)?.length, 2);
      const escaped = hostile.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
        .replaceAll(">", "&gt;").replaceAll('"', "&quot;");
      assert.ok(page.includes(escaped), "the static parts show it escaped");
      const { data } = scripts(page);
      assert.doesNotMatch(data, /[<>&\u2028\u2029]/);
      const parsed = JSON.parse(data);
      assert.ok(
        parsed.rows.some((row: unknown[]) => row[0] === hostile),
        "the data keeps it as is",
      );
      assert.ok(parsed.envs.includes(env));
      const row = parsed.rows.find((row: unknown[]) => row[0] === "sig-2");
      assert.equal(row[4][0][3], `detail ${hostile}\u2028\u2029`);
      assert.equal(row[4][0][7], `recommendation ${hostile}\u2028`);
    });
  }
});

Deno.test("render() builds the matrix in the page with textContent, never with markup from data", async () => {
  const { code } = scripts(await render(report([])));
  assert.doesNotMatch(
    code,
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|Function\(/,
  );
  assert.match(code, /textContent/);
});

// --- the matrix ------------------------------------------------------------------

Deno.test("driftMatrix() marks exactly each drift's targets, by its resolution's action", async (t) => {
  const rolesOf = (r: FederationReport) => {
    const matrix = driftMatrix(r);
    return Object.fromEntries(
      matrix.environments.map((env, i) => [env, matrix.rows[0].cells[i]?.roles ?? null]),
    );
  };
  await t.step("align: the targets align, the source is the reference, whatever the revs", () => {
    // The most common rev is 3, the detector chose B at 4: the page does not second-guess it.
    const r = report([resolved(skew("s", { A: 3, B: 4, C: 3 }), "align", "B", ["A", "C"])]);
    assert.deepEqual(rolesOf(r), { A: ["align"], B: ["source"], C: ["align"] });
  });
  await t.step("review with a source (a hold): the targets review", () => {
    const r = report([resolved(skew("s", { A: 3, B: 4, C: 3 }), "review", "B", ["A"])]);
    assert.deepEqual(rolesOf(r), { A: ["review"], B: ["source"], C: [] });
  });
  await t.step("review without a source: only the targets", () => {
    const r = report([
      resolved(posture("s", { A: 0.6, B: 0.6, C: 0.25 }), "review", null, ["A", "B"]),
    ]);
    assert.deepEqual(rolesOf(r), { A: ["review"], B: ["review"], C: [] });
  });
  await t.step("no resolution: every environment of the drift reviews", () => {
    const r = report([drift("STALE_ENV", "s", { A: { rev: 1 }, B: { rev: 9 } })], {
      environments: ["A", "B", "C"],
    });
    assert.deepEqual(rolesOf(r), { A: ["review"], B: ["review"], C: null });
    assert.equal(driftMatrix(r).rows[0].cells[1]?.rev, 9);
  });
  await t.step("a target without evidence of its own still gets its cell", () => {
    const bare = { ...drift("X", "s", { A: { rev: 1 } }), environments: ["A", "B"] };
    const r = report([resolved(bare, "align", "A", ["B"])]);
    assert.deepEqual(rolesOf(r), { A: ["source"], B: ["align"] });
  });
  await t.step("two drifts on one signature: what each asks", () => {
    const r = report([
      resolved(skew("s", { A: 3, B: 4 }), "align", "B", ["A"]),
      resolved(conflict("s", { A: "s-p3", B: "s-fork-p4" }, [["A", "B"]]), "review", null, [
        "A",
        "B",
      ]),
    ]);
    assert.deepEqual(rolesOf(r), { A: ["align", "review"], B: ["review", "source"] });
  });
});

Deno.test("driftMatrix() gives one row per signature, merging rev and confidence across its drifts", () => {
  const matrix = driftMatrix(report(
    [
      resolved(skew("sig-b", { A: 3, B: 4, C: 3 }), "align", "B", ["A", "C"]),
      resolved(posture("sig-b", { A: 0.6, B: 0.6, C: 0.25 }), "review", null, ["C"]),
      skew("sig-a", { A: 1, B: 2 }),
      conflict("sig-c", { A: "p", B: "q" }, [["A", "B"]]),
    ],
    { environments: ["A", "B", "C"] },
  ));
  assert.deepEqual(matrix.environments, ["A", "B", "C"]);
  assert.deepEqual(matrix.rows.map((row) => row.signatureId), ["sig-c", "sig-b", "sig-a"]);
  const b = matrix.rows[1];
  assert.deepEqual(b.driftTypes, ["POSTURE_DIVERGENCE", "VERSION_SKEW"]);
  assert.equal(b.severity, "medium");
  assert.deepEqual(b.cells[1], { rev: 4, confidence: 0.6, patchId: "sig-b-p4", roles: ["source"] });
  assert.deepEqual(b.cells[2]?.roles, ["align", "review"]);
  assert.equal(matrix.rows[2].cells[2], null, "no entry in C");
  assert.equal(b.drifts.length, 2);
  assert.deepEqual(
    b.drifts.map(({ action, source, targets }) => [action, source, targets]),
    [["align", "B", ["A", "C"]], ["review", null, ["C"]]],
  );
});

Deno.test("on the shipped fixtures, the page colours exactly the advisories' targets", async () => {
  const registry = builtinRegistry();
  const keyring = await loadKeyring(registry, `${REPO}fixtures/keyring.json`);
  const packets = `${REPO}fixtures/packets`;
  const paths = [...Deno.readDirSync(packets)].map(({ name }) => `${packets}/${name}`).sort();
  const ingestion = await ingestFiles(paths, { keyring, workers: 0 });
  const detection = await runDetectors(
    ingestion.state.view(),
    resolveDetectorRuns(registry, defaultConfig()),
  );
  const r = buildReport(ingestion, detection, "2026-03-01T00:00:00.000Z");
  using ledger = openLedger(":memory:");
  const { advisories } = await publish(ledger, r);
  const data = JSON.parse(scripts(await render(r, { advisories })).data);
  // Bits 0 and 1 of a cell's mask are the coloured roles (align, review); bit 2 the source.
  const cells = (bits: number) =>
    data.rows.flatMap((row: [string, unknown, unknown, ([unknown, unknown, number] | 0)[]]) =>
      row[3].flatMap((cell, e) => cell !== 0 && cell[2] & bits ? [`${row[0]} ${data.envs[e]}`] : [])
    ).sort();
  const of = (list: typeof advisories, pick: (a: (typeof advisories)[number]) => string[]) =>
    [...new Set(list.flatMap((a) => pick(a).map((env) => `${a.signatureId} ${env}`)))].sort();
  assert.deepEqual(cells(3), of(advisories, (a) => a.targetEnvs));
  assert.deepEqual(
    cells(1),
    of(advisories.filter((a) => a.action === "move"), (a) => a.targetEnvs),
  );
  assert.deepEqual(cells(4), of(advisories, (a) => a.sourceEnv === null ? [] : [a.sourceEnv]));
  // The case that showed the old page wrong: SOC_EAST and SOC_WEST are to move to SOC_NORTH's rev 4.
  const sig1 = advisories.find((a) => a.signatureId === "sig-0001")!;
  assert.deepEqual([sig1.action, sig1.sourceEnv, sig1.targetEnvs], [
    "move",
    "SOC_NORTH",
    ["SOC_EAST", "SOC_WEST"],
  ]);
  assert.deepEqual(cells(3).filter((cell: string) => cell.startsWith("sig-0001 ")), [
    "sig-0001 SOC_EAST",
    "sig-0001 SOC_WEST",
  ]);
});

Deno.test("driftMatrix() adds a column for an environment a drift names outside the report's list", () => {
  const matrix = driftMatrix(report([skew("s", { A: 1, Z: 2 })], { environments: ["A"] }));
  assert.deepEqual(matrix.environments, ["A", "Z"]);
});

Deno.test("driftMatrix() treats ids like __proto__ and constructor as plain keys", () => {
  const evidence = JSON.parse('{"__proto__": {"rev": 1}, "constructor": {"rev": 2}}');
  // Built by hand: zod's record parsing would drop an own "__proto__" key before we see it.
  const matrix = driftMatrix({
    ...report([]),
    environments: ["__proto__", "constructor"],
    crossEnvDrifts: [drift("VERSION_SKEW", "__proto__", evidence)],
  });
  assert.deepEqual(matrix.environments, ["__proto__", "constructor"]);
  assert.equal(matrix.rows[0].signatureId, "__proto__");
  assert.deepEqual(matrix.rows[0].cells.map((cell) => [cell?.rev, cell?.roles]), [
    [1, ["review"]],
    [2, ["review"]],
  ]);
});

// --- scale ---------------------------------------------------------------------

Deno.test("render() keeps the page small for 5,000 drifting signatures", async () => {
  const drifts: ReportDrift[] = [];
  for (let i = 0; i < 5000; i++) {
    const sig = `sig-${String(i).padStart(5, "0")}`;
    // With resolutions and recommendations of the length the built-in detectors write.
    drifts.push(resolved(
      skew(sig, { SOC_EAST: 3, SOC_NORTH: 4, SOC_WEST: 3 }),
      "align",
      "SOC_NORTH",
      ["SOC_EAST", "SOC_WEST"],
      `Move SOC_EAST (revision 3), SOC_WEST (revision 3) to revision 4 of signature "${sig}" (patch "${sig}-p4"), as SOC_NORTH has it`,
    ));
    if (i % 5 === 0) {
      drifts.push(resolved(
        posture(sig, { SOC_EAST: 0.6, SOC_NORTH: 0.6, SOC_WEST: 0.2 }),
        "review",
        null,
        ["SOC_WEST"],
        `Review the confidence in signature "${sig}" in SOC_WEST (0.2): the majority, SOC_EAST (0.6), SOC_NORTH (0.6), agrees within 0.3 and it lies apart`,
      ));
    }
  }
  const started = performance.now();
  const page = await render(report(drifts));
  const elapsed = performance.now() - started;
  console.log(`5,000 signatures: ${page.length} bytes, rendered in ${Math.round(elapsed)} ms`);
  const parsed = JSON.parse(scripts(page).data);
  assert.equal(parsed.rows.length, 5000);
  assert.ok(page.length < 3_000_000, `the page is ${page.length} bytes`);
  assert.ok(page.length / drifts.length < 500, "under 500 bytes per drift");
  assert.ok(elapsed < 5000, `rendering took ${Math.round(elapsed)} ms`);
});

// --- the reporter family ---------------------------------------------------------

Deno.test("the html and json reporters register as reporters of their formats", () => {
  const registry = new PluginRegistry();
  registry.register(htmlReporter);
  registry.register(jsonReporter);
  assert.equal(registry.reporter("html"), htmlReporter);
  assert.equal(registry.reporter("json"), jsonReporter);
});

Deno.test("the json reporter writes the report as the CLI writes it, and it parses back", async () => {
  const r = report([skew("sig-0001", { SOC_EAST: 3, SOC_NORTH: 4 })]);
  const text = String(await jsonReporter.render(r, {}));
  assert.equal(text, JSON.stringify(r, null, 2) + "\n");
  assert.deepEqual(parseReport(JSON.parse(text), "r.json"), r);
});
