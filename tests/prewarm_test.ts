import assert from "node:assert/strict";
import { prewarmFor } from "../cli/prewarm.ts";
import { ingestFiles } from "../core/hub.ts";
import { prewarmInspectors, takePrewarmedInspectors } from "../core/inspect_pool.ts";

const PACKETS = new URL("../fixtures/packets/", import.meta.url).pathname;
const FILES = [...Deno.readDirSync(PACKETS)].map((e) => `${PACKETS}${e.name}`).sort();

Deno.test("prewarmFor() starts workers only for commands that ingest a handful of packets", async (t) => {
  const cores = Math.max(1, Math.min(4, navigator.hardwareConcurrency ?? 1));
  const started = (args: string[]) => {
    const count = prewarmFor(args);
    const pool = takePrewarmedInspectors();
    assert.equal(pool?.size ?? 0, count, "the count is the pool's size");
    pool?.close();
    return count;
  };
  await t.step("a directory of packets, or enough files", () => {
    assert.equal(started(["federate", "--packets", PACKETS, "--out", "r.json"]), cores);
    assert.equal(started(["hub", "replay", "--packets", ...FILES.slice(0, 4)]), cores);
  });
  await t.step("not for other commands, help, or a few packets", () => {
    assert.equal(started(["gate", "validate", "--packets", PACKETS]), 0);
    assert.equal(started(["federate", "--packets", PACKETS, "--help"]), 0);
    assert.equal(started(["federate", "--packets", ...FILES.slice(0, 3), "--out", "r"]), 0);
    assert.equal(started(["federate", "--out", "r.json"]), 0);
  });
});

Deno.test("ingestFiles() adopts a warm pool of the size it wants, and closes one it does not want", async () => {
  prewarmInspectors(2);
  const warm = await ingestFiles(FILES, { workers: 2 });
  assert.equal(takePrewarmedInspectors(), undefined, "adopted");
  prewarmInspectors(2);
  const inline = await ingestFiles(FILES, { workers: 0 });
  assert.equal(takePrewarmedInspectors(), undefined, "closed");
  assert.deepEqual(
    JSON.stringify(warm.state.toJSON()),
    JSON.stringify(inline.state.toJSON()),
  );
  assert.equal(warm.outcomes.filter((o) => o.kind === "accepted").length, FILES.length);
});
