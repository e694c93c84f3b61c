/**
 * The files `jrm` is given and writes, through the CLI as a user runs it:
 * packets and other inputs that are not regular files, links in a packet
 * directory, outputs that would overwrite an input or each other, output
 * modes, and temporary files on SIGINT/SIGTERM.
 */

import assert from "node:assert/strict";
import { denoRunArgs, oneErrorLine, runJrm } from "./_cli.ts";
import { REPO_ROOT } from "./_packets.ts";
import { specials } from "./_specials.ts";

const FIXTURES = `${REPO_ROOT}fixtures`;
const DATA_FILES = [
  "truth_snapshot.json",
  "authority_slice.json",
  "decision_lineage.jsonl",
  "drift_signal.jsonl",
  "memory_graph.json",
  "canon_entry.json",
];

/** A working copy of the fixtures: packets, keyring and keys, so no run can touch the originals. */
async function workspace(): Promise<
  { dir: string; packets: string; keyring: string; key: string }
> {
  const dir = await Deno.makeTempDir({ prefix: "jrm_cli_files_test_" });
  await Deno.mkdir(`${dir}/packets`);
  for (const entry of Deno.readDirSync(`${FIXTURES}/packets`)) {
    await Deno.copyFile(`${FIXTURES}/packets/${entry.name}`, `${dir}/packets/${entry.name}`);
  }
  await Deno.mkdir(`${dir}/keys`);
  for (const entry of Deno.readDirSync(`${FIXTURES}/keys`)) {
    await Deno.copyFile(`${FIXTURES}/keys/${entry.name}`, `${dir}/keys/${entry.name}`);
  }
  await Deno.copyFile(`${FIXTURES}/keyring.json`, `${dir}/keyring.json`);
  return {
    dir,
    packets: `${dir}/packets`,
    keyring: `${dir}/keyring.json`,
    key: `${dir}/keys/SOC_EAST.key`,
  };
}

function firstPacket(packets: string): string {
  return `${packets}/${[...Deno.readDirSync(packets)].map((e) => e.name).sort()[0]}`;
}

Deno.test("gate validate, verify, federate and hub replay reject packets that are not regular files", async (t) => {
  const s = await specials();
  const w = await workspace();
  try {
    const hostile: [string, string][] = [
      [s.fifo, "FILE_NOT_REGULAR"],
      [s.fifoLink, "FILE_NOT_REGULAR"],
      [s.socket, "FILE_NOT_REGULAR"],
      ["/dev/zero", "FILE_NOT_REGULAR"],
      [s.sparse, "LIMIT_TOTAL_SIZE"],
    ];
    const paths = hostile.map(([path]) => path);
    const expected = Object.fromEntries(hostile);
    const good = firstPacket(w.packets);
    for (const command of [["gate", "validate"], ["verify"]]) {
      await t.step(command.join(" "), async () => {
        const run = await runJrm([
          ...command,
          ...[...paths, good].flatMap((path) => ["--packet", path]),
          "--keyring",
          w.keyring,
          "--json",
        ]);
        assert.equal(run.code, 1, run.stderr);
        const results = JSON.parse(run.stdout).results as { source: string; reasonCode: string }[];
        assert.deepEqual(
          Object.fromEntries(results.map((r) => [r.source, r.reasonCode])),
          { ...expected, [good]: "ACCEPTED" },
        );
      });
    }
    await t.step("gate validate with --max-total-bytes below a packet's size", async () => {
      const run = await runJrm(["gate", "validate", "--packet", good, "--max-total-bytes", "100"]);
      assert.equal(run.code, 1);
      assert.match(
        run.stdout,
        /LIMIT_TOTAL_SIZE {2}Cannot read packet ".*": it holds \d+ bytes, past the 100-byte limit/,
      );
    });
    // With the fixtures, enough packets that the hub reads them on worker threads.
    await t.step("federate", async () => {
      const run = await runJrm([
        "federate",
        "--packets",
        ...paths,
        w.packets,
        "--keyring",
        w.keyring,
        "--out",
        `${w.dir}/report.json`,
        "--json",
      ]);
      assert.equal(run.code, 1, run.stderr);
      const report = JSON.parse(run.stdout);
      assert.ok(report.packetsIngested >= 4);
      assert.deepEqual(
        Object.fromEntries(
          report.packetsRejected.map((r: { source: string; reasonCode: string }) => [
            r.source,
            r.reasonCode,
          ]),
        ),
        expected,
      );
    });
    await t.step("migrate", async () => {
      const run = await runJrm([
        "migrate",
        "--packets",
        ...paths,
        "--out-dir",
        `${w.dir}/migrated`,
        "--allow-unsigned",
        "--json",
      ]);
      assert.equal(run.code, 1, run.stderr);
      const results = JSON.parse(run.stdout).results as { source: string; reasonCode: string }[];
      assert.deepEqual(Object.fromEntries(results.map((r) => [r.source, r.reasonCode])), expected);
    });
    await t.step("hub replay", async () => {
      const run = await runJrm([
        "hub",
        "replay",
        "--packets",
        ...paths,
        w.packets,
        "--keyring",
        w.keyring,
        "--out",
        `${w.dir}/state.json`,
        "--json",
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout).packetsRejected, [...paths].sort());
    });
  } finally {
    await s.close();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("keys, keyrings, configs, plugins, reports, ledgers and data files that are not regular files are one-line usage errors", async (t) => {
  const s = await specials();
  const w = await workspace();
  try {
    const keyringTo = `${w.dir}/keyring-fifo.json`;
    await Deno.writeTextFile(
      keyringTo,
      JSON.stringify({ keys: [{ environment: "*", file: s.fifo }] }),
    );
    const data = `${w.dir}/data`;
    await Deno.mkdir(data);
    for (const name of DATA_FILES) await Deno.writeTextFile(`${data}/${name}`, "{}");
    await Deno.remove(`${data}/canon_entry.json`);
    await Deno.symlink("/dev/zero", `${data}/canon_entry.json`);
    const good = firstPacket(w.packets);
    const federate = ["federate", "--packets", good, "--out", `${w.dir}/r.json`];
    const cases: [string, string[], RegExp][] = [
      [
        "verify --key-file /dev/zero",
        ["verify", "--packet", good, "--key-file", "/dev/zero"],
        /key file "\/dev\/zero": it is a character device/,
      ],
      ["sign --key-file FIFO", [
        "sign",
        "--packet",
        good,
        "--out",
        `${w.dir}/s.zip`,
        "--key-file",
        s.fifo,
      ], /key file ".*": it is a FIFO/],
      [
        "keyring naming a FIFO",
        [...federate, "--keyring", keyringTo],
        /key file ".*": it is a FIFO/,
      ],
      [
        "--keyring /dev/zero",
        ["gate", "validate", "--packet", good, "--keyring", "/dev/zero"],
        /keyring "\/dev\/zero": it is a character device/,
      ],
      ["--config FIFO", [...federate, "--config", s.fifo], /config ".*": it is a FIFO/],
      ["--plugin FIFO", [...federate, "--plugin", s.fifoLink], /plugin file ".*": it is a FIFO/],
      [
        "report --from /dev/zero",
        ["report", "--from", "/dev/zero", "--html", `${w.dir}/r.html`],
        /report "\/dev\/zero": it is a character device/,
      ],
      ["advisory publish --from sparse", [
        "advisory",
        "publish",
        "--from",
        s.sparse,
        "--store",
        `${w.dir}/l.sqlite`,
      ], /report ".*": it holds 2147483648 bytes/],
      [
        "advisory list --store FIFO",
        ["advisory", "list", "--store", s.fifo],
        /store ".*": it is a FIFO/,
      ],
      ["pack with a data file that is /dev/zero", [
        "pack",
        "--dir",
        data,
        "--env",
        "SOC_EAST",
        "--window-start",
        "2026-02-28T10:00:00Z",
        "--window-end",
        "2026-02-28T10:10:00Z",
        "--part",
        "1",
        "--out",
        `${w.dir}/p.zip`,
      ], /data file ".*canon_entry\.json": it is a character device/],
    ];
    for (const [what, args, message] of cases) {
      await t.step(what, async () => {
        const line = oneErrorLine(await runJrm(args), 2);
        assert.match(line, /^error: Cannot read /);
        assert.match(line, message);
      });
    }
  } finally {
    await s.close();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("a linked .zip in a --packets directory is followed, with a warning naming the link and its target", async () => {
  const w = await workspace();
  const outside = await Deno.makeTempDir({ prefix: "jrm_cli_files_test_" });
  try {
    const packet = firstPacket(w.packets);
    await Deno.rename(packet, `${outside}/real.zip`);
    const link = `${w.packets}/evil\u001b]0;pwned\u0007.zip`;
    await Deno.symlink(`${outside}/real.zip`, link);
    const run = await runJrm([
      "federate",
      "--packets",
      w.packets,
      "--keyring",
      w.keyring,
      "--out",
      `${w.dir}/report.json`,
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const warning =
      `warning: Following link "${w.packets}/evil\\u{1b}]0;pwned\\u{7}.zip" to "${outside}/real.zip"`;
    assert.ok(run.stderr.split("\n").includes(warning), run.stderr);
    assert.ok(!run.stderr.includes("\u001b"), "no raw escape reaches stderr");
    const report = JSON.parse(run.stdout);
    assert.equal(report.packetsRejected.length, 0);
    assert.equal(report.packetsIngested, Deno.readDirSync(w.packets).toArray().length);
  } finally {
    await Deno.remove(w.dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("an output that is an input or another output is a usage error before anything is read or written", async (t) => {
  const w = await workspace();
  try {
    const packet = firstPacket(w.packets);
    const config = `${w.dir}/jrm.config.json`;
    await Deno.writeTextFile(config, "{}\n");
    const plugin = `${w.dir}/plugin.ts`;
    await Deno.writeTextFile(plugin, "export default [];\n");
    const store = `${w.dir}/ledger.sqlite`;
    await Deno.writeTextFile(store, "");
    const report = `${w.dir}/report.json`;
    const made = await runJrm([
      "federate",
      "--packets",
      w.packets,
      "--keyring",
      w.keyring,
      "--out",
      report,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const data = `${w.dir}/data`;
    await Deno.mkdir(data);
    for (const name of DATA_FILES) await Deno.writeTextFile(`${data}/${name}`, "{}");
    // The same files spelt otherwise: through a linked directory, a hard link, "./".
    await Deno.symlink(w.dir, `${w.dir}/alias`);
    const alias = (path: string) => path.replace(w.dir, `${w.dir}/alias`);
    await Deno.link(w.keyring, `${w.dir}/hard-keyring.json`);

    const federate = (...more: string[]) => [
      "federate",
      "--packets",
      w.packets,
      "--keyring",
      w.keyring,
      "--out",
      `${w.dir}/new.json`,
      ...more,
    ];
    const replaceOut = (args: string[], out: string) => {
      const copy = [...args];
      copy[copy.indexOf("--out") + 1] = out;
      return copy;
    };
    const pack = [
      "pack",
      "--dir",
      data,
      "--env",
      "SOC_EAST",
      "--window-start",
      "2026-02-28T10:00:00Z",
      "--window-end",
      "2026-02-28T10:10:00Z",
      "--part",
      "1",
    ];
    // [what, arguments, the file that must stay as it was, the message]
    const cases: [string, string[], string, RegExp][] = [];
    for (const flag of ["--out", "--graph-out", "--html"]) {
      const withFlag = (path: string) =>
        flag === "--out" ? replaceOut(federate(), path) : federate(flag, path);
      cases.push(
        [
          `federate ${flag} = a packet in --packets`,
          withFlag(alias(packet)),
          packet,
          /is the packet/,
        ],
        [
          `federate ${flag} = the keyring (hard link)`,
          withFlag(`${w.dir}/hard-keyring.json`),
          w.keyring,
          /is the keyring/,
        ],
        [
          `federate ${flag} = a key file the keyring names`,
          withFlag(w.key),
          w.key,
          /is the key file/,
        ],
        [
          `federate ${flag} = the config`,
          [...withFlag(config), "--config", config],
          config,
          /is the config/,
        ],
        [
          `federate ${flag} = the default config`,
          withFlag(`${w.dir}/./jrm.config.json`),
          config,
          /is the config/,
        ],
        [
          `federate ${flag} = a plugin`,
          [...withFlag(plugin), "--plugin", plugin],
          plugin,
          /is the plugin file/,
        ],
      );
    }
    cases.push(
      [
        "federate --html = --store",
        federate("--html", alias(store), "--store", store),
        store,
        /is the ledger/,
      ],
      [
        "federate --html = --out",
        federate("--html", `${w.dir}/./new.json`),
        report,
        /--html ".*" is the same file as --out/,
      ],
      [
        "federate --graph-out = --html",
        federate("--graph-out", `${w.dir}/g`, "--html", `${w.dir}/alias/g`),
        report,
        /--html ".*" is the same file as --graph-out/,
      ],
      [
        "federate --out = a packet named directly",
        ["federate", "--packets", packet, "--out", packet],
        packet,
        /is the packet/,
      ],
      [
        "federate --out = --key-file",
        ["federate", "--packets", packet, "--key-file", w.key, "--out", w.key],
        w.key,
        /is the key file/,
      ],
      [
        "hub replay --out = a packet",
        ["hub", "replay", "--packets", w.packets, "--out", alias(packet)],
        packet,
        /is the packet/,
      ],
      [
        "hub replay --out = the keyring",
        ["hub", "replay", "--packets", w.packets, "--keyring", w.keyring, "--out", w.keyring],
        w.keyring,
        /is the keyring/,
      ],
      [
        "gate redact --out = the packet",
        ["gate", "redact", "--packet", packet, "--field", "x", "--out", alias(packet)],
        packet,
        /is the packet/,
      ],
      [
        "gate redact --out = the key file",
        ["gate", "redact", "--packet", packet, "--field", "x", "--key-file", w.key, "--out", w.key],
        w.key,
        /is the key file/,
      ],
      [
        "sign --out = the packet",
        ["sign", "--packet", packet, "--key-file", w.key, "--out", alias(packet)],
        packet,
        /is the packet/,
      ],
      [
        "sign --out = the key file",
        ["sign", "--packet", packet, "--key-file", w.key, "--out", w.key],
        w.key,
        /is the key file/,
      ],
      [
        "pack --out = a data file",
        [...pack, "--out", `${data}/canon_entry.json`],
        `${data}/canon_entry.json`,
        /is the data file/,
      ],
      [
        "pack --out = the key file",
        [...pack, "--key-file", w.key, "--out", w.key],
        w.key,
        /is the key file/,
      ],
      [
        "report --html = --from",
        ["report", "--from", report, "--html", alias(report)],
        report,
        /is the report/,
      ],
      [
        "report --out = --from",
        ["report", "--from", report, "--format", "html", "--out", report],
        report,
        /is the report/,
      ],
      [
        "report --html = --out",
        [
          "report",
          "--from",
          report,
          "--html",
          `${w.dir}/p.html`,
          "--format",
          "html",
          "--out",
          `${w.dir}/alias/p.html`,
        ],
        report,
        /is the same file as --html/,
      ],
      [
        "report --html = --store",
        ["report", "--from", report, "--html", store, "--store", store],
        store,
        /is the ledger/,
      ],
      [
        "advisory publish --out = --from",
        [
          "advisory",
          "publish",
          "--from",
          report,
          "--store",
          `${w.dir}/l2.sqlite`,
          "--out",
          alias(report),
        ],
        report,
        /is the report/,
      ],
      [
        "advisory publish --out = --store",
        ["advisory", "publish", "--from", report, "--store", store, "--out", store],
        store,
        /is the ledger/,
      ],
      [
        "advisory export --out = --store",
        ["advisory", "export", "--store", alias(store), "--out", store],
        store,
        /is the ledger/,
      ],
      [
        "advisory publish --out = a ledger not made yet",
        [
          "advisory",
          "publish",
          "--from",
          report,
          "--store",
          `${w.dir}/l3.sqlite`,
          "--out",
          `${w.dir}/alias/l3.sqlite`,
        ],
        report,
        /is the ledger/,
      ],
    );
    for (const [what, args, kept, message] of cases) {
      await t.step(what, async () => {
        const before = await Deno.readFile(kept);
        const beforeNames = Deno.readDirSync(w.dir).toArray().map((e) => e.name).sort();
        const line = oneErrorLine(await runJrm(args, { cwd: w.dir }), 2);
        assert.match(line, message);
        assert.deepEqual(await Deno.readFile(kept), before);
        // Nothing written: no new file, no temporary file.
        assert.deepEqual(Deno.readDirSync(w.dir).toArray().map((e) => e.name).sort(), beforeNames);
      });
    }
    await t.step("an output that is a FIFO or a directory", async () => {
      const fifo = `${w.dir}/fifo`;
      assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
      for (
        const [flag, path, kind] of [["--html", fifo, "a FIFO"], [
          "--graph-out",
          w.packets,
          "a directory",
        ]]
      ) {
        const line = oneErrorLine(await runJrm(federate(flag, path)), 2);
        assert.equal(
          line,
          `error: ${flag} "${path}" is ${kind}; an output is a regular file, written whole`,
        );
      }
      assert.ok(Deno.lstatSync(fifo).isFifo);
      await Deno.remove(fifo);
    });
    await t.step("sign without --out still rewrites the packet in place", async () => {
      const run = await runJrm(["sign", "--packet", packet, "--key-file", w.key]);
      assert.equal(run.code, 0, run.stderr);
    });
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});

/** The mode a new file gets here: 0666 less the umask (which the runs below inherit). */
function newFileMode(dir: string): number {
  const probe = `${dir}/.probe`;
  Deno.openSync(probe, { write: true, createNew: true, mode: 0o666 }).close();
  const mode = Deno.statSync(probe).mode! & 0o777;
  Deno.removeSync(probe);
  return mode;
}

Deno.test("federate keeps the mode of the outputs it replaces and makes new ones 0666 less the umask", async () => {
  const w = await workspace();
  try {
    const out = `${w.dir}/report.json`;
    const html = `${w.dir}/report.html`;
    await Deno.writeTextFile(out, "old");
    await Deno.chmod(out, 0o640);
    await Deno.writeTextFile(html, "old");
    await Deno.chmod(html, 0o604);
    const run = await runJrm([
      "federate",
      "--packets",
      w.packets,
      "--keyring",
      w.keyring,
      "--out",
      out,
      "--html",
      html,
      "--graph-out",
      `${w.dir}/graph.jsonl`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.notEqual(await Deno.readTextFile(out), "old");
    assert.equal(Deno.statSync(out).mode! & 0o777, 0o640);
    assert.equal(Deno.statSync(html).mode! & 0o777, 0o604);
    assert.equal(Deno.statSync(`${w.dir}/graph.jsonl`).mode! & 0o777, newFileMode(w.dir));
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});

/** Wait, up to a generous bound, until `found` gives something. */
async function waitFor<T>(found: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = found();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Gave up waiting for ${what}`);
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  Deno.test(`federate killed with ${signal} mid-write exits ${code} and leaves no temporary file`, async () => {
    const w = await workspace();
    try {
      // A detector that takes 30 s: the run is certainly still writing --graph-out when killed.
      const plugin = `${w.dir}/slow.ts`;
      await Deno.writeTextFile(
        plugin,
        `export default { kind: "detector", name: "slow", version: "1.0.0", driftTypes: ["SLOW"],
  detect: async () => { await new Promise((r) => setTimeout(r, 30000)); return []; } };\n`,
      );
      const out = `${w.dir}/out`;
      await Deno.mkdir(out);
      const child = new Deno.Command(Deno.execPath(), {
        args: denoRunArgs([
          "federate",
          "--packets",
          w.packets,
          "--keyring",
          w.keyring,
          "--plugin",
          plugin,
          "--out",
          `${out}/report.json`,
          "--graph-out",
          `${out}/graph.jsonl`,
        ]),
        cwd: REPO_ROOT,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const temp = await waitFor(
        () => Deno.readDirSync(out).toArray().find((e) => e.name.endsWith(".jrm.tmp"))?.name,
        "the temporary file of --graph-out",
      );
      assert.match(temp, new RegExp(`^\\.graph\\.jsonl\\.${child.pid}\\.[0-9a-z]+\\.jrm\\.tmp$`));
      child.kill(signal);
      const status = await child.output();
      assert.equal(status.code, code, new TextDecoder().decode(status.stderr));
      assert.deepEqual(Deno.readDirSync(out).toArray(), []);
    } finally {
      await Deno.remove(w.dir, { recursive: true });
    }
  });
}

Deno.test("the next run removes temporary files a killed run left, and no one else's", async () => {
  const w = await workspace();
  try {
    const out = `${w.dir}/out`;
    await Deno.mkdir(out);
    // Left by killed runs: named as ours, nobody holds their lock.
    const stale = [".report.json.4242.k3x9.jrm.tmp", ".graph.jsonl.4243.a1.jrm.tmp"];
    // Being written by another run (this test holds its lock); not ours; not named as ours.
    const busy = ".report.json.4244.k3x9.jrm.tmp";
    const kept = [busy, ".report.json.tmp", "notes.jrm.tmp"];
    for (const name of [...stale, ...kept]) await Deno.writeTextFile(`${out}/${name}`, "partial");
    using writing = await Deno.open(`${out}/${busy}`, { read: true });
    await writing.lock(true);
    const run = await runJrm([
      "federate",
      "--packets",
      w.packets,
      "--keyring",
      w.keyring,
      "--out",
      `${out}/report.json`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      Deno.readDirSync(out).toArray().map((e) => e.name).sort(),
      [...kept, "report.json"].sort(),
    );
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});
