import assert from "node:assert/strict";
import { oneErrorLine, runJrm, withTempDir } from "./_cli.ts";
import { FederationState } from "../core/hub.ts";
import { buildReport } from "../core/report.ts";

const REPO = new URL("..", import.meta.url).pathname;

Deno.test("jrm federate --html and jrm report --html write the page; a ledger adds its advisories", async () => {
  await withTempDir("jrm-report-", async (dir) => {
    const federate = await runJrm([
      "federate",
      "--packets",
      `${REPO}fixtures/packets`,
      "--keyring",
      `${REPO}fixtures/keyring.json`,
      "--out",
      `${dir}/report.json`,
      "--html",
      `${dir}/direct.html`,
      "--now",
      "2026-03-01T00:00:00Z",
    ]);
    assert.equal(federate.code, 0, federate.stderr);
    const direct = await Deno.readTextFile(`${dir}/direct.html`);
    assert.match(direct, /^<!DOCTYPE html>/i);
    assert.match(direct, /sig-0001/);

    const publish = await runJrm([
      "advisory",
      "publish",
      "--from",
      `${dir}/report.json`,
      "--store",
      `${dir}/ledger.sqlite`,
      "--now",
      "2026-03-01T00:05:00Z",
    ]);
    assert.equal(publish.code, 0, publish.stderr);
    const report = await runJrm([
      "report",
      "--from",
      `${dir}/report.json`,
      "--html",
      `${dir}/with-ledger.html`,
      "--store",
      `${dir}/ledger.sqlite`,
    ]);
    assert.equal(report.code, 0, report.stderr);
    const page = await Deno.readTextFile(`${dir}/with-ledger.html`);
    assert.match(page, /adv-[0-9a-f]{8}/);
    assert.match(page, /published/);
    // Without a ledger the page has no advisory ids.
    assert.doesNotMatch(direct, /adv-[0-9a-f]{8}/);
  });
});

Deno.test("jrm report refuses a missing file, non-JSON and a non-report, writing nothing", async (t) => {
  await withTempDir("jrm-report-", async (dir) => {
    await Deno.writeTextFile(`${dir}/not-json.json`, "{ nope");
    await Deno.writeTextFile(`${dir}/other.json`, JSON.stringify({ hello: "world" }));
    const cases: [string, string, RegExp][] = [
      ["missing", `${dir}/absent.json`, /Cannot read report ".*absent\.json": not found/],
      [
        "not JSON",
        `${dir}/not-json.json`,
        /Cannot parse ".*not-json\.json": Expected property name/,
      ],
      ["not a report", `${dir}/other.json`, /other\.json" is not a federation report/],
    ];
    for (const [name, from, message] of cases) {
      await t.step(name, async () => {
        const run = await runJrm(["report", "--from", from, "--html", `${dir}/out.html`]);
        assert.match(oneErrorLine(run, 2), message);
        await assert.rejects(Deno.stat(`${dir}/out.html`));
      });
    }
    await t.step("an unknown format names the known ones", async () => {
      const empty = buildReport(
        { state: new FederationState(), outcomes: [] },
        { drifts: [], runs: [], errors: [] },
        "2026-03-01T00:00:00.000Z",
      );
      await Deno.writeTextFile(`${dir}/empty.json`, JSON.stringify(empty));
      const run = await runJrm([
        "report",
        "--from",
        `${dir}/empty.json`,
        "--format",
        "pdf",
        "--out",
        `${dir}/x.pdf`,
      ]);
      assert.match(
        oneErrorLine(run, 2),
        /No reporter renders the "pdf" format \(known: "json", "html"\)/,
      );
      await assert.rejects(Deno.stat(`${dir}/x.pdf`));
    });
  });
});
