/**
 * The service's routes and their OpenAPI 3.1 description, side by side so a
 * test can hold one to the other.
 *
 * @module
 */

/** One route of the service. */
export interface Route {
  /** The handler's name. */
  name:
    | "push"
    | "report"
    | "drifts"
    | "advisories"
    | "advisory"
    | "accept"
    | "decline"
    | "page"
    | "health"
    | "metrics"
    | "openapi";
  /** The path in OpenAPI form, `{id}` for a parameter. */
  path: string;
  /** The methods it answers. */
  methods: readonly ("GET" | "POST")[];
  /** The compiled pattern. */
  pattern: URLPattern;
}

function route(name: Route["name"], path: string, methods: Route["methods"]): Route {
  return {
    name,
    path,
    methods,
    pattern: new URLPattern({ pathname: path.replace("{id}", ":id") }),
  };
}

/** Every route the service answers. */
export const ROUTES: readonly Route[] = [
  route("push", "/v1/packets", ["POST"]),
  route("report", "/v1/report", ["GET"]),
  route("drifts", "/v1/drifts", ["GET"]),
  route("advisories", "/v1/advisories", ["GET"]),
  route("advisory", "/v1/advisories/{id}", ["GET"]),
  route("accept", "/v1/advisories/{id}/accept", ["POST"]),
  route("decline", "/v1/advisories/{id}/decline", ["POST"]),
  route("page", "/", ["GET"]),
  route("health", "/healthz", ["GET"]),
  route("metrics", "/metrics", ["GET"]),
  route("openapi", "/v1/openapi.json", ["GET"]),
];

const errorBody = {
  description: "An error",
  content: {
    "application/json": {
      schema: { $ref: "#/components/schemas/Error" },
    },
  },
};

const json = (description: string, schema: Record<string, unknown>) => ({
  description,
  content: { "application/json": { schema } },
});

const idParameter = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", pattern: "^adv-[0-9a-f]{20}$" },
};

const decisionBody = (required: boolean) => ({
  required,
  content: {
    "application/json": {
      schema: {
        type: "object",
        properties: { reason: { type: "string" } },
        ...(required ? { required: ["reason"] } : {}),
      },
    },
  },
});

const decisionResponses = {
  "200": json("The advisory as it now stands", { $ref: "#/components/schemas/Advisory" }),
  "400": errorBody,
  "401": errorBody,
  "404": errorBody,
  "409": errorBody,
};

/** The OpenAPI 3.1 document served on `/v1/openapi.json`. */
export const OPENAPI: Record<string, unknown> = {
  openapi: "3.1.0",
  info: {
    title: "jrm hub",
    version: "1",
    description:
      "SOC pipelines push JRM-X packets; operators read drift and decide on advisories. A pushed packet is authenticated by its signature only.",
  },
  components: {
    securitySchemes: { operator: { type: "http", scheme: "bearer" } },
    schemas: {
      Error: {
        type: "object",
        required: ["error"],
        properties: {
          error: {
            type: "object",
            required: ["code", "message"],
            properties: { code: { type: "string" }, message: { type: "string" } },
          },
        },
      },
      PushResult: {
        type: "object",
        required: ["status", "packetName", "digest", "violations"],
        properties: {
          status: { enum: ["accepted", "duplicate", "rejected"] },
          packetName: { type: ["string", "null"] },
          digest: { type: "string", pattern: "^sha256:[0-9a-f]{64}$" },
          environmentId: { type: ["string", "null"] },
          violations: {
            type: "array",
            items: {
              type: "object",
              required: ["code", "message"],
              properties: { code: { type: "string" }, message: { type: "string" } },
            },
          },
        },
      },
      Drift: { type: "object", required: ["driftId", "driftType", "environments"] },
      Advisory: { type: "object", required: ["advisoryId", "status"] },
      Report: { type: "object", required: ["crossEnvDrifts"] },
    },
  },
  paths: {
    "/v1/packets": {
      post: {
        summary: "Push one packet",
        requestBody: {
          required: true,
          content: {
            "application/zip": { schema: { type: "string", format: "binary" } },
            "application/octet-stream": { schema: { type: "string", format: "binary" } },
          },
        },
        responses: {
          "201": json("Accepted and ingested", { $ref: "#/components/schemas/PushResult" }),
          "200": json("A duplicate of a packet seen before", {
            $ref: "#/components/schemas/PushResult",
          }),
          "422": json("Refused by the gate (EQUIVOCATION names the other digest)", {
            $ref: "#/components/schemas/PushResult",
          }),
          "408": errorBody,
          "413": errorBody,
          "415": errorBody,
          "503": errorBody,
        },
      },
    },
    "/v1/report": {
      get: {
        summary: "The federation report of the current state",
        responses: { "200": json("The report", { $ref: "#/components/schemas/Report" }) },
      },
    },
    "/v1/drifts": {
      get: {
        summary: "Drifts, filtered",
        parameters: ["type", "env", "signature"].map((name) => ({
          name,
          in: "query",
          required: false,
          schema: { type: "string" },
        })),
        responses: {
          "200": json("Matching drifts", {
            type: "object",
            properties: {
              drifts: { type: "array", items: { $ref: "#/components/schemas/Drift" } },
            },
          }),
        },
      },
    },
    "/v1/advisories": {
      get: {
        summary: "Advisories, optionally of one status",
        parameters: [{
          name: "status",
          in: "query",
          required: false,
          schema: { enum: ["published", "accepted", "declined", "resolved"] },
        }],
        responses: {
          "200": json("Advisories", {
            type: "object",
            properties: {
              advisories: { type: "array", items: { $ref: "#/components/schemas/Advisory" } },
            },
          }),
          "400": errorBody,
        },
      },
    },
    "/v1/advisories/{id}": {
      get: {
        summary: "One advisory with its history",
        parameters: [idParameter],
        responses: {
          "200": json("The advisory", { $ref: "#/components/schemas/Advisory" }),
          "404": errorBody,
        },
      },
    },
    "/v1/advisories/{id}/accept": {
      post: {
        summary: "Accept a published advisory",
        security: [{ operator: [] }],
        parameters: [idParameter],
        requestBody: decisionBody(false),
        responses: decisionResponses,
      },
    },
    "/v1/advisories/{id}/decline": {
      post: {
        summary: "Decline a published advisory (a reason is required)",
        security: [{ operator: [] }],
        parameters: [idParameter],
        requestBody: decisionBody(true),
        responses: decisionResponses,
      },
    },
    "/": {
      get: {
        summary: "The HTML page of the current state",
        responses: {
          "200": { description: "The page", content: { "text/html": {} } },
        },
      },
    },
    "/healthz": {
      get: {
        summary: "Whether the store answers",
        responses: {
          "200": json("Healthy", { type: "object" }),
          "503": json("The store does not answer", { type: "object" }),
        },
      },
    },
    "/metrics": {
      get: {
        summary: "Prometheus metrics",
        responses: { "200": { description: "Text format", content: { "text/plain": {} } } },
      },
    },
    "/v1/openapi.json": {
      get: {
        summary: "This document",
        responses: { "200": json("OpenAPI 3.1", { type: "object" }) },
      },
    },
  },
};
