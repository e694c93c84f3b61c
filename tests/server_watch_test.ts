import assert from "node:assert/strict";
import { FolderWatcher } from "../server/watch.ts";

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("FolderWatcher takes a file renamed in at once, even before it would be stable", async () => {
  const dir = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  const taken: string[] = [];
  // A stable time far longer than the test: only the rename can make the file complete.
  const watcher = new FolderWatcher([dir], (path) => {
    taken.push(path);
    return Promise.resolve();
  }, { stableMs: 600_000, pollMs: 50 });
  try {
    watcher.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Deno.writeTextFile(`${outside}/p.zip`, "packet");
    await Deno.rename(`${outside}/p.zip`, `${dir}/p.zip`);
    await until(() => taken.length === 1, "the renamed file");
    assert.deepEqual(taken, [`${dir}/p.zip`]);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("FolderWatcher waits for a file written in place to hold still, once per version", async () => {
  const dir = await Deno.makeTempDir();
  const taken: string[] = [];
  const watcher = new FolderWatcher([dir], (path) => {
    taken.push(path);
    return Promise.resolve();
  }, { stableMs: 1500, pollMs: 30 });
  try {
    await Deno.writeTextFile(`${dir}/.hidden.zip`, "temp");
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a packet");
    await Deno.mkdir(`${dir}/sub.zip`);
    watcher.start();
    const file = await Deno.open(`${dir}/growing.zip`, { write: true, create: true });
    // Keep it changing for longer than the stable time: it must not be taken meanwhile.
    for (let i = 0; i < 8; i++) {
      await file.write(new Uint8Array(10));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(taken, [], "taken while still growing");
    }
    file.close();
    await until(() => taken.length === 1, "the stable file");
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(taken, [`${dir}/growing.zip`], "taken once, nothing else taken");
    await Deno.writeTextFile(`${dir}/growing.zip`, "changed content");
    await until(() => taken.length === 2, "the changed file");
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});
