import assert from "node:assert/strict";
import { expectedModule, generatedModule, TARGET } from "../scripts/build_html_client.ts";
import { SCRIPT, STYLE } from "../plugins/reporters/html_client.generated.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("the page's embedded client is the client files as they are (run deno task html-client)", async () => {
  const actual = await Deno.readTextFile(new URL(TARGET, ROOT));
  assert.equal(
    actual,
    await expectedModule(),
    `${TARGET} is stale: run \`deno task html-client\``,
  );
});

Deno.test("the generated module gives the files' text back exactly, whatever they hold", async () => {
  const style = 'a::after { content: "\\25B2"; }\n/* `${not a template}` */\n';
  const script = 'const s = "\\u00b7 </script> \\u2028";\n`${x}`;\n';
  const url = `data:application/typescript;base64,${
    btoa(String.fromCharCode(...new TextEncoder().encode(generatedModule(style, script))))
  }`;
  const module = await import(url);
  assert.equal(module.STYLE, style);
  assert.equal(module.SCRIPT, script);
});

Deno.test("the page embeds the client files: a change to them shows in the page", async () => {
  const { default: htmlReporter } = await import("../plugins/reporters/html.ts");
  assert.ok(STYLE.includes("--align:"));
  assert.ok(SCRIPT.includes('document.getElementById("jrm-data")'));
  const report = {
    reportVersion: 2,
    generatedAt: "2026-03-01T00:00:00.000Z",
    environments: [],
    packetsIngested: 0,
    packetsRejected: [],
    duplicates: [],
    crossEnvDrifts: [],
    mergedGraph: { nodes: 0, edges: 0, perEnvironment: {} },
    environmentStats: {},
    detectors: [],
    detectorErrors: [],
  };
  const page = String(await htmlReporter.render(report as never, {}));
  assert.ok(page.includes(`<style>${STYLE}</style>`));
  assert.ok(page.includes(`<script>${SCRIPT}</script>`));
});
