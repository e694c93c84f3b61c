import assert from "node:assert/strict";
import { runDetectors } from "../core/drift.ts";
import { ingestFiles } from "../core/hub.ts";
import { expandInputs } from "../core/inputs.ts";
import { loadKeyring } from "../core/keyring.ts";
import { buildReport, type FederationReport, type ReportDrift } from "../core/report.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import htmlReporter, { type HtmlAdvisory } from "../plugins/reporters/html.ts";
import {
  browserTest,
  browserTestMode,
  dumpDom,
  isPng,
  openPage,
  type Page,
  screenshot,
} from "./_chromium.ts";
import { htmlAdvisory } from "./_report_fixture.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const ROWS = "#matrix tbody tr:not(.detail)";

/**
 * The report of the demo packets, plus a packet that is not a zip (rejected)
 * and a copy of a packet (duplicate): a real run of the hub and the detectors.
 */
async function demoReport(dir: string): Promise<FederationReport> {
  const junk = `${dir}/JRM_X_PACKET_SOC_WEST_20260228T102000_20260228T103000_part01.zip`;
  await Deno.writeTextFile(junk, "this is not a zip archive");
  const copy = `${dir}/copy_of_SOC_EAST_part01.zip`;
  await Deno.copyFile(
    `${FIXTURES}packets/JRM_X_PACKET_SOC_EAST_20260228T100000_20260228T101000_part01.zip`,
    copy,
  );
  const registry = builtinRegistry();
  const keyring = await loadKeyring(registry, `${FIXTURES}keyring.json`);
  const files = await expandInputs([`${FIXTURES}packets`, junk, copy]);
  const ingestion = await ingestFiles(files, { keyring });
  const detection = await runDetectors(
    ingestion.state.view(),
    registry.detectors().map((plugin) => ({
      plugin,
      options: plugin.defaultOptions ?? {},
      origin: "built-in",
    })),
  );
  return buildReport(ingestion, detection, "2026-03-01T00:00:00Z");
}

const ADVISORIES: HtmlAdvisory[] = [
  htmlAdvisory({ advisoryId: "adv-0b1c2d3e4f5a6b7c8d9e" }),
  {
    advisoryId: "adv-1a2b3c4d5e6f7a8b9c0d",
    driftType: "REFINEMENT_CONFLICT",
    severity: "high",
    signatureId: "sig-0005",
    sourceEnv: null,
    targetEnvs: ["SOC_EAST", "SOC_NORTH", "SOC_WEST"],
    recommendation: 'Review by hand: patches "sig-0005-p3" and "sig-0005-fork-p3" compete',
    status: "accepted",
    updatedAt: "2026-03-01T00:05:00.000Z",
  },
  {
    advisoryId: "adv-9f8e7d6c5b4a39281706",
    driftType: "POSTURE_DIVERGENCE",
    severity: "medium",
    signatureId: "sig-0002",
    sourceEnv: null,
    targetEnvs: ["SOC_WEST"],
    recommendation: "Review the confidence of SOC_WEST",
    status: "declined",
    updatedAt: "2026-03-01T00:06:00.000Z",
  },
];

/** Render a report to an HTML file in `dir`; returns its file URL. */
async function writePage(
  dir: string,
  report: FederationReport,
  context: Record<string, unknown> = {},
  name = "report.html",
): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, String(await htmlReporter.render(report, context)));
  return new URL(`file://${path}`).href;
}

const rowCount = (page: Page) =>
  page.evaluate<number>(`document.querySelectorAll(${JSON.stringify(ROWS)}).length`);
const signatures = (page: Page) =>
  page.evaluate<string[]>(
    `[...document.querySelectorAll("#matrix tbody button.toggle")].map((b) => b.textContent)`,
  );
const statusText = (page: Page) =>
  page.evaluate<string>(`document.getElementById("matrix-status").textContent`);

/** Whether an element is there and rendered with a size (not hidden, not display:none). */
const visible = (page: Page, selector: string) =>
  page.evaluate<boolean>(`(() => {
    const element = document.querySelector(${JSON.stringify(selector)});
    if (!element) return false;
    const rect = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return rect.width > 0 && rect.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  })()`);

/** Type into the filter and wait until the page has applied it. */
async function filter(page: Page, text: string): Promise<void> {
  await page.clear("#filter");
  if (text) await page.type("#filter", text);
  await page.waitFor(
    `document.getElementById("filter").value === ${JSON.stringify(text)} && ` +
      `document.getElementById("matrix-status").dataset.applied === ${JSON.stringify(text)}`,
  );
}

Deno.test("browserTestMode() runs with Chromium, skips without it, fails without it on CI", async (t) => {
  const cases: [boolean, string | undefined, string][] = [
    [true, undefined, "run"],
    [true, "true", "run"],
    [false, undefined, "skip"],
    [false, "false", "skip"],
    [false, "true", "fail"],
  ];
  for (const [found, ci, mode] of cases) {
    await t.step(`found=${found} CI=${ci}`, () => {
      assert.equal(browserTestMode(found, ci), mode);
    });
  }
});

browserTest(
  "the HTML report shows its summary, coloured matrix, rejected packets and advisories",
  async (chromium) => {
    const dir = await Deno.makeTempDir({ prefix: "jrm-browser-" });
    try {
      const report = await demoReport(dir);
      assert.equal(report.packetsRejected.length, 1);
      assert.equal(report.duplicates.length, 1);
      const url = await writePage(dir, report, { advisories: ADVISORIES });
      const png = await openPage(chromium, url, async (page) => {
        await page.waitFor(`document.querySelectorAll(${JSON.stringify(ROWS)}).length > 0`);
        for (
          const selector of [
            "#summary .cards",
            "#drift-counts",
            "#environments",
            ".legend",
            "#filter",
            "#matrix",
            "#rejected-table",
            "#duplicates-table",
            "#advisories-table",
          ]
        ) {
          assert.ok(await visible(page, selector), `${selector} is visible`);
        }
        const cards = await page.evaluate<Record<string, string>>(`Object.fromEntries(
          [...document.querySelectorAll(".card")].map((c) =>
            [c.querySelector(".label").textContent, c.querySelector(".n").textContent]))`);
        assert.deepEqual(cards, {
          "Environments": "3",
          "Packets accepted": "9",
          "Packets rejected": "1",
          "Duplicate packets": "1",
          "Drifts": "18",
        });
        assert.equal(await rowCount(page), 16);
        assert.equal(await statusText(page), "Showing 16 of 16 signatures.");

        // sig-0001: rev 3, 4, 3 — SOC_EAST and SOC_WEST must move to SOC_NORTH's rev 4, as the
        // advisory says: they are coloured, the reference is tagged.
        const cells = await page.evaluate<{ text: string; className: string; bg: string }[]>(`
          [...[...document.querySelectorAll("#matrix tbody tr")]
            .find((tr) => tr.querySelector("button.toggle").textContent === "sig-0001")
            .querySelectorAll("td.cell")]
            .map((td) => ({ text: td.textContent, className: td.className,
              bg: getComputedStyle(td).backgroundColor }))`);
        assert.deepEqual(cells.map((c) => c.text), ["rev 3A", "rev 4S", "rev 3A"]);
        assert.deepEqual(cells.map((c) => c.className), [
          "cell act-align",
          "cell agree",
          "cell act-align",
        ]);
        assert.equal(cells[0].bg, "rgb(252, 211, 77)", "the inline style is allowed by its hash");
        assert.equal(cells[1].bg, "rgb(255, 255, 255)");
        const titles = await page.evaluate<string[]>(`
          [...[...document.querySelectorAll("#matrix tbody tr")]
            .find((tr) => tr.querySelector("button.toggle").textContent === "sig-0001")
            .querySelectorAll("td.cell")].map((td) => td.title.split("\\n").slice(-1)[0])`);
        assert.deepEqual(titles, [
          "VERSION_SKEW: must align with SOC_NORTH",
          "VERSION_SKEW: the reference",
          "VERSION_SKEW: must align with SOC_NORTH",
        ]);
        // sig-0002: confidence 0.6, 0.6, 0.25 — SOC_WEST is to be reviewed.
        const posture = await page.evaluate<string[]>(`
          [...[...document.querySelectorAll("#matrix tbody tr")]
            .find((tr) => tr.querySelector("button.toggle").textContent === "sig-0002")
            .querySelectorAll("td.cell")].map((td) => td.className + " " + td.textContent)`);
        assert.deepEqual(posture, [
          "cell agree conf 0.60",
          "cell agree conf 0.60",
          "cell act-review conf 0.25R",
        ]);

        const rejected = await page.evaluate<string>(
          `document.getElementById("rejected-table").textContent`,
        );
        assert.match(rejected, /JRM_X_PACKET_SOC_WEST_20260228T102000_20260228T103000_part01\.zip/);
        assert.ok(
          rejected.includes(report.packetsRejected[0].reasonCode),
          `the reason ${report.packetsRejected[0].reasonCode} is shown`,
        );
        const advisories = await page.evaluate<string[]>(
          `[...document.querySelectorAll("#advisories-table tbody tr")].map((tr) =>
            tr.cells[0].textContent + " " + tr.cells[4].textContent)`,
        );
        assert.deepEqual(advisories, [
          "published sig-0001",
          "accepted sig-0005",
          "declined sig-0002",
        ]);
        assert.deepEqual(page.dialogs, []);
        assert.deepEqual(page.errors, [], "no script error and no policy violation");
        return await page.screenshot();
      });
      assert.ok(isPng(png), "a PNG");
      assert.ok(png.length > 10_000, `a PNG of ${png.length} bytes shows something`);
      await Deno.writeFile(`${dir}/report.png`, png);
      const keep = Deno.env.get("JRM_REPORT_SCREENSHOT");
      if (keep) await Deno.writeFile(keep, png);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

browserTest(
  "the page's policy blocks every load from outside, even one a bug would make",
  async (chromium) => {
    const dir = await Deno.makeTempDir({ prefix: "jrm-browser-" });
    try {
      const url = await writePage(dir, await demoReport(dir));
      await openPage(chromium, url, async (page) => {
        const violated = await page.evaluate<string[]>(`new Promise((resolve) => {
        const seen = [];
        document.addEventListener("securitypolicyviolation", (e) => seen.push(e.effectiveDirective));
        const img = document.createElement("img");
        img.src = "http://127.0.0.1:9/pixel.png";
        document.body.appendChild(img);
        fetch("http://127.0.0.1:9/data.json").catch(() => {});
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
        setTimeout(() => { img.remove(); script.remove(); resolve(seen.sort()); }, 500);
      })`);
        assert.deepEqual(violated, ["connect-src", "img-src", "script-src-elem"]);
        assert.equal(await page.evaluate("window.injected === true"), false);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

browserTest(
  "typing in the filter narrows the matrix, and clicking headers sorts it",
  async (chromium) => {
    const dir = await Deno.makeTempDir({ prefix: "jrm-browser-" });
    try {
      const url = await writePage(dir, await demoReport(dir));
      await openPage(chromium, url, async (page) => {
        await page.waitFor(`document.querySelectorAll(${JSON.stringify(ROWS)}).length === 16`);

        await filter(page, "sig-0001");
        assert.deepEqual(await signatures(page), ["sig-0001"]);
        assert.equal(await statusText(page), "Showing 1 of 1 matching signature (16 in all).");

        await filter(page, "posture");
        assert.deepEqual(await signatures(page), ["sig-0002", "sig-0004", "sig-0016", "sig-0018"]);

        // An environment matches the rows where it must act.
        await filter(page, "SOC_WEST posture");
        assert.deepEqual(await signatures(page), ["sig-0002"]);
        const westCells = await page.evaluate<string[]>(
          `[...document.querySelectorAll("${ROWS}")].map((tr) => tr.cells[5].className)`,
        );
        assert.ok(westCells.every((c) => c.includes("act-")), westCells.join());

        await filter(page, "no-such-signature");
        assert.equal(await rowCount(page), 0);
        assert.match(await statusText(page), /^No drifting signature matches the filter/);

        await filter(page, "");
        assert.equal(await rowCount(page), 16);

        await page.click('th[data-sort="signature"] button');
        const ascending = await signatures(page);
        assert.deepEqual(ascending, [...ascending].sort());
        assert.equal(
          await page.evaluate(`document.querySelector('th[data-sort="signature"]').ariaSort`),
          "ascending",
        );
        await page.click('th[data-sort="signature"] button');
        assert.deepEqual(await signatures(page), [...ascending].reverse());

        await page.click('th[data-sort="env:0"] button');
        const revs = await page.evaluate<(number | null)[]>(
          `[...document.querySelectorAll("${ROWS}")].map((tr) => {
          const match = /rev (\\d+)/.exec(tr.cells[3].textContent);
          return match ? Number(match[1]) : null;
        })`,
        );
        const known = revs.filter((rev): rev is number => rev !== null);
        assert.deepEqual(known, [...known].sort((a, b) => a - b), "sorted by SOC_EAST's rev");
        assert.deepEqual(revs.slice(known.length), revs.slice(known.length).map(() => null));

        // The filter keeps the order chosen.
        await filter(page, "VERSION_SKEW");
        const skewRevs = await page.evaluate<number[]>(
          `[...document.querySelectorAll("${ROWS}")].map((tr) =>
          Number(/rev (\\d+)/.exec(tr.cells[3].textContent)[1]))`,
        );
        assert.deepEqual(skewRevs, [...skewRevs].sort((a, b) => a - b));

        await page.click(`${ROWS}:first-child button.toggle`);
        const detail = await page.evaluate<string>(
          `document.querySelector("#matrix tbody tr.detail").textContent`,
        );
        assert.match(detail, /VERSION_SKEW.*drift-[0-9a-f]{24}/);
        assert.deepEqual(page.dialogs, []);
        assert.deepEqual(page.errors, []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

function syntheticReport(count: number): FederationReport {
  const environments = ["SOC_EAST", "SOC_NORTH", "SOC_WEST"];
  const drifts: ReportDrift[] = [];
  for (let i = 0; i < count; i++) {
    const signatureId = `sig-${String(i).padStart(5, "0")}`;
    const revs = [3, 3, 3];
    revs[i % 3] = 4;
    drifts.push({
      driftId: `drift-${i.toString(16).padStart(24, "0")}`,
      driftType: "VERSION_SKEW",
      severity: "low",
      environments,
      signatureId,
      detail: `Signature "${signatureId}" is at rev ${revs.join(", ")}`,
      evidence: Object.fromEntries(
        environments.map((
          env,
          e,
        ) => [env, { rev: revs[e], patchId: `${signatureId}-p${revs[e]}` }]),
      ),
      detector: "version-skew",
      resolution: {
        action: "align",
        source: environments[i % 3],
        targets: environments.filter((_, e) => e !== i % 3),
        recommendation: `Move ${
          environments.filter((_, e) => e !== i % 3).map((env) => `${env} (revision 3)`).join(", ")
        } to revision 4 of signature "${signatureId}" (patch "${signatureId}-p4"), as ${
          environments[i % 3]
        } has it`,
      },
    });
  }
  const stats = {
    packets: 1,
    windowStart: "2026-02-28T10:00:00Z",
    windowEnd: "2026-02-28T10:10:00Z",
    signatures: count,
    graphNodes: 0,
    graphEdges: 0,
  };
  return {
    reportVersion: 2,
    generatedAt: "2026-03-01T00:00:00Z",
    environments,
    packetsIngested: 3,
    packetsRejected: [],
    duplicates: [],
    crossEnvDrifts: drifts,
    mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} },
    environmentStats: Object.fromEntries(environments.map((env) => [env, stats])),
    detectors: [],
    detectorErrors: [],
  };
}

browserTest(
  "5,000 drifting signatures: pages of 1,000 rows, a filter that searches all",
  async (chromium) => {
    const dir = await Deno.makeTempDir({ prefix: "jrm-browser-" });
    try {
      const url = await writePage(dir, syntheticReport(5000));
      const size = (await Deno.stat(new URL(url).pathname)).size;
      assert.ok(size < 2_000_000, `the page is ${size} bytes`);
      await openPage(chromium, url, async (page) => {
        await page.waitFor(`document.querySelectorAll(${JSON.stringify(ROWS)}).length > 0`);
        assert.equal(await rowCount(page), 1000);
        assert.equal(await statusText(page), "Showing 1,000 of 5,000 signatures.");
        await page.click("#show-more");
        assert.equal(await rowCount(page), 2000);

        await filter(page, "sig-04999");
        assert.deepEqual(await signatures(page), ["sig-04999"]);
        await filter(page, "sig-049");
        assert.equal(await rowCount(page), 100);
        await filter(page, "");
        assert.equal(await rowCount(page), 1000);

        await page.click("#show-all");
        assert.equal(await rowCount(page), 5000);
        assert.equal(await page.evaluate(`document.getElementById("show-all").hidden`), true);
        await page.click('th[data-sort="signature"] button');
        await page.click('th[data-sort="signature"] button');
        assert.equal((await signatures(page))[0], "sig-04999");
        assert.deepEqual(page.errors, []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const HOSTILE_SIGNATURES = [
  "<img src=x onerror=alert(1)>",
  "</script><script>alert(2)</script>",
  '"><svg onload=alert(3)>',
];

function hostileReport(): FederationReport {
  const report = syntheticReport(0);
  const env = "SOC_<img src=x onerror=alert(4)>";
  report.environments = ["SOC_EAST", env];
  report.environmentStats = { SOC_EAST: report.environmentStats.SOC_EAST };
  report.crossEnvDrifts = HOSTILE_SIGNATURES.map((signatureId, i) => ({
    driftId: `drift-${String(i).padStart(24, "0")}`,
    driftType: "VERSION_SKEW",
    severity: "low",
    environments: ["SOC_EAST", env],
    signatureId,
    detail: `<img src=x onerror=alert(5)> ${signatureId}`,
    evidence: {
      SOC_EAST: { rev: 1, patchId: "<svg onload=alert(6)>" },
      [env]: { rev: "<img src=x onerror=alert(7)>" },
    },
    detector: "version-skew",
    resolution: {
      action: "align" as const,
      source: "SOC_EAST",
      targets: [env],
      recommendation: "<img src=x onerror=alert(12)> move",
    },
  }));
  report.packetsRejected = [{
    source: "<img src=x onerror=alert(8)>.zip",
    packetName: "</script><script>alert(9)</script>",
    environmentId: env,
    reasonCode: "<b>BAD</b>",
    violations: [{ code: "MANIFEST_INVALID", message: "<img src=x onerror=alert(10)>" }],
  }];
  return report;
}

const hostileAdvisory: HtmlAdvisory = {
  ...ADVISORIES[0],
  signatureId: HOSTILE_SIGNATURES[0],
  recommendation: "<svg onload=alert(11)>",
};

browserTest(
  "hostile strings render as text: no injected element, no dialog, nothing run",
  async (chromium) => {
    const dir = await Deno.makeTempDir({ prefix: "jrm-browser-" });
    try {
      const url = await writePage(dir, hostileReport(), { advisories: [hostileAdvisory] });

      // Without a driver: the DOM after scripts ran, as Chromium serializes it.
      const dom = await dumpDom(chromium, url);
      assert.ok(dom.includes('<tbody><tr data-index="0">'), "the matrix was built");
      assert.doesNotMatch(dom, /<img|<svg|<b>/i, "no element made from data");
      assert.equal(dom.match(/<script\b/g)?.length, 2);
      assert.ok(dom.includes("&lt;img src=x onerror=alert(1)&gt;"), "shown as text");

      await openPage(chromium, url, async (page) => {
        await page.waitFor(`document.querySelectorAll(${JSON.stringify(ROWS)}).length === 3`);
        await page.click(`${ROWS}:first-child button.toggle`);
        assert.equal(
          await page.evaluate(
            `document.querySelectorAll("img, svg, b, iframe, object, embed").length`,
          ),
          0,
        );
        assert.equal(await page.evaluate(`document.scripts.length`), 2);
        assert.deepEqual((await signatures(page)).sort(), [...HOSTILE_SIGNATURES].sort());
        const headers = await page.evaluate<string[]>(
          `[...document.querySelectorAll("#matrix thead th")].map((th) => th.textContent)`,
        );
        assert.equal(headers[4], "SOC_<img src=x onerror=alert(4)>");
        assert.match(
          await page.evaluate<string>(
            `document.querySelector("#matrix tbody tr.detail").textContent`,
          ),
          /<img src=x onerror=alert\(5\)>.*align: <img src=x onerror=alert\(12\)> move/,
        );
        assert.match(
          await page.evaluate<string>(`document.getElementById("rejected-table").textContent`),
          /<img src=x onerror=alert\(10\)>/,
        );
        assert.deepEqual(page.dialogs, [], "no alert() ran");
        assert.deepEqual(page.errors, []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

browserTest(
  "Chromium's own --dump-dom and --screenshot: #filter= in the address prefills the filter",
  async (chromium) => {
    const dir = await Deno.makeTempDir({ prefix: "jrm-browser-" });
    try {
      const url = await writePage(dir, await demoReport(dir));
      const dom = await dumpDom(chromium, `${url}#filter=sig-0001`);
      assert.equal(dom.match(/<tr data-index=/g)?.length, 1);
      assert.ok(dom.includes(">sig-0001</button>"));
      assert.ok(dom.includes('<input id="filter"') && dom.includes("Showing 1 of 1 matching"));

      const sorted = await dumpDom(chromium, `${url}#sort=SOC_EAST&dir=desc`);
      assert.match(sorted, /data-sort="env:0" aria-sort="descending"/);

      const path = `${dir}/shot.png`;
      await screenshot(chromium, url, path);
      const png = await Deno.readFile(path);
      assert.ok(isPng(png), "a PNG");
      assert.ok(png.length > 10_000, `a PNG of ${png.length} bytes shows something`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
