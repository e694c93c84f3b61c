import assert from "node:assert/strict";
import htmlReporter from "../plugins/reporters/html.ts";
import { htmlAdvisory, report } from "./_report_fixture.ts";

const render = async (context: Record<string, unknown>) =>
  String(await htmlReporter.render(report([]), context));

Deno.test("html reporter shows who decided an advisory and why, from its history", async () => {
  const decided = {
    ...htmlAdvisory({ advisoryId: "adv-11111111111111111111", status: "declined" }),
    history: [
      { to: "published", by: "jrm", reason: null },
      { to: "declined", by: "alice <ops>", reason: "rev 3 is pinned by change 42" },
    ],
  };
  const open = htmlAdvisory({ advisoryId: "adv-22222222222222222222", status: "published" });
  const page = await render({ advisories: [decided, open] });
  const row = (id: string) => page.match(new RegExp(`<tr>.*?${id}.*?</tr>`, "s"))?.[0] ?? "";
  assert.match(row("adv-11111111111111111111"), /alice &lt;ops&gt;: rev 3 is pinned by change 42/);
  assert.doesNotMatch(row("adv-22222222222222222222"), /alice/);
});

Deno.test("html reporter refreshes the page only when asked, within its CSP", async () => {
  const plain = await render({});
  assert.doesNotMatch(plain, /http-equiv="refresh"/);
  const live = await render({ refreshSeconds: 15 });
  assert.match(live, /<meta http-equiv="refresh" content="15">/);
  assert.match(live, /Content-Security-Policy" content="default-src 'none'/);
  await assert.rejects(render({ refreshSeconds: 0 }), /refreshSeconds/);
  await assert.rejects(render({ refreshSeconds: "5" }), /refreshSeconds/);
});
