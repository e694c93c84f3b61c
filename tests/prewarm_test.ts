import assert from "node:assert/strict";
import { byWindowHint, prewarmFor } from "../cli/prewarm.ts";
import { ingestFiles } from "../core/hub.ts";
import { inspectFile } from "../core/inspect.ts";
import { expandInputs } from "../core/inputs.ts";
import { listPacketFiles } from "../core/packet_files.ts";
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

Deno.test("listPacketFiles() lists what expandInputs() gives for files and directories, or nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/sub/deeper`, { recursive: true });
    for (const name of ["b.zip", "a.ZIP", "notes.txt", "sub/c.zip", "sub/deeper/d.zip"]) {
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array());
    }
    for (
      const inputs of [[dir], [`${dir}/`], [`${dir}/b.zip`, dir], [
        `${dir}/sub`,
        `${dir}/notes.txt`,
      ]]
    ) {
      assert.deepEqual(listPacketFiles(inputs), await expandInputs(inputs), inputs.join(" "));
    }
    assert.equal(listPacketFiles([`${dir}/*.zip`]), undefined, "a glob is expandInputs' to expand");
    assert.equal(listPacketFiles([`${dir}/missing.zip`]), undefined);
    await Deno.mkdir(`${dir}/empty`);
    assert.equal(listPacketFiles([`${dir}/empty`]), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("byWindowHint() guesses the hub's order from packet names", () => {
  const names = [
    "x/JRM_X_PACKET_SOC_B_20260101T000000_20260101T001000_part02.zip",
    "x/JRM_X_PACKET_SOC_A_20260101T001000_20260101T002000_part01.zip",
    "x/odd-name.zip",
    "x/JRM_X_PACKET_SOC_B_20260101T000000_20260101T001000_part01.zip",
    "x/JRM_X_PACKET_SOC_A_20260101T000000_20260101T001000_part01.zip",
    "x/another.zip",
  ];
  assert.deepEqual(byWindowHint(names), [
    "x/JRM_X_PACKET_SOC_A_20260101T000000_20260101T001000_part01.zip",
    "x/JRM_X_PACKET_SOC_B_20260101T000000_20260101T001000_part01.zip",
    "x/JRM_X_PACKET_SOC_B_20260101T000000_20260101T001000_part02.zip",
    "x/JRM_X_PACKET_SOC_A_20260101T001000_20260101T002000_part01.zip",
    "x/another.zip",
    "x/odd-name.zip",
  ]);
});

Deno.test("prewarmFor() starts the workers on the packets the hub folds first", async () => {
  const workers = prewarmFor(["federate", "--packets", PACKETS, "--out", "r.json"]);
  const pool = takePrewarmedInspectors()!;
  try {
    const first = byWindowHint(FILES).slice(0, 3 * workers);
    for (const path of first) {
      const prefetched = pool.takePrefetched(path);
      assert.ok(prefetched, `${path} was prefetched`);
      assert.deepEqual(await prefetched, inspectFile(path));
      assert.equal(pool.takePrefetched(path), undefined, "handed over once");
    }
    for (const path of FILES.filter((path) => !first.includes(path))) {
      assert.equal(pool.takePrefetched(path), undefined, `${path} was not prefetched`);
    }
  } finally {
    pool.close();
  }
});

Deno.test("ingestFiles() takes prefetched inspections only when its limits are the defaults", async () => {
  const inline = await ingestFiles(FILES, { workers: 0 });
  prewarmInspectors(2, FILES);
  const warm = await ingestFiles(FILES, { workers: 2 });
  assert.deepEqual(warm.outcomes, inline.outcomes);
  assert.deepEqual(warm.state.toJSON(), inline.state.toJSON());
  // Read ahead with the default limits, every packet passes; with a 1 KiB entry limit none does.
  const limits = { maxEntryBytes: 1024 };
  prewarmInspectors(2, FILES);
  const strict = await ingestFiles(FILES, { workers: 2, limits });
  assert.deepEqual(strict.outcomes, (await ingestFiles(FILES, { workers: 0, limits })).outcomes);
  assert.ok(strict.outcomes.every((outcome) => outcome.kind === "rejected"));
  assert.equal(takePrewarmedInspectors(), undefined, "adopted");
});
