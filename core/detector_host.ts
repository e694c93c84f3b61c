/**
 * Calling a detector's `detect` so that it cannot take the run down: a time
 * budget counted from the start of `detect`, a cap on the findings it may
 * return, and, for a detector loaded from a module, a worker that is
 * terminated when the budget runs out (nothing else stops a busy loop). The
 * worker gets a copy of the view (a structured clone of its lists). Built-ins
 * and plugin objects handed over without a module run in place: for them the
 * budget ends the wait, not the code.
 *
 * Every failure is a {@link PluginError} naming the detector, the hook
 * (`load` or `detect`) and how it failed (`threw`, `timeout`,
 * `too-many-findings`, `invalid-result`).
 *
 * @module
 */

import { causeMessage, PLUGIN_FAILURES, PluginError, type PluginFailure } from "./errors.ts";
import type { DetectorRun, EnvironmentEntry, EnvironmentSummary, FederationView } from "./drift.ts";

/** Seconds a detector may take when nothing else is said. */
export const DEFAULT_DETECTOR_TIMEOUT_SECONDS = 60;

/** The longest time budget: timers hold at most 2^31 - 1 milliseconds. */
export const MAX_DETECTOR_TIMEOUT_SECONDS = 2_147_483;

/**
 * Seconds a detector's worker may take at least to load its module and
 * receive the view: a machine under load can take seconds to start a worker,
 * which must not count against a short budget for `detect`.
 */
export const MIN_LOAD_TIMEOUT_SECONDS = 60;

/** Findings one detector may return when nothing else is said. */
export const DEFAULT_MAX_FINDINGS = 100_000;

/** The bounds every detector runs within. */
export interface DetectionLimits {
  /**
   * Seconds each detector may take, counted from the start of `detect`
   * ({@link DEFAULT_DETECTOR_TIMEOUT_SECONDS} by default, at most
   * {@link MAX_DETECTOR_TIMEOUT_SECONDS}).
   */
  timeoutSeconds?: number;
  /**
   * Seconds a detector's worker may take to load its module and receive the
   * view, before `detect` starts (by default the larger of `timeoutSeconds`
   * and {@link MIN_LOAD_TIMEOUT_SECONDS}).
   */
  loadTimeoutSeconds?: number;
  /** Most findings one detector may return ({@link DEFAULT_MAX_FINDINGS} by default); over it, none is kept. */
  maxFindings?: number;
  /**
   * Give each detector worker permissions of its own: this process's `read`
   * and `import` while the detector's module loads, none at all once it has
   * loaded; never `write`, `env`, `net`, `run`, `ffi` or `sys`. Needs Deno's
   * `--unstable-worker-options` (Deno ends the process when a worker asks for
   * permissions without it). Without this, a worker shares the process's
   * permissions.
   */
  restrictWorkers?: boolean;
}

/** A view's lists as plain data, as a detector worker receives them. */
export interface ViewSnapshot {
  /** `view.environments()`. */
  environments: string[];
  /** `view.environment(id)` for each environment, in the same order. */
  summaries: (EnvironmentSummary | undefined)[];
  /** `view.signatures()`. */
  signatures: string[];
  /** `view.entries(id)` for each signature, in the same order. */
  entries: EnvironmentEntry[][];
}

/**
 * Copy a view's lists into plain data that can be sent to a worker.
 * @param view the federation view
 * @returns its environments, summaries, signatures and entries
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotView } from "./detector_host.ts";
 * const view = { environments: () => ["A"], environment: () => undefined, signatures: () => [], entries: () => [] };
 * assert.deepEqual(snapshotView(view), { environments: ["A"], summaries: [undefined], signatures: [], entries: [] });
 * ```
 */
export function snapshotView(view: FederationView): ViewSnapshot {
  const environments = [...view.environments()];
  const signatures = [...view.signatures()];
  return {
    environments,
    summaries: environments.map((id) => view.environment(id)),
    signatures,
    entries: signatures.map((id) => view.entries(id) as EnvironmentEntry[]),
  };
}

/** What a worker asks for, once, when the budget of the permissions allows it. */
const WORKER_PERMISSIONS = {
  read: "inherit",
  import: "inherit",
  env: false,
  net: false,
  write: false,
  run: false,
  ffi: false,
  sys: false,
} as const;

/** The message that starts a detector worker (see core/detector_worker.ts). */
export interface WorkerStart {
  /** The module to import. */
  url: string;
  /** The detector's position in the module's default export. */
  index: number;
  /** The detector's name, to check the module still exports it there. */
  name: string;
  /** The detector's options. */
  options: unknown;
  /** The view's data. */
  snapshot: ViewSnapshot;
  /** The cap on findings. */
  maxFindings: number;
  /** Whether the worker has permissions of its own to give up once loaded. */
  restricted: boolean;
}

/** What a detector worker posts on its port. */
export type WorkerMessage =
  | { type: "started" }
  | { type: "done"; findings: unknown[] }
  | { type: "failed"; hook: string; reason: PluginFailure; message: string };

const TIMEOUT = Symbol("timeout");

/**
 * Runs detectors over one view within limits. The view is copied for
 * workers once, when the first detector that needs a worker runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DetectorHost } from "./detector_host.ts";
 * import { defineDetector } from "./plugin.ts";
 * const view = { environments: () => [], environment: () => undefined, signatures: () => [], entries: () => [] };
 * const stuck = defineDetector({
 *   kind: "detector", name: "stuck", version: "1.0.0", driftTypes: [],
 *   detect: () => new Promise<never>(() => {}),
 * });
 * const host = new DetectorHost(view, { timeoutSeconds: 0.05 });
 * await assert.rejects(host.detect({ plugin: stuck, options: {}, origin: "example" }), {
 *   name: "PluginError", hook: "detect", reason: "timeout",
 * });
 * ```
 */
export class DetectorHost {
  readonly #view: FederationView;
  readonly #timeoutSeconds: number;
  readonly #loadTimeoutSeconds: number;
  readonly #maxFindings: number;
  readonly #restrict: boolean;
  #snapshot?: ViewSnapshot;

  /**
   * @param view the view every detector reads
   * @param limits the time budget, the cap on findings, the workers' permissions
   */
  constructor(view: FederationView, limits: DetectionLimits = {}) {
    const timeout = seconds(limits.timeoutSeconds ?? DEFAULT_DETECTOR_TIMEOUT_SECONDS);
    const load = seconds(
      limits.loadTimeoutSeconds ?? Math.max(timeout, MIN_LOAD_TIMEOUT_SECONDS),
    );
    const cap = limits.maxFindings ?? DEFAULT_MAX_FINDINGS;
    if (!Number.isSafeInteger(cap) || cap < 1) {
      throw new RangeError(`The cap on findings must be a whole number of at least 1, not ${cap}`);
    }
    this.#view = view;
    this.#timeoutSeconds = timeout;
    this.#loadTimeoutSeconds = load;
    this.#maxFindings = cap;
    this.#restrict = limits.restrictWorkers ?? false;
  }

  /**
   * Call a detector's `detect` within the limits: in a worker when the run
   * names the module the detector came from, else in place.
   * @param run the detector, its options and where it came from
   * @returns what `detect` returned (a list of at most the cap, or something
   *   that is not a list, for the caller's contract check)
   * @throws {PluginError} naming the detector, the hook and how it failed
   */
  async detect(run: DetectorRun): Promise<unknown> {
    const result = run.module ? await this.#inWorker(run, run.module) : await this.#inPlace(run);
    if (Array.isArray(result) && result.length > this.#maxFindings) {
      throw this.#tooMany(run, result.length);
    }
    return result;
  }

  async #inPlace(run: DetectorRun): Promise<unknown> {
    const { plugin, options } = run;
    const started = performance.now();
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(plugin.detect(this.#view, options));
    } catch (error) {
      throw new PluginError(plugin.name, "detect", error);
    }
    // Nothing waits for a detector past its budget: its late rejection must not end the process.
    pending.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const left = this.#timeoutSeconds * 1000 - (performance.now() - started);
    const expired = new Promise<typeof TIMEOUT>((resolve) => {
      // A detector that ran synchronously past its budget has spent it.
      timer = setTimeout(() => resolve(TIMEOUT), Math.max(0, left));
    });
    let result: unknown;
    try {
      result = await Promise.race([pending, expired]);
    } catch (error) {
      throw new PluginError(plugin.name, "detect", error);
    } finally {
      clearTimeout(timer);
    }
    if (result === TIMEOUT || left <= 0) throw this.#timeout(run, "detect");
    return result;
  }

  async #inWorker(run: DetectorRun, module: { url: string; index: number }): Promise<unknown> {
    const { plugin } = run;
    this.#snapshot ??= snapshotView(this.#view);
    const worker = new Worker(new URL("./detector_worker.ts", import.meta.url), {
      type: "module",
      name: `detector "${plugin.name}"`,
      ...(this.#restrict ? { deno: { permissions: WORKER_PERMISSIONS } } : {}),
    } as WorkerOptions);
    const channel = new MessageChannel();
    const outcome = Promise.withResolvers<{ findings: unknown[] } | { error: PluginError }>();
    let hook = "load";
    let timer = setTimeout(
      () => outcome.resolve({ error: this.#timeout(run, "load") }),
      this.#loadTimeoutSeconds * 1000,
    );
    const fail = (reason: PluginFailure, message: string, at = hook) =>
      outcome.resolve({ error: new PluginError(plugin.name, at, new Error(message), reason) });
    // A worker that dies uncaught must not take the process with it.
    worker.onerror = (event) => {
      event.preventDefault();
      fail("threw", event.message);
    };
    const unreadable = () =>
      fail("invalid-result", "its worker sent a message that cannot be read");
    worker.onmessageerror = unreadable;
    channel.port1.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const message = event.data;
      if (message?.type === "started" && hook === "load") {
        hook = "detect";
        clearTimeout(timer);
        timer = setTimeout(
          () => outcome.resolve({ error: this.#timeout(run, "detect") }),
          this.#timeoutSeconds * 1000,
        );
      } else if (message?.type === "done") {
        outcome.resolve({ findings: message.findings });
      } else if (message?.type === "failed") {
        const reason = PLUGIN_FAILURES.includes(message.reason) ? message.reason : "threw";
        fail(reason, String(message.message), String(message.hook));
      }
    };
    channel.port1.onmessageerror = unreadable;
    try {
      const start: WorkerStart = {
        url: module.url,
        index: module.index,
        name: plugin.name,
        options: run.options,
        snapshot: this.#snapshot,
        maxFindings: this.#maxFindings,
        restricted: this.#restrict,
      };
      try {
        worker.postMessage(start, [channel.port2]);
      } catch (error) {
        fail("threw", `cannot send its options and the view to its worker: ${causeMessage(error)}`);
      }
      const settled = await outcome.promise;
      if ("error" in settled) throw settled.error;
      return settled.findings;
    } finally {
      clearTimeout(timer);
      worker.terminate();
      channel.port1.close();
    }
  }

  #timeout(run: DetectorRun, hook: "load" | "detect"): PluginError {
    const message = hook === "load"
      ? `did not load within its time budget of ${this.#loadTimeoutSeconds} s`
      : `did not finish within its time budget of ${this.#timeoutSeconds} s`;
    return new PluginError(run.plugin.name, hook, new Error(message), "timeout");
  }

  #tooMany(run: DetectorRun, count: number): PluginError {
    return tooManyFindings(run.plugin.name, count, this.#maxFindings);
  }
}

function seconds(value: number): number {
  if (!(value > 0 && value <= MAX_DETECTOR_TIMEOUT_SECONDS)) {
    throw new RangeError(
      `A detector time budget must be more than 0 and at most ${MAX_DETECTOR_TIMEOUT_SECONDS} seconds, not ${value}`,
    );
  }
  return value;
}

/**
 * The failure of a detector that returned more findings than allowed.
 * @param detector the detector's name
 * @param count how many it returned
 * @param cap the most allowed
 * @returns the error
 */
export function tooManyFindings(detector: string, count: number, cap: number): PluginError {
  return new PluginError(
    detector,
    "detect",
    new Error(`returned ${count} findings, more than the limit of ${cap}`),
    "too-many-findings",
  );
}
