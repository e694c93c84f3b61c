/**
 * Reading a request body with a size bound and a time bound: a body over the
 * limit is refused from `Content-Length` before a byte is read, or as soon as
 * the bytes read pass the limit (nothing more is read); a body that stops
 * arriving is refused when the time runs out.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";

/** Bounds of {@link readBoundedBody}. */
export interface BodyLimits {
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** How long the whole body may take to arrive, in milliseconds. */
  timeoutMs: number;
}

/**
 * Read a request's whole body within the limits.
 *
 * @param request the request
 * @param limits the size and time bounds
 * @returns the body's bytes
 * @throws {HttpError} 413 `BODY_TOO_LARGE`, 408 `REQUEST_TIMEOUT`, 400 `BODY_INCOMPLETE`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBoundedBody } from "./body.ts";
 * const request = new Request("http://localhost/", { method: "POST", body: "abc" });
 * const bytes = await readBoundedBody(request, { maxBytes: 10, timeoutMs: 1000 });
 * assert.equal(bytes.length, 3);
 * await assert.rejects(
 *   readBoundedBody(new Request("http://localhost/", { method: "POST", body: "abcdef" }), {
 *     maxBytes: 4,
 *     timeoutMs: 1000,
 *   }),
 *   /larger than/,
 * );
 * ```
 */
export async function readBoundedBody(
  request: Request,
  limits: BodyLimits,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) {
      throw new HttpError(400, "BAD_CONTENT_LENGTH", "The Content-Length header is not a number");
    }
    if (Number(declared) > limits.maxBytes) throw tooLarge(limits.maxBytes);
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(
            408,
            "REQUEST_TIMEOUT",
            `The body did not arrive within ${limits.timeoutMs / 1000} seconds`,
          ),
        ),
      limits.timeoutMs,
    );
  });
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      total += value.length;
      if (total > limits.maxBytes) throw tooLarge(limits.maxBytes);
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "BODY_INCOMPLETE", "The body ended before it was complete");
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(
    413,
    "BODY_TOO_LARGE",
    `The body is larger than the limit of ${maxBytes} bytes`,
  );
}
