/**
 * Files a user names: the one bounded read (only regular files, nothing over
 * a limit, checked before a byte is read), packet inputs with links, output
 * collisions, and atomic writers (modes, temporary files).
 *
 * FIFOs, sockets and devices are made in temporary directories; a test that
 * opened a FIFO would block forever, so these tests finishing at all is part
 * of what they check.
 */

import assert from "node:assert/strict";
import { PacketError, UsageError } from "../core/errors.ts";
import {
  openAtomic,
  protectOutputs,
  readInputFile,
  readRegularFile,
  removeTempFilesSync,
  SMALL_FILE_LIMIT,
  writeChunksAtomic,
  writeFileAtomic,
} from "../core/fs.ts";
import { inspectFile, readPacketFile, validateFile } from "../core/gate.ts";
import { ingestFiles } from "../core/hub.ts";
import { expandPackets } from "../core/inputs.ts";
import { loadKeyring } from "../core/keyring.ts";
import { readKeyFile } from "../core/signer.ts";
import { loadConfig } from "../core/config.ts";
import { readReportFile } from "../core/report.ts";
import { loadPluginModule } from "../core/plugin.ts";
import { openLedger } from "../core/store.ts";
import { builtinRegistry } from "../plugins/builtin.ts";
import { REPO_ROOT } from "./_packets.ts";
import { specials } from "./_specials.ts";

const FIXTURES = `${REPO_ROOT}fixtures/packets`;

function refusedWith(code: string, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PacketError, String(error));
    assert.equal(error.violation.code, code);
    if (message) assert.match(error.violation.message, message);
    return true;
  };
}

Deno.test("readRegularFile() refuses a FIFO, a socket, a device and a directory before opening them", async (t) => {
  const s = await specials();
  try {
    const cases: [string, string, string][] = [
      ["FIFO", s.fifo, "a FIFO"],
      ["link to a FIFO", s.fifoLink, "a FIFO"],
      ["socket", s.socket, "a socket"],
      ["/dev/zero", "/dev/zero", "a character device"],
      ["/dev/null", "/dev/null", "a character device"],
      ["directory", s.directory, "a directory"],
    ];
    for (const [what, path, kind] of cases) {
      await t.step(what, () => {
        for (const head of [undefined, 16]) {
          assert.throws(
            () => readRegularFile(path, { what: "packet", maxBytes: 1024, head }),
            refusedWith(
              "FILE_NOT_REGULAR",
              new RegExp(`^Cannot read packet ".*": it is ${kind}, not a regular file$`),
            ),
          );
        }
      });
    }
  } finally {
    await s.close();
  }
});

Deno.test("readRegularFile() refuses a file over the limit before reading it, and reads one at the limit", async () => {
  const s = await specials();
  try {
    assert.throws(
      () => readRegularFile(s.sparse, { what: "packet", maxBytes: 1024 ** 3 }),
      refusedWith(
        "LIMIT_TOTAL_SIZE",
        /^Cannot read packet ".*sparse\.zip": it holds 2147483648 bytes, past the 1073741824-byte limit$/,
      ),
    );
    // The head of an oversized file is not read either.
    assert.throws(
      () => readRegularFile(s.sparse, { what: "packet", maxBytes: 1024, head: 16 }),
      refusedWith("LIMIT_TOTAL_SIZE"),
    );
    const path = `${s.dir}/ten.bin`;
    await Deno.writeFile(path, new Uint8Array(10).fill(7));
    assert.deepEqual(
      readRegularFile(path, { what: "file", maxBytes: 10 }),
      new Uint8Array(10).fill(7),
    );
    assert.deepEqual(
      readRegularFile(path, { what: "file", maxBytes: 10, head: 4 }),
      new Uint8Array(4).fill(7),
    );
    assert.throws(
      () => readRegularFile(path, { what: "file", maxBytes: 9 }),
      refusedWith("LIMIT_TOTAL_SIZE"),
    );
    // A link to a regular file is followed.
    await Deno.symlink(path, `${s.dir}/link.bin`);
    assert.equal(readRegularFile(`${s.dir}/link.bin`, { what: "file", maxBytes: 10 }).length, 10);
    assert.throws(
      () => readRegularFile(`${s.dir}/missing`, { what: "file", maxBytes: 10 }),
      refusedWith("FILE_UNREADABLE", /^Cannot read file ".*missing": not found$/),
    );
  } finally {
    await s.close();
  }
});

Deno.test("readRegularFile() reads on past the size stat gave, up to the limit (/proc)", async () => {
  // /proc files are regular files whose stat says 0 bytes; Deno lets only --allow-all read them,
  // so a child process with all permissions reads one.
  try {
    Deno.lstatSync("/proc/self/status");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return; // no /proc here
  }
  const script = `
    import { readRegularFile } from ${
    JSON.stringify(new URL("../core/fs.ts", import.meta.url).href)
  };
    const path = "/proc/self/status";
    const size = Deno.statSync(path).size;
    const whole = readRegularFile(path, { what: "file", maxBytes: 1 << 20 });
    let refused = "";
    try {
      readRegularFile(path, { what: "file", maxBytes: 8 });
    } catch (error) {
      refused = error.violation.code + " " + error.message;
    }
    console.log(JSON.stringify({ size, read: whole.length, refused }));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", `--config=${REPO_ROOT}deno.json`, script],
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const { size, read, refused } = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(size, 0);
  assert.ok(read > 0, "read past the size stat gave");
  assert.match(
    refused,
    /^LIMIT_TOTAL_SIZE Cannot read file "\/proc\/self\/status": it holds more than 8 bytes, past the 8-byte limit$/,
  );
});

Deno.test("packets that are not regular files are rejected, not read: inspectFile(), validateFile(), ingestFiles()", async (t) => {
  const s = await specials();
  try {
    const expected: [string, string][] = [
      [s.fifo, "FILE_NOT_REGULAR"],
      [s.fifoLink, "FILE_NOT_REGULAR"],
      [s.socket, "FILE_NOT_REGULAR"],
      ["/dev/zero", "FILE_NOT_REGULAR"],
      [s.directory, "FILE_NOT_REGULAR"],
      [s.sparse, "LIMIT_TOTAL_SIZE"],
    ];
    await t.step("readPacketFile() and inspectFile()", () => {
      for (const [path, code] of expected) {
        const read = readPacketFile(path);
        assert.ok(!(read instanceof Uint8Array) && read.code === code, path);
        assert.equal(inspectFile(path).violations[0].code, code, path);
      }
      // --max-total-bytes bounds the file too.
      const packet = `${FIXTURES}/${[...Deno.readDirSync(FIXTURES)][0].name}`;
      const read = readPacketFile(packet, { maxTotalBytes: 100 });
      assert.ok(!(read instanceof Uint8Array) && read.code === "LIMIT_TOTAL_SIZE");
    });
    await t.step("validateFile()", async () => {
      for (const [path, code] of expected) {
        const result = await validateFile(path);
        assert.equal(result.accepted, false);
        assert.equal(result.reasonCode, code, path);
        assert.equal(result.source, path);
      }
    });
    for (const workers of [0, 2]) {
      await t.step(`ingestFiles() with ${workers} workers`, async () => {
        const good = [...Deno.readDirSync(FIXTURES)].map((e) => `${FIXTURES}/${e.name}`).sort();
        const { outcomes } = await ingestFiles([...expected.map(([path]) => path), ...good], {
          workers,
        });
        assert.equal(outcomes.filter((o) => o.kind === "accepted").length, good.length);
        const rejected = new Map(
          outcomes.flatMap((o) =>
            o.kind === "rejected" ? [[o.result.source, o.result.reasonCode]] : []
          ),
        );
        assert.deepEqual(rejected, new Map(expected));
      });
    }
  } finally {
    await s.close();
  }
});

Deno.test("keys, keyrings, configs, reports, plugins and ledgers that are not regular files are usage errors", async (t) => {
  const s = await specials();
  try {
    const registry = builtinRegistry();
    const bigKey = `${s.dir}/big.key`;
    await Deno.writeFile(bigKey, new Uint8Array());
    await Deno.truncate(bigKey, SMALL_FILE_LIMIT + 1);
    const keyringTo = async (file: string) => {
      const path = `${s.dir}/keyring-${crypto.randomUUID()}.json`;
      await Deno.writeTextFile(path, JSON.stringify({ keys: [{ environment: "*", file }] }));
      return path;
    };
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      [
        "key file /dev/zero",
        () => readKeyFile("/dev/zero"),
        /key file "\/dev\/zero": it is a character device/,
      ],
      ["key file FIFO", () => readKeyFile(s.fifo), /key file ".*": it is a FIFO/],
      [
        "key file too large",
        () => readKeyFile(bigKey),
        /key file ".*big\.key": it holds 1048577 bytes, past the 1048576-byte limit/,
      ],
      ["keyring FIFO", () => loadKeyring(registry, s.fifo), /keyring ".*": it is a FIFO/],
      [
        "keyring naming /dev/zero",
        async () => loadKeyring(registry, await keyringTo("/dev/zero")),
        /key file "\/dev\/zero": it is a character device/,
      ],
      [
        "keyring naming a FIFO",
        async () => loadKeyring(registry, await keyringTo(s.fifo)),
        /key file ".*": it is a FIFO/,
      ],
      ["config FIFO", () => loadConfig(s.fifo), /config ".*": it is a FIFO/],
      [
        "config /dev/zero",
        () => loadConfig("/dev/zero"),
        /config "\/dev\/zero": it is a character device/,
      ],
      [
        "report /dev/zero",
        () => readReportFile("/dev/zero"),
        /report "\/dev\/zero": it is a character device/,
      ],
      [
        "report sparse",
        () => readReportFile(s.sparse),
        /report ".*": it holds 2147483648 bytes, past the 536870912-byte limit/,
      ],
      ["plugin FIFO", () => loadPluginModule(registry, s.fifo), /plugin file ".*": it is a FIFO/],
      [
        "plugin file: URL to a FIFO",
        () => loadPluginModule(registry, `file://${s.fifo}`),
        /plugin file ".*": it is a FIFO/,
      ],
      [
        "ledger FIFO",
        () => Promise.resolve().then(() => openLedger(s.fifo)),
        /store ".*": it is a FIFO/,
      ],
      [
        "ledger /dev/zero",
        () => Promise.resolve().then(() => openLedger("/dev/zero", { create: false })),
        /store "\/dev\/zero": it is a character device/,
      ],
    ];
    for (const [what, run, message] of cases) {
      await t.step(what, async () => {
        await assert.rejects(run, (error: unknown) => {
          assert.ok(error instanceof UsageError, String(error));
          assert.equal(error.exitCode, 2);
          assert.match(error.message, message);
          return true;
        });
      });
    }
  } finally {
    await s.close();
  }
});

Deno.test("readInputFile() turns every refusal into a one-line usage error", async () => {
  const s = await specials();
  try {
    await assert.rejects(() => readInputFile(s.socket, "packet", 10), {
      name: "UsageError",
      message: `Cannot read packet "${s.socket}": it is a socket, not a regular file`,
    });
  } finally {
    await s.close();
  }
});

Deno.test("expandPackets() follows a linked .zip in a directory, saying so, and never skips one unseen", async () => {
  const s = await specials();
  const outside = await Deno.makeTempDir({ prefix: "jrm_files_test_" });
  try {
    const dir = `${s.dir}/packets`;
    await Deno.mkdir(dir);
    const real = `${outside}/real.zip`;
    await Deno.copyFile(`${FIXTURES}/${[...Deno.readDirSync(FIXTURES)][0].name}`, real);
    await Deno.symlink(real, `${dir}/linked.zip`);
    await Deno.symlink(`${outside}/gone.zip`, `${dir}/dangling.zip`);
    await Deno.symlink(outside, `${dir}/linked-dir`);
    await Deno.symlink(s.fifo, `${dir}/fifo-link.zip`);
    await Deno.symlink(real, `${dir}/notes.txt`);
    const fifo = `${dir}/fifo.zip`;
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);

    const { files, warnings } = await expandPackets([dir]);
    assert.deepEqual(files, [
      `${dir}/dangling.zip`,
      `${dir}/fifo-link.zip`,
      `${dir}/fifo.zip`,
      `${dir}/linked.zip`,
    ]);
    assert.deepEqual(
      warnings.map(({ code, path, target }) => [code, path, target]),
      [
        ["LINK_FOLLOWED", `${dir}/dangling.zip`, `${outside}/gone.zip`],
        ["LINK_FOLLOWED", `${dir}/fifo-link.zip`, s.fifo],
        ["LINK_NOT_FOLLOWED", `${dir}/linked-dir`, outside],
        ["LINK_FOLLOWED", `${dir}/linked.zip`, real],
      ],
    );
    assert.equal(warnings[3].message, `Following link "${dir}/linked.zip" to "${real}"`);

    const { outcomes } = await ingestFiles(files, { workers: 0 });
    const verdicts = Object.fromEntries(
      outcomes.map((o) =>
        o.kind === "rejected"
          ? [o.result.source, o.result.reasonCode]
          : [o.kind === "accepted" ? o.record.source : o.source, o.kind]
      ),
    );
    assert.deepEqual(verdicts, {
      [`${dir}/dangling.zip`]: "FILE_UNREADABLE",
      [`${dir}/fifo-link.zip`]: "FILE_NOT_REGULAR",
      [`${dir}/fifo.zip`]: "FILE_NOT_REGULAR",
      [`${dir}/linked.zip`]: "accepted",
    });
  } finally {
    await s.close();
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("protectOutputs() refuses an output that is an input or another output, by file, not by spelling", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jrm_files_test_" });
  try {
    await Deno.mkdir(`${dir}/sub`);
    await Deno.symlink(`${dir}/sub`, `${dir}/alias`);
    const input = `${dir}/sub/keyring.json`;
    await Deno.writeTextFile(input, "{}");
    await Deno.link(input, `${dir}/hard.json`);
    await Deno.symlink(input, `${dir}/soft.json`);
    const refused = (outputs: { flag: string; path: string }[], path?: string) => {
      assert.throws(() => protectOutputs(outputs).checkInput(path ?? input, "keyring"), UsageError);
    };
    await t.step(
      "same path, spelt otherwise",
      () => refused([{ flag: "--out", path: `${dir}/sub/../sub/./keyring.json` }]),
    );
    await t.step(
      "through a linked directory",
      () => refused([{ flag: "--out", path: `${dir}/alias/keyring.json` }]),
    );
    await t.step("a hard link", () => refused([{ flag: "--out", path: `${dir}/hard.json` }]));
    await t.step("a symbolic link", () => refused([{ flag: "--out", path: `${dir}/soft.json` }]));
    await t.step(
      "an input not yet there, named through a linked directory",
      () => refused([{ flag: "--out", path: `${dir}/alias/new.json` }], `${dir}/sub/new.json`),
    );
    await t.step("two outputs that are one file", () => {
      assert.throws(
        () =>
          protectOutputs([
            { flag: "--out", path: `${dir}/sub/r.json` },
            { flag: "--html", path: `${dir}/alias/r.json` },
          ]),
        {
          message:
            `--html "${dir}/alias/r.json" is the same file as --out "${dir}/sub/r.json"; give each output its own file`,
        },
      );
    });
    await t.step("reads through core/fs.ts check it too", () => {
      protectOutputs([{ flag: "--graph-out", path: `${dir}/hard.json` }]);
      assert.throws(() => readRegularFile(input, { what: "keyring", maxBytes: 100 }), {
        name: "UsageError",
        message:
          `--graph-out "${dir}/hard.json" is the keyring "${input}"; an output never overwrites an input`,
      });
    });
    await t.step("another file is fine", () => {
      protectOutputs([{ flag: "--out", path: `${dir}/other.json` }]).checkInput(input, "keyring");
      assert.equal(readRegularFile(input, { what: "keyring", maxBytes: 100 }).length, 2);
    });
  } finally {
    protectOutputs([]);
    await Deno.remove(dir, { recursive: true });
  }
});

/** The mode a new file gets here: 0666 less this process's umask. */
async function newFileMode(dir: string): Promise<number> {
  const probe = `${dir}/.probe`;
  (await Deno.open(probe, { write: true, createNew: true, mode: 0o666 })).close();
  const mode = (await Deno.stat(probe)).mode! & 0o777;
  await Deno.remove(probe);
  return mode;
}

Deno.test("outputs that exist and are not regular files are refused, not replaced", async () => {
  const s = await specials();
  try {
    for (
      const [path, kind] of [[s.fifo, "a FIFO"], [s.fifoLink, "a FIFO"], [s.socket, "a socket"], [
        s.directory,
        "a directory",
      ]]
    ) {
      assert.throws(() => protectOutputs([{ flag: "--out", path }]), {
        name: "UsageError",
        message: `--out "${path}" is ${kind}; an output is a regular file, written whole`,
      });
      for (const write of [() => writeFileAtomic(path, "x"), () => openAtomic(path)]) {
        await assert.rejects(write, {
          name: "UsageError",
          message: `Cannot write "${path}": it is ${kind}, not a regular file`,
        });
      }
    }
    assert.ok(Deno.lstatSync(s.fifo).isFifo && Deno.lstatSync(s.fifoLink).isSymlink);
    assert.ok(Deno.statSync(s.socket).isSocket && Deno.statSync(s.directory).isDirectory);
    assert.deepEqual(Deno.readDirSync(s.dir).toArray().filter((e) => e.name.endsWith(".tmp")), []);
  } finally {
    protectOutputs([]);
    await s.close();
  }
});

Deno.test("atomic writers keep an existing file's mode and give a new one 0666 less the umask", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jrm_files_test_" });
  try {
    const expectedNew = await newFileMode(dir);
    const writers: [string, (path: string) => Promise<void>][] = [
      ["writeFileAtomic", (path) => writeFileAtomic(path, "x")],
      ["writeChunksAtomic", (path) => writeChunksAtomic(path, ["x", "y"])],
      ["openAtomic", async (path) => {
        const writer = await openAtomic(path);
        await writer.write("x");
        await writer.commit();
      }],
    ];
    for (const [name, write] of writers) {
      await t.step(name, async () => {
        const fresh = `${dir}/${name}.new`;
        await write(fresh);
        assert.equal((await Deno.stat(fresh)).mode! & 0o777, expectedNew);
        for (const mode of [0o640, 0o604, 0o755]) {
          const existing = `${dir}/${name}.${mode.toString(8)}`;
          await Deno.writeTextFile(existing, "old");
          await Deno.chmod(existing, mode);
          await write(existing);
          assert.equal((await Deno.stat(existing)).mode! & 0o777, mode);
          assert.notEqual(await Deno.readTextFile(existing), "old");
        }
      });
    }
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomic writers lock their temporary files, remove them on a signal, and sweep those no one writes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jrm_files_test_" });
  try {
    // Left by a killed run: named as ours, and nobody holds its lock.
    const stale = `${dir}/.report.json.4242.abc123.jrm.tmp`;
    // Being written by another run: it holds the lock.
    const live = `${dir}/.report.json.4243.abc123.jrm.tmp`;
    const foreign = `${dir}/.report.json.tmp`;
    for (const path of [stale, live, foreign]) await Deno.writeTextFile(path, "partial");
    using writing = await Deno.open(live, { read: true });
    await writing.lock(true);

    const writer = await openAtomic(`${dir}/graph.jsonl`);
    const temps = () =>
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(".graph.jsonl."));
    assert.equal(temps().length, 1);
    assert.match(
      temps()[0],
      new RegExp(`^\\.graph\\.jsonl\\.${Deno.pid}\\.[0-9a-z]+\\.jrm\\.tmp$`),
    );
    assert.equal(await exists(stale), false, "a file no one writes is swept");
    assert.ok(await exists(live), "a file being written is left alone");
    assert.ok(await exists(foreign), "a file not named as ours is left alone");
    // Our own temporary file is locked too: another process's sweep leaves it.
    using probe = await Deno.open(`${dir}/${temps()[0]}`, { read: true });
    assert.equal(await probe.tryLock(true), false);
    // What the CLI does on SIGINT/SIGTERM.
    assert.equal(removeTempFilesSync(), 1);
    assert.deepEqual(temps(), []);
    await writer.abort();
    await assert.rejects(() => Deno.stat(`${dir}/graph.jsonl`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a streaming atomic writer holds no given bytes once a write settles", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const writer = await openAtomic(`${dir}/graph.jsonl`);
    // A small chunk (buffered), a large one (written at once), then text after both.
    const small = new TextEncoder().encode("small\n");
    const large = new Uint8Array(200 * 1024).fill(0x61);
    await writer.write("a\n");
    await writer.write(small);
    await writer.write(large);
    // The caller may reuse its buffers now: what was written stays as it was given.
    small.fill(0x3f);
    large.fill(0x3f);
    await writer.write("z\n");
    await writer.commit();
    assert.equal(
      await Deno.readTextFile(`${dir}/graph.jsonl`),
      "a\nsmall\n" + "a".repeat(200 * 1024) + "z\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
