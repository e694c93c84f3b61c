/**
 * The one error type of the HTTP service: a status, a stable code and a
 * one-line message, answered as `{error: {code, message}}`.
 *
 * @module
 */

/**
 * An error the service answers with a status and a JSON body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpError } from "./http_error.ts";
 * const error = new HttpError(404, "NOT_FOUND", 'No advisory "adv-1"');
 * assert.equal(error.status, 404);
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** A stable machine-readable code, such as `BODY_TOO_LARGE`. */
  readonly code: string;
  /** Extra response headers, such as `Retry-After`. */
  readonly headers: Record<string, string>;
  /**
   * @param status the HTTP status
   * @param code a stable code
   * @param message one line for a person
   * @param headers extra response headers
   */
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * A JSON response with the service's headers.
 *
 * @param status the HTTP status
 * @param body the value to send as JSON
 * @param headers extra headers
 * @returns the response
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonResponse } from "./http_error.ts";
 * const response = jsonResponse(200, { status: "ok" });
 * assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
 * assert.deepEqual(await response.json(), { status: "ok" });
 * ```
 */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...headers,
    },
  });
}

/**
 * The response for an error: `{error: {code, message}}`.
 *
 * @param error the error to answer
 * @returns the response
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorResponse, HttpError } from "./http_error.ts";
 * const response = errorResponse(new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/zip"));
 * assert.equal(response.status, 415);
 * assert.deepEqual(await response.json(), {
 *   error: { code: "UNSUPPORTED_MEDIA_TYPE", message: "Send application/zip" },
 * });
 * ```
 */
export function errorResponse(error: HttpError): Response {
  return jsonResponse(
    error.status,
    { error: { code: error.code, message: error.message } },
    error.headers,
  );
}
