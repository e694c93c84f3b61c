/**
 * The HTTP service's routes over a {@link HubBackend}: pushes go through a
 * bounded, serial queue; reads go straight to the store; decisions need an
 * operator's token. Every answer is JSON but `/`, `/metrics`; every error is
 * `{error: {code, message}}`.
 *
 * @module
 */

import { AdvisoryNotFound, AdvisoryNotPublished } from "../core/advisory.ts";
import { UsageError } from "../core/errors.ts";
import type { HubBackend } from "./backend.ts";
import { readBoundedBody } from "./body.ts";
import { errorResponse, HttpError, jsonResponse } from "./http_error.ts";
import { Metrics } from "./metrics.ts";
import { OPENAPI, ROUTES } from "./openapi.ts";
import { authenticate, type Operator } from "./operators.ts";
import { SerialQueue } from "./queue.ts";

/** Settings of {@link createService}. */
export interface ServiceOptions {
  /** Largest packet accepted, in bytes. */
  maxBodyBytes: number;
  /** How long a body may take to arrive, in milliseconds. */
  requestTimeoutMs: number;
  /** How many pushes may be in flight (reading, waiting or ingesting) at once. */
  queueSize: number;
  /** Who may decide on advisories. */
  operators: readonly Operator[];
  /** Seconds between the page's refreshes. */
  refreshSeconds?: number;
  /** Called after each push with its outcome (for logs); never with a token. */
  onPush?: (source: string, status: string, seconds: number) => void;
}

/** A running service's handler and its parts. */
export interface Service {
  /** The request handler for `Deno.serve`. */
  handler: (request: Request) => Promise<Response>;
  /** Wait for every push taken so far. */
  drain(): Promise<void>;
  /** The metrics, for tests. */
  metrics: Metrics;
}

const PACKET_TYPES = new Set(["application/zip", "application/octet-stream"]);
const DECISION_BODY_BYTES = 64 * 1024;

/**
 * Build the service's handler.
 *
 * @param backend the hub
 * @param options limits and operators
 * @returns the handler and its parts
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createService } from "./app.ts";
 * const backend = {
 *   push: () => Promise.reject(new Error("unused")),
 *   report: () => Promise.resolve({ crossEnvDrifts: [] }),
 *   page: () => Promise.resolve("<!doctype html>"),
 *   advisories: () => Promise.resolve([]),
 *   advisory: () => Promise.resolve(undefined),
 *   decide: () => Promise.reject(new Error("unused")),
 *   healthy: () => Promise.resolve(true),
 *   knownEnvironment: () => false,
 *   close: () => Promise.resolve(),
 * };
 * const service = createService(backend, {
 *   maxBodyBytes: 1024,
 *   requestTimeoutMs: 1000,
 *   queueSize: 4,
 *   operators: [],
 * });
 * const health = await service.handler(new Request("http://localhost/healthz"));
 * assert.deepEqual(await health.json(), { status: "ok" });
 * const missing = await service.handler(new Request("http://localhost/v1/advisories/adv-x"));
 * assert.equal(missing.status, 404);
 * ```
 */
export function createService(backend: HubBackend, options: ServiceOptions): Service {
  const metrics = new Metrics();
  const queue = new SerialQueue(options.queueSize);
  let inFlight = 0;

  async function pushPacket(request: Request): Promise<Response> {
    const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (!PACKET_TYPES.has(type)) {
      throw new HttpError(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "A packet is sent as application/zip or application/octet-stream",
      );
    }
    if (inFlight >= options.queueSize) {
      throw new HttpError(503, "QUEUE_FULL", "The ingest queue is full; try again", {
        "retry-after": "1",
      });
    }
    inFlight++;
    try {
      const bytes = await readBoundedBody(request, {
        maxBytes: options.maxBodyBytes,
        timeoutMs: options.requestTimeoutMs,
      });
      const source = `push:${new URL(request.url).searchParams.get("name") ?? "body"}`;
      const started = performance.now();
      const result = await queue.run(() => backend.push(bytes, source));
      const seconds = (performance.now() - started) / 1000;
      metrics.observeIngest(seconds);
      metrics.countPacket(
        backend.knownEnvironment(result.environmentId) ? result.environmentId! : "unknown",
        result.status,
      );
      options.onPush?.(source, result.status, seconds);
      const status = result.status === "accepted" ? 201 : result.status === "duplicate" ? 200 : 422;
      return jsonResponse(status, result);
    } finally {
      inFlight--;
    }
  }

  async function decideAdvisory(
    request: Request,
    id: string,
    decision: "accept" | "decline",
  ): Promise<Response> {
    const operator = await authenticate(options.operators, request.headers.get("authorization"));
    if (operator === undefined) {
      throw new HttpError(401, "UNAUTHORIZED", "A valid operator token is required", {
        "www-authenticate": 'Bearer realm="jrm"',
      });
    }
    const body = await readBoundedBody(request, {
      maxBytes: DECISION_BODY_BYTES,
      timeoutMs: options.requestTimeoutMs,
    });
    let reason: string | undefined;
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
      } catch {
        throw new HttpError(400, "BAD_JSON", "The body is not JSON");
      }
      const given = (parsed as { reason?: unknown } | null)?.reason;
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new HttpError(400, "BAD_JSON", 'The body must be a JSON object {"reason": "…"}');
      }
      if (given !== undefined && given !== null && typeof given !== "string") {
        throw new HttpError(400, "BAD_REASON", '"reason" must be a string');
      }
      reason = typeof given === "string" ? given : undefined;
    }
    if (decision === "decline" && (reason === undefined || reason.trim() === "")) {
      throw new HttpError(400, "REASON_REQUIRED", 'Declining needs a "reason"');
    }
    try {
      return jsonResponse(200, await backend.decide(id, decision, operator, reason));
    } catch (error) {
      if (error instanceof AdvisoryNotFound) {
        throw new HttpError(404, "NOT_FOUND", error.message);
      }
      if (error instanceof AdvisoryNotPublished) {
        throw new HttpError(409, "ALREADY_DECIDED", error.message);
      }
      if (error instanceof UsageError && error.exitCode === 2) {
        throw new HttpError(400, "BAD_REQUEST", error.message);
      }
      throw error;
    }
  }

  async function route(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    const method = request.method;
    const match = ROUTES.find((route) => route.pattern.test({ pathname: path }));
    if (match === undefined) throw new HttpError(404, "NOT_FOUND", `No route for ${path}`);
    const methods = match.methods;
    if (!methods.includes(method as never)) {
      throw new HttpError(405, "METHOD_NOT_ALLOWED", `${path} takes ${methods.join(", ")}`, {
        allow: methods.join(", "),
      });
    }
    const params = match.pattern.exec({ pathname: path })?.pathname.groups ?? {};
    switch (match.name) {
      case "push":
        return await pushPacket(request);
      case "report":
        return jsonResponse(200, await backend.report());
      case "drifts": {
        const report = await backend.report();
        const type = url.searchParams.get("type");
        const env = url.searchParams.get("env");
        const signature = url.searchParams.get("signature");
        const drifts = ((report.crossEnvDrifts ?? []) as Record<string, unknown>[]).filter((d) =>
          (type === null || d.driftType === type) &&
          (signature === null || d.signatureId === signature) &&
          (env === null || (d.environments as string[]).includes(env))
        );
        return jsonResponse(200, { drifts });
      }
      case "advisories": {
        const status = url.searchParams.get("status") ?? undefined;
        try {
          return jsonResponse(200, { advisories: await backend.advisories(status) });
        } catch (error) {
          if (error instanceof UsageError) throw new HttpError(400, "BAD_REQUEST", error.message);
          throw error;
        }
      }
      case "advisory": {
        const advisory = await backend.advisory(params.id ?? "");
        if (advisory === undefined) {
          throw new HttpError(404, "NOT_FOUND", `No advisory "${params.id}"`);
        }
        return jsonResponse(200, advisory);
      }
      case "accept":
      case "decline":
        return await decideAdvisory(request, params.id ?? "", match.name);
      case "page": {
        const refresh = options.refreshSeconds ?? 30;
        return new Response(await backend.page(refresh), {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
          },
        });
      }
      case "health":
        return (await healthy())
          ? jsonResponse(200, { status: "ok" })
          : jsonResponse(503, { status: "unavailable" });
      case "metrics": {
        const report = await backend.report();
        const drifts: Record<string, number> = {};
        for (const drift of (report.crossEnvDrifts ?? []) as { driftType: string }[]) {
          drifts[drift.driftType] = (drifts[drift.driftType] ?? 0) + 1;
        }
        return new Response(metrics.render({ drifts, queueDepth: inFlight }), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      }
      case "openapi":
        return jsonResponse(200, OPENAPI);
    }
  }

  async function healthy(): Promise<boolean> {
    try {
      return await backend.healthy();
    } catch {
      return false;
    }
  }

  async function handler(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      return await route(request, url);
    } catch (error) {
      if (error instanceof HttpError) return errorResponse(error);
      if (error instanceof UsageError) {
        return errorResponse(new HttpError(400, "BAD_REQUEST", error.message));
      }
      console.error(
        `error: ${request.method} ${url.pathname}: ${
          error instanceof Error ? error.message.split("\n")[0] : String(error)
        }`,
      );
      return errorResponse(
        new HttpError(500, "INTERNAL", "The request failed; see the server log"),
      );
    }
  }

  return { handler, drain: () => queue.drain(), metrics };
}
