/**
 * A worker that runs one detector loaded from a module, so that the host
 * (core/detector_host.ts) can terminate it when its time budget runs out.
 *
 * Protocol: one start message ({@link WorkerStart}) with a port; the worker
 * imports the module, gives up its permissions when it has its own, rebuilds
 * the view from the snapshot, posts `{ type: "started" }` on the port just
 * before calling `detect`, then `{ type: "done", findings }` or
 * `{ type: "failed", hook, reason, message }`. The port is kept out of the
 * detector's reach, so it cannot post in the host's name.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { causeMessage, type PluginFailure } from "./errors.ts";
import type { EnvironmentEntry, EnvironmentSummary, FederationView } from "./drift.ts";
import {
  tooManyFindings,
  type ViewSnapshot,
  type WorkerMessage,
  type WorkerStart,
} from "./detector_host.ts";

let port: MessagePort | undefined;
let hook = "load";
let finished = false;

function send(message: WorkerMessage): void {
  if (finished || !port) return;
  if (message.type !== "started") finished = true;
  port.postMessage(message);
}

function fail(reason: PluginFailure, cause: unknown): void {
  send({ type: "failed", hook, reason, message: causeMessage(cause) });
}

// Uncaught errors (a timer that throws, a rejection nobody handles) are the detector's failure,
// reported on the port; not printed by Deno with a stack trace.
addEventListener("error", (event) => {
  event.preventDefault();
  fail("threw", event.error ?? event.message);
});
addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  fail("threw", event.reason);
});

// A detector that ends its worker would leave the host waiting for its budget to run out.
try {
  Object.defineProperty(Deno, "exit", {
    value: () => {
      throw new Error("called Deno.exit(), which a detector must not do");
    },
  });
} catch {
  // A runtime whose Deno.exit cannot be replaced: such a detector then runs out its budget.
}
globalThis.close = () => {
  throw new Error("called close(), which a detector must not do");
};

self.onmessage = async (event: MessageEvent<WorkerStart>) => {
  self.onmessage = null;
  port = event.ports[0];
  const start = event.data;
  let detect: (view: FederationView, options: unknown) => unknown;
  try {
    const module = await import(start.url);
    const exported = module.default;
    const plugin = (Array.isArray(exported) ? exported : [exported])[start.index];
    if (
      plugin === null || typeof plugin !== "object" || plugin.kind !== "detector" ||
      plugin.name !== start.name || typeof plugin.detect !== "function"
    ) {
      throw new Error(
        `its module does not export it at position ${start.index} when loaded again in a worker`,
      );
    }
    detect = (view, options) => plugin.detect(view, options);
    if (start.restricted) {
      // Loaded: nothing more to read. The permissions are this worker's own (see DetectionLimits).
      await Deno.permissions.revoke({ name: "read" });
      await Deno.permissions.revoke({ name: "import" } as unknown as Deno.PermissionDescriptor);
    }
  } catch (error) {
    fail("threw", error);
    return;
  }
  const view = viewOf(start.snapshot);
  hook = "detect";
  send({ type: "started" });
  let findings: unknown;
  try {
    findings = await detect(view, start.options);
  } catch (error) {
    fail("threw", error);
    return;
  }
  if (!Array.isArray(findings)) {
    fail("invalid-result", "detect() must return a list of findings");
  } else if (findings.length > start.maxFindings) {
    const error = tooManyFindings(start.name, findings.length, start.maxFindings);
    fail("too-many-findings", error.cause);
  } else {
    try {
      send({ type: "done", findings });
    } catch (error) {
      finished = false;
      fail("invalid-result", `its findings cannot be sent from its worker: ${causeMessage(error)}`);
    }
  }
};

/**
 * The view rebuilt from its snapshot, everything frozen as the hub's view is
 * (a signature's entries when first asked for, so a detector that reads a few
 * does not pay for all).
 */
function viewOf(snapshot: ViewSnapshot): FederationView {
  const environments = Object.freeze(snapshot.environments);
  const signatures = Object.freeze(snapshot.signatures);
  const summaries = new Map<string, EnvironmentSummary>();
  environments.forEach((id, index) => {
    const summary = snapshot.summaries[index];
    if (summary !== undefined) summaries.set(id, deepFreeze(summary));
  });
  const entries = new Map<string, EnvironmentEntry[]>();
  signatures.forEach((id, index) => entries.set(id, snapshot.entries[index]));
  const empty: readonly EnvironmentEntry[] = Object.freeze([]);
  return Object.freeze({
    environments: () => environments,
    environment: (id: string) => summaries.get(id),
    signatures: () => signatures,
    entries: (id: string) => {
      const list = entries.get(id);
      return list === undefined ? empty : deepFreeze(list);
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
