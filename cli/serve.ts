/**
 * `jrm hub serve`: the stateful hub as an HTTP service (server/). SOCs push
 * packets, operators read the report and decide on advisories, monitoring
 * scrapes `/metrics` and `/healthz`.
 *
 * Keys are required and every packet must be signed: its signature is what
 * authenticates it. The service binds to loopback unless `--listen` says
 * otherwise. A pushed packet is written to a private temporary file (0600,
 * in a 0700 folder) and ingested from there exactly as `hub ingest` ingests
 * a file, one at a time; the file is removed after.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { join } from "node:path";
import {
  accept,
  type Advisory,
  AdvisoryNotFound,
  decline,
  getAdvisory,
  listAdvisories,
} from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import { openSqliteHubStore, type SqliteHubStore } from "../core/hub_store_sqlite.ts";
import { sha256Ref } from "../core/packet.ts";
import type { Keyring } from "../core/signer.ts";
import { ingestIntoStore, reportFromStore, type StoreIngestOutcome } from "../core/stateful_hub.ts";
import { openLedger } from "../core/store.ts";
import { escapeForTerminal as esc } from "../core/text.ts";
import { createService } from "../server/app.ts";
import type { Decision, HubBackend, PushResult } from "../server/backend.ts";
import { loadOperators, type Operator } from "../server/operators.ts";
import { FolderWatcher } from "../server/watch.ts";
import { sqliteStorePath as storePath } from "./store.ts";
import {
  collect,
  err,
  guardFiles,
  ledgerInputs,
  parseCount,
  resolveKeyring,
  withClockOptions,
  withDetectionOptions,
  withKeyringOptions,
  withLimitOptions,
} from "./common.ts";
import {
  type FederationFlags,
  federationSetup,
  gateOptionsFromFlags,
  withDetectorOptionFlags,
} from "./federate.ts";
import { render } from "./report.ts";
import { handleSignals } from "./signals.ts";

/** Default address: loopback only. */
const DEFAULT_LISTEN = "127.0.0.1:8787";
/** How long a shutdown waits for the pushes in flight, in milliseconds. */
const DRAIN_MS = 30_000;
/** The page's refresh, in seconds. */
const REFRESH_SECONDS = 30;

/** The flags of `hub serve`. */
type ServeFlags = FederationFlags & {
  store?: string;
  listen: string;
  watch: string[];
  operators?: string;
  publish?: true;
  maxBodyBytes: number;
  requestTimeout: number;
  queueSize: number;
};

/**
 * Parse `--listen`: `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback).
 * @param value the flag's value
 * @returns host and port
 * @throws {UsageError} when it is not an address
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListen } from "./serve.ts";
 * assert.deepEqual(parseListen("127.0.0.1:0"), { hostname: "127.0.0.1", port: 0 });
 * assert.deepEqual(parseListen("[::1]:8787"), { hostname: "::1", port: 8787 });
 * assert.throws(() => parseListen("localhost"), /--listen/);
 * ```
 */
export function parseListen(value: string): { hostname: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]*)):([0-9]{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(
      `Invalid --listen "${
        esc(value)
      }": expected HOST:PORT, e.g. 127.0.0.1:8787 (port 0 picks a free one)`,
    );
  }
  return { hostname: match[1] ?? (match[2] || "127.0.0.1"), port };
}

/** The URL a person types for an address the server listens on. */
function urlOf(hostname: string, port: number): string {
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/**
 * `jrm hub serve`.
 * @returns the command
 */
export function hubServeCommand() {
  const command = new Command("serve")
    .description("serve the hub over HTTP: SOCs push packets, operators decide on advisories")
    .option("--store <file>", "the store (default: $JRM_STORE, else ./.jrm/ledger.sqlite)")
    .option(
      "--listen <host:port>",
      "address to listen on (port 0 picks a free one)",
      DEFAULT_LISTEN,
    )
    .option(
      "--watch <dir>",
      "also ingest .zip files that appear in this folder (repeatable)",
      collect,
      [] as string[],
    )
    .option("--operators <file>", "operators allowed to decide: JSON with token hashes (mode 0600)")
    .option("--publish", "publish drift as advisories after every accepted packet")
    .addOption(
      new Option("--max-body-bytes <n>", "largest packet accepted")
        .argParser(parseCount("--max-body-bytes")).default(256 * 1024 * 1024),
    )
    .addOption(
      new Option("--request-timeout <seconds>", "how long a request body may take to arrive")
        .argParser(parseCount("--request-timeout")).default(30),
    )
    .addOption(
      new Option("--queue-size <n>", "pushes in flight before 503")
        .argParser(parseCount("--queue-size")).default(64),
    )
    .option(
      "--allow-env <env>",
      "accept only these environments (repeatable)",
      collect,
      [] as string[],
    )
    .option("--plugin <path>", "load a plugin module (repeatable)", collect, [] as string[])
    .option(
      "--config <path>",
      "config file (default: ./jrm.config.json when present)",
    ) as unknown as Command;
  withDetectorOptionFlags(command)
    .option("--json", "log each push as one JSON line on stderr");
  return withDetectionOptions(withClockOptions(withLimitOptions(withKeyringOptions(command))))
    .action(async (raw) => {
      await serve(raw as unknown as ServeFlags);
    });
}

async function serve(flags: ServeFlags): Promise<void> {
  const address = parseListen(flags.listen);
  if (flags.queueSize < 1) throw new UsageError("--queue-size must be at least 1");
  if (flags.requestTimeout < 1) throw new UsageError("--request-timeout must be at least 1 second");
  const path = storePath(flags.store);
  guardFiles([], [
    { what: "keyring", path: flags.keyring },
    { what: "key file", path: flags.keyFile },
    { what: "operators file", path: flags.operators },
    ...ledgerInputs(path),
  ]);
  const setup = await federationSetup({ ...flags, packets: [] });
  const keyring = await resolveKeyring(setup.registry, flags);
  if (keyring === undefined) {
    throw new UsageError(
      "hub serve needs keys: a pushed packet is authenticated by its signature (give --keyring, --key-file or --key-env)",
    );
  }
  const gate = await gateOptionsFromFlags(flags, setup.config, setup.registry, setup.clock);
  const operators: Operator[] = flags.operators === undefined
    ? []
    : await loadOperators(flags.operators);
  if (operators.length === 0) {
    err("warning: no --operators: advisories can be read but not decided over HTTP");
  }
  // The store is opened (created, migrated) before the port: a bad store never serves.
  const store = openSqliteHubStore(path);
  const spool = await Deno.makeTempDir({ prefix: "jrm-serve-" });
  await Deno.chmod(spool, 0o700);
  const backend = new StoreBackend(store, path, keyring, spool, {
    ...gate,
    requireSignature: true,
    detectors: setup.detectors,
    detectionLimits: setup.limits,
    fixedNow: flags.now,
    publish: flags.publish === true,
    render: (report, advisories, refreshSeconds) =>
      render(setup.registry, report, "html", undefined, advisories, { refreshSeconds }),
  });
  const service = createService(backend, {
    maxBodyBytes: flags.maxBodyBytes,
    requestTimeoutMs: flags.requestTimeout * 1000,
    queueSize: flags.queueSize,
    operators,
    refreshSeconds: REFRESH_SECONDS,
    onPush: (source, status, seconds) => {
      if (flags.json) {
        err(JSON.stringify({ event: "push", source, status, seconds: round(seconds) }));
      } else err(`push ${esc(source)}: ${status} (${round(seconds)} s)`);
    },
  });
  const stop = new AbortController();
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: Deno.Signal) => {
    if (stopping) return;
    err(`${signal}: no longer accepting; finishing what is in flight (up to ${DRAIN_MS / 1000} s)`);
    stopping = (async () => {
      stop.abort();
      await watcher?.close();
      await Promise.race([
        Promise.all([server.finished, service.drain()]),
        new Promise((resolve) => setTimeout(resolve, DRAIN_MS)),
      ]);
    })();
  };
  using _signals = handleSignals(shutdown);
  const server = Deno.serve({
    hostname: address.hostname,
    port: address.port,
    signal: stop.signal,
    onListen: ({ hostname, port }) => err(`listening on ${urlOf(hostname, port)}`),
  }, service.handler);
  const watcher = flags.watch.length === 0 ? undefined : new FolderWatcher(
    flags.watch,
    async (file) => {
      const result = await backend.ingestFile(file, file);
      err(`watch ${esc(file)}: ${result.status}${violationsText(result)}`);
    },
    { onError: (message) => err(`warning: ${message}`) },
  );
  watcher?.start();
  try {
    await server.finished;
    await stopping;
  } finally {
    await backend.close();
    await Deno.remove(spool, { recursive: true }).catch(() => {});
  }
  err("stopped");
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function violationsText(result: PushResult): string {
  if (result.violations.length === 0) return "";
  return ` (${result.violations.map((v) => `${v.code}: ${esc(v.message)}`).join("; ")})`;
}

/** What {@link StoreBackend} ingests with. */
type BackendOptions =
  & Omit<Parameters<typeof ingestIntoStore>[2], "at" | "now">
  & {
    /** `--now`: every push is judged at this time; else at the time it arrives. */
    fixedNow?: string;
    /** Publish advisories after each accepted packet. */
    publish: boolean;
    /** Render the page. */
    render: (
      report: Awaited<ReturnType<typeof reportFromStore>>,
      advisories: Advisory[],
      refreshSeconds: number,
    ) => Promise<Uint8Array | string>;
  };

/** The SQLite store as the service sees it. */
class StoreBackend implements HubBackend {
  #store: SqliteHubStore;
  #path: string;
  #keyring: Keyring;
  #spool: string;
  #options: BackendOptions;
  /** Pushes and watched files, one at a time (the store takes one ingest at a time anyway). */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    store: SqliteHubStore,
    path: string,
    keyring: Keyring,
    spool: string,
    options: BackendOptions,
  ) {
    this.#store = store;
    this.#path = path;
    this.#keyring = keyring;
    this.#spool = spool;
    this.#options = options;
  }

  async push(bytes: Uint8Array, source: string): Promise<PushResult> {
    const digest = sha256Ref(bytes);
    const file = join(this.#spool, `${digest.replace(":", "-")}.zip`);
    return await this.#serially(async () => {
      await Deno.writeFile(file, bytes, { mode: 0o600, createNew: true });
      try {
        return await this.#ingest(file, source, digest);
      } finally {
        await Deno.remove(file).catch(() => {});
      }
    });
  }

  /**
   * Ingest a file in place (a watched folder's), one at a time with pushes.
   * @param file the packet file
   * @param source what to call it
   * @returns what the hub did with it
   */
  async ingestFile(file: string, source: string): Promise<PushResult> {
    return await this.#serially(async () => {
      const bytes = await Deno.readFile(file).catch(() => undefined);
      return await this.#ingest(file, source, bytes ? sha256Ref(bytes) : "");
    });
  }

  /** The time a push is judged and stamped at: `--now`, else the moment it is asked. */
  #now(): string {
    const { fixedNow } = this.#options;
    return (fixedNow === undefined ? new Date() : new Date(fixedNow)).toISOString();
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work, work);
    this.#chain = next.catch(() => {});
    return next;
  }

  async #ingest(file: string, source: string, digest: string): Promise<PushResult> {
    const at = this.#now();
    const { fixedNow: _f, publish, render: _r, ...options } = this.#options;
    const result = await ingestIntoStore(this.#store, [file], {
      ...options,
      now: at,
      at,
      workers: 0,
      beforeCommit: publish
        ? async (tx, ingest) => {
          if (ingest.outcomes.some((o) => o.kind === "accepted") || ingest.withdrawn.length > 0) {
            const report = await reportFromStore(tx, at);
            await tx.publishAdvisories(report, { now: new Date(at) });
          }
        }
        : undefined,
    });
    return pushResult(result.outcomes[0], file, source, digest);
  }

  async report(): Promise<Record<string, unknown>> {
    const at = this.#now();
    return await this.#read((reader) => reportFromStore(reader, at)) as Record<
      string,
      unknown
    >;
  }

  async page(refreshSeconds: number): Promise<string> {
    const at = this.#now();
    const report = await this.#read((reader) => reportFromStore(reader, at));
    const page = await this.#options.render(
      report,
      await this.#ledger((ledger) => listAdvisories(ledger)),
      refreshSeconds,
    );
    return typeof page === "string" ? page : new TextDecoder().decode(page);
  }

  async advisories(status?: string): Promise<Record<string, unknown>[]> {
    return await this.#ledger((ledger) =>
      listAdvisories(ledger, status === undefined ? {} : { status })
    ) as unknown as Record<string, unknown>[];
  }

  async advisory(id: string): Promise<Record<string, unknown> | undefined> {
    try {
      return { ...await this.#ledger((ledger) => getAdvisory(ledger, id)) };
    } catch (error) {
      if (error instanceof AdvisoryNotFound) return undefined;
      throw error;
    }
  }

  async decide(
    id: string,
    decision: Decision,
    by: string,
    reason: string | undefined,
  ): Promise<Record<string, unknown>> {
    const decided = await this.#ledger(
      (ledger) => (decision === "accept" ? accept : decline)(ledger, id, { by, reason }),
      true,
    );
    return { ...decided };
  }

  async healthy(): Promise<boolean> {
    try {
      await this.#read((reader) => reader.environments());
      return true;
    } catch {
      return false;
    }
  }

  knownEnvironment(environmentId: string | null): boolean {
    return environmentId !== null && this.#keyring.hasOwnKeys(environmentId);
  }

  async close(): Promise<void> {
    await this.#chain;
    this.#store.close();
  }

  /**
   * Read the store on a connection of this call's own, read-only: the ingest's connection may be
   * in the middle of a transaction (reads would see it, or fail), and no cache stands between a
   * commit and the next request.
   */
  async #read<T>(
    work: (reader: Parameters<Parameters<SqliteHubStore["read"]>[0]>[0]) => Promise<T>,
  ): Promise<T> {
    using store = openSqliteHubStore(this.#path, { readOnly: true });
    return await store.read(work);
  }

  /**
   * Run `work` on the ledger (the same file), opened for this call: no cache between requests.
   * Reads open it read-only, so they never wait for an ingest's write lock.
   */
  async #ledger<T>(
    work: (ledger: ReturnType<typeof openLedger>) => Promise<T>,
    write = false,
  ): Promise<T> {
    using ledger = openLedger(this.#path, { readOnly: !write });
    return await work(ledger);
  }
}

/**
 * The answer to a push, from what the ingest did with its one file. Messages
 * name the push's source, never the server's spool path.
 */
function pushResult(
  outcome: StoreIngestOutcome | undefined,
  file: string,
  source: string,
  digest: string,
): PushResult {
  if (outcome === undefined) {
    return {
      status: "rejected",
      packetName: null,
      digest,
      environmentId: null,
      violations: [{ code: "INTERNAL", message: "The packet was not ingested" }],
    };
  }
  switch (outcome.kind) {
    case "accepted":
      return {
        status: "accepted",
        packetName: outcome.packetName,
        digest,
        environmentId: outcome.environmentId,
        violations: [],
      };
    case "duplicate":
      return {
        status: outcome.refused ? "rejected" : "duplicate",
        packetName: null,
        digest: outcome.digest,
        environmentId: null,
        violations: (outcome.refused?.violations ?? []).map(({ code, message }) => ({
          code,
          message: message.replaceAll(file, source),
        })),
      };
    case "rejected":
      return {
        status: "rejected",
        packetName: outcome.packetName,
        digest,
        environmentId: outcome.environmentId,
        violations: outcome.violations.map(({ code, message }) => ({
          code,
          message: message.replaceAll(file, source),
        })),
      };
  }
}
