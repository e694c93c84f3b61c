import assert from "node:assert/strict";
import { AdvisoryNotFound, AdvisoryNotPublished } from "../core/advisory.ts";
import { createService, type ServiceOptions } from "../server/app.ts";
import type { HubBackend, PushResult } from "../server/backend.ts";
import { OPENAPI, ROUTES } from "../server/openapi.ts";
import { tokenHash } from "../server/operators.ts";

interface FakeState {
  pushes: string[];
  decisions: { id: string; decision: string; by: string; reason?: string }[];
  release?: () => void;
  gate?: Promise<void>;
  healthy: boolean;
}

function fakeBackend(state: FakeState): HubBackend {
  return {
    async push(bytes, source): Promise<PushResult> {
      state.pushes.push(source);
      if (state.gate) await state.gate;
      const text = new TextDecoder().decode(bytes);
      return {
        status: text === "dup" ? "duplicate" : text === "bad" ? "rejected" : "accepted",
        packetName: "JRM_X_PACKET_X",
        digest: "sha256:" + "0".repeat(64),
        environmentId: "SOC_EAST",
        violations: text === "bad" ? [{ code: "ARCHIVE_NOT_ZIP", message: "not a zip" }] : [],
      };
    },
    report: () =>
      Promise.resolve({
        crossEnvDrifts: [
          { driftType: "VERSION_SKEW", signatureId: "s1", environments: ["A", "B"] },
          { driftType: "POSTURE_DIVERGENCE", signatureId: "s2", environments: ["B", "C"] },
        ],
      }),
    page: (refresh) => Promise.resolve(`<meta http-equiv="refresh" content="${refresh}">`),
    advisories: (status) => Promise.resolve([{ advisoryId: "adv-1", status: status ?? "any" }]),
    advisory: (id) => Promise.resolve(id === "adv-1" ? { advisoryId: "adv-1" } : undefined),
    decide(id, decision, by, reason) {
      if (id === "adv-missing") return Promise.reject(new AdvisoryNotFound(id, "No advisory"));
      if (state.decisions.some((d) => d.id === id)) {
        return Promise.reject(new AdvisoryNotPublished(id, "accepted", "Already decided"));
      }
      state.decisions.push({ id, decision, by, reason });
      return Promise.resolve({ advisoryId: id, status: decision + "ed" });
    },
    healthy: () => state.healthy ? Promise.resolve(true) : Promise.reject(new Error("down")),
    knownEnvironment: (env) => env === "SOC_EAST",
    close: () => Promise.resolve(),
  };
}

async function service(overrides: Partial<ServiceOptions> = {}) {
  const state: FakeState = { pushes: [], decisions: [], healthy: true };
  const svc = createService(fakeBackend(state), {
    maxBodyBytes: 16,
    requestTimeoutMs: 2000,
    queueSize: 2,
    operators: [{ name: "alice", tokenSha256: await tokenHash("alice-token") }],
    ...overrides,
  });
  const call = (path: string, init: RequestInit = {}) =>
    svc.handler(new Request("http://localhost" + path, init));
  return { state, svc, call };
}

const zip = (body: BodyInit) => ({
  method: "POST",
  headers: { "content-type": "application/zip" },
  body,
});

Deno.test("push answers 201, 200 and 422 with the outcome", async () => {
  const { call } = await service();
  const accepted = await call("/v1/packets", zip("ok"));
  assert.equal(accepted.status, 201);
  assert.equal((await accepted.json()).status, "accepted");
  assert.equal((await call("/v1/packets", zip("dup"))).status, 200);
  const rejected = await call("/v1/packets", zip("bad"));
  assert.equal(rejected.status, 422);
  assert.equal((await rejected.json()).violations[0].code, "ARCHIVE_NOT_ZIP");
});

Deno.test("push refuses other media types with 415 before reading", async (t) => {
  const { call, state } = await service();
  for (const type of [null, "text/plain", "application/json"]) {
    await t.step(String(type), async () => {
      const headers: Record<string, string> = type ? { "content-type": type } : {};
      const response = await call("/v1/packets", { method: "POST", headers, body: "ok" });
      assert.equal(response.status, 415);
      assert.equal((await response.json()).error.code, "UNSUPPORTED_MEDIA_TYPE");
    });
  }
  assert.deepEqual(state.pushes, []);
});

Deno.test("push refuses a body over the limit with 413, by header or by count", async () => {
  const { call, state } = await service();
  const declared = await call("/v1/packets", {
    method: "POST",
    headers: { "content-type": "application/zip", "content-length": "17" },
    body: "x",
  });
  assert.equal(declared.status, 413);
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(10));
    },
  });
  const streamed = await call("/v1/packets", zip(endless));
  assert.equal(streamed.status, 413);
  assert.equal((await streamed.json()).error.code, "BODY_TOO_LARGE");
  assert.ok(pulled <= 4, `read ${pulled} chunks of a body already over the limit`);
  assert.deepEqual(state.pushes, []);
});

Deno.test("push refuses a body that stops arriving with 408", async () => {
  const { call } = await service({ requestTimeoutMs: 200 });
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(1));
    },
  });
  const response = await call("/v1/packets", zip(stalled));
  assert.equal(response.status, 408);
  assert.equal((await response.json()).error.code, "REQUEST_TIMEOUT");
});

Deno.test("push answers 503 with Retry-After when the queue is full", async () => {
  const { call, state } = await service({ queueSize: 1 });
  state.gate = new Promise((resolve) => (state.release = resolve));
  const first = call("/v1/packets", zip("ok"));
  while (state.pushes.length === 0) await new Promise((r) => setTimeout(r, 5));
  const busy = await call("/v1/packets", zip("ok"));
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "1");
  state.release!();
  assert.equal((await first).status, 201);
  assert.equal((await call("/v1/packets", zip("ok"))).status, 201);
});

Deno.test("decisions need an operator's token", async (t) => {
  const { call, state } = await service();
  const post = (path: string, token: string | null, body?: unknown) =>
    call(path, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  await t.step("no token, wrong token: 401", async () => {
    assert.equal((await post("/v1/advisories/adv-1/accept", null)).status, 401);
    assert.equal((await post("/v1/advisories/adv-1/accept", "alice-tokex")).status, 401);
    assert.equal((await post("/v1/advisories/adv-1/accept", "")).status, 401);
    assert.deepEqual(state.decisions, []);
  });
  await t.step("decline needs a reason: 400", async () => {
    const response = await post("/v1/advisories/adv-1/decline", "alice-token", {});
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error.code, "REASON_REQUIRED");
  });
  await t.step("the decision records the operator", async () => {
    const response = await post("/v1/advisories/adv-1/accept", "alice-token", { reason: "ok" });
    assert.equal(response.status, 200);
    assert.deepEqual(state.decisions, [{
      id: "adv-1",
      decision: "accept",
      by: "alice",
      reason: "ok",
    }]);
  });
  await t.step("already decided: 409; unknown: 404", async () => {
    assert.equal(
      (await post("/v1/advisories/adv-1/decline", "alice-token", { reason: "x" })).status,
      409,
    );
    assert.equal((await post("/v1/advisories/adv-missing/accept", "alice-token")).status, 404);
  });
});

Deno.test("drifts filter by type, environment and signature", async () => {
  const { call } = await service();
  const ids = async (query: string) =>
    ((await (await call("/v1/drifts" + query)).json()).drifts as { signatureId: string }[])
      .map((d) => d.signatureId);
  assert.deepEqual(await ids(""), ["s1", "s2"]);
  assert.deepEqual(await ids("?env=B"), ["s1", "s2"]);
  assert.deepEqual(await ids("?env=C"), ["s2"]);
  assert.deepEqual(await ids("?type=VERSION_SKEW"), ["s1"]);
  assert.deepEqual(await ids("?signature=s2&env=A"), []);
});

Deno.test("health, metrics, unknown routes and methods", async () => {
  const { call, state } = await service();
  assert.equal((await call("/healthz")).status, 200);
  state.healthy = false;
  assert.equal((await call("/healthz")).status, 503);
  await call("/v1/packets", zip("ok"));
  const metrics = await (await call("/metrics")).text();
  assert.match(metrics, /^jrm_packets_total\{environment="SOC_EAST",status="accepted"\} 1$/m);
  assert.match(metrics, /^jrm_drifts\{type="VERSION_SKEW"\} 1$/m);
  assert.match(metrics, /^jrm_queue_depth 0$/m);
  assert.match(metrics, /^jrm_ingest_duration_seconds_count 1$/m);
  const missing = await call("/nope");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "NOT_FOUND");
  const wrong = await call("/v1/report", { method: "DELETE" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET");
  assert.equal((await call("/v1/advisories/adv-2")).status, 404);
  assert.equal((await call("/v1/advisories?status=published")).status, 200);
});

Deno.test("the OpenAPI document describes exactly the routes served", async () => {
  const { call } = await service();
  const served = await (await call("/v1/openapi.json")).json();
  assert.equal(served.openapi, "3.1.0");
  const paths = served.paths as Record<string, Record<string, unknown>>;
  const documented = Object.entries(paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)
  ).sort();
  const routed = ROUTES.flatMap((route) => route.methods.map((m) => `${m} ${route.path}`)).sort();
  assert.deepEqual(documented, routed);
  assert.deepEqual(served, JSON.parse(JSON.stringify(OPENAPI)));
  for (const route of ROUTES) {
    for (const method of route.methods) {
      const example = route.path.replace("{id}", "adv-00000000000000000000");
      const response = await call(example, { method });
      const documentedStatuses = Object.keys(
        (paths[route.path][method.toLowerCase()] as { responses: Record<string, unknown> })
          .responses,
      );
      assert.ok(
        documentedStatuses.includes(String(response.status)),
        `${method} ${route.path} answered ${response.status}, documented ${documentedStatuses}`,
      );
    }
  }
});
