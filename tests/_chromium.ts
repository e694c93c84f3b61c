/**
 * Headless Chromium for the browser tests: finds Debian's `chromium`, runs
 * it offline with a fresh profile, and drives a page over the DevTools
 * protocol through `--remote-debugging-pipe` (two FIFOs, so the tests need no
 * network permission and no driver library).
 *
 * A browser test is skipped when Chromium is not installed, except with
 * `CI=true`, where it fails: CI must not skip the browser silently.
 *
 * @module
 */

/**
 * Where Debian's `chromium` package installs the browser; `CHROMIUM_PATH` overrides it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CHROMIUM } from "./_chromium.ts";
 * assert.equal(DEFAULT_CHROMIUM, "/usr/bin/chromium");
 * ```
 */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/**
 * The flags of every run: headless, offline, no first-run work. The profile
 * (`--user-data-dir`) is added per run, fresh each time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CHROMIUM_FLAGS } from "./_chromium.ts";
 * assert(CHROMIUM_FLAGS.includes("--disable-background-networking"));
 * ```
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-dev-shm-usage",
  "--hide-scrollbars",
  "--mute-audio",
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The Chromium to use: `CHROMIUM_PATH` when set, else {@link DEFAULT_CHROMIUM}.
 * @returns its path when that file exists, else null
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findChromium } from "./_chromium.ts";
 * const chromium = findChromium();
 * assert(chromium === null || chromium.length > 0);
 * ```
 */
export function findChromium(): string | null {
  const path = Deno.env.get("CHROMIUM_PATH") || DEFAULT_CHROMIUM;
  try {
    return Deno.statSync(path).isFile ? path : null;
  } catch {
    return null;
  }
}

/**
 * What a browser test does when Chromium is or is not there.
 * @param found whether Chromium was found
 * @param ci the `CI` environment variable
 * @returns `run`, `skip` (not installed, not CI) or `fail` (not installed on CI)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { browserTestMode } from "./_chromium.ts";
 * assert.equal(browserTestMode(false, "true"), "fail");
 * assert.equal(browserTestMode(false, undefined), "skip");
 * ```
 */
export function browserTestMode(found: boolean, ci: string | undefined): "run" | "skip" | "fail" {
  if (found) return "run";
  return ci === "true" ? "fail" : "skip";
}

let warned = false;

/**
 * Register a test that needs Chromium: ignored with a warning when it is not
 * installed, failing instead when `CI=true`.
 * @param name the test's name
 * @param fn the test, given Chromium's path
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { browserTest } from "./_chromium.ts";
 * browserTest("the page loads", async (chromium) => {
 *   assert(chromium.endsWith("chromium"));
 * });
 * ```
 */
export function browserTest(
  name: string,
  fn: (chromium: string, t: Deno.TestContext) => Promise<void>,
): void {
  const chromium = findChromium();
  const wanted = Deno.env.get("CHROMIUM_PATH") || DEFAULT_CHROMIUM;
  const mode = browserTestMode(chromium !== null, Deno.env.get("CI"));
  if (mode === "skip" && !warned) {
    warned = true;
    console.warn(
      `Skipping the browser tests: Chromium is not installed at "${wanted}" ` +
        `(install Debian's chromium package, or set CHROMIUM_PATH)`,
    );
  }
  Deno.test({
    name,
    ignore: mode === "skip",
    fn: async (t) => {
      if (chromium === null) {
        throw new Error(
          `Chromium is not installed at "${wanted}" and CI=true forbids skipping the browser tests`,
        );
      }
      await fn(chromium, t);
    },
  });
}

/**
 * What a Chromium run gave.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ChromiumRun, findChromium, runChromium } from "./_chromium.ts";
 * const chromium = findChromium();
 * if (chromium) {
 *   const run: ChromiumRun = await runChromium(chromium, ["--dump-dom", "about:blank"]);
 *   assert.equal(run.code, 0);
 * }
 * ```
 */
export interface ChromiumRun {
  /** Exit code. */
  code: number;
  /** Standard output (the DOM, with `--dump-dom`). */
  stdout: string;
  /** Standard error (Chromium's log). */
  stderr: string;
}

/**
 * Run Chromium once with {@link CHROMIUM_FLAGS}, a fresh profile that is
 * removed afterwards, and a time limit.
 * @param chromium its path
 * @param args more flags and the URL
 * @param timeoutMs kill it after this long
 * @returns exit code and output
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findChromium, runChromium } from "./_chromium.ts";
 * const chromium = findChromium();
 * if (chromium) {
 *   const { stdout } = await runChromium(chromium, ["--dump-dom", "data:text/html,<p>hi</p>"]);
 *   assert(stdout.includes("<p>hi</p>"));
 * }
 * ```
 */
export async function runChromium(
  chromium: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<ChromiumRun> {
  const profile = await Deno.makeTempDir({ prefix: "jrm-chromium-" });
  try {
    const output = await new Deno.Command(chromium, {
      args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args],
      stdin: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/**
 * The DOM of a page after its scripts ran (`--dump-dom` with a virtual time budget).
 * @param chromium its path
 * @param url the page
 * @returns the serialized DOM
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dumpDom, findChromium } from "./_chromium.ts";
 * const chromium = findChromium();
 * if (chromium) {
 *   const dom = await dumpDom(chromium, "data:text/html,<script>document.title='ran'</script>");
 *   assert(dom.includes("<title>ran</title>"));
 * }
 * ```
 */
export async function dumpDom(chromium: string, url: string): Promise<string> {
  const run = await runChromium(chromium, ["--virtual-time-budget=2000", "--dump-dom", url]);
  if (run.code !== 0) throw new Error(`Chromium exited with ${run.code}: ${tail(run.stderr)}`);
  return run.stdout;
}

/**
 * Chromium's own `--screenshot` of a page.
 * @param chromium its path
 * @param url the page
 * @param path where to write the PNG
 * @param size window size, `width,height`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findChromium, screenshot } from "./_chromium.ts";
 * const chromium = findChromium();
 * if (chromium) {
 *   const path = await Deno.makeTempFile({ suffix: ".png" });
 *   await screenshot(chromium, "data:text/html,<h1>hi</h1>", path);
 *   assert((await Deno.stat(path)).size > 0);
 *   await Deno.remove(path);
 * }
 * ```
 */
export async function screenshot(
  chromium: string,
  url: string,
  path: string,
  size = "1400,1000",
): Promise<void> {
  const run = await runChromium(chromium, [
    "--virtual-time-budget=2000",
    `--screenshot=${path}`,
    `--window-size=${size}`,
    url,
  ]);
  if (run.code !== 0) throw new Error(`Chromium exited with ${run.code}: ${tail(run.stderr)}`);
}

/**
 * Whether bytes are a PNG (by its 8-byte signature).
 * @param bytes the file
 * @returns true for a PNG
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPng } from "./_chromium.ts";
 * assert(isPng(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
 * ```
 */
export function isPng(bytes: Uint8Array): boolean {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return bytes.length >= 8 && signature.every((byte, i) => bytes[i] === byte);
}

function tail(text: string): string {
  return text.trim().split("\n").slice(-5).join("\n");
}

/** A DevTools protocol event. */
interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

/**
 * A page in a headless Chromium, driven over the DevTools protocol; made by {@link openPage}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findChromium, openPage } from "./_chromium.ts";
 * const chromium = findChromium();
 * if (chromium) {
 *   await openPage(chromium, "data:text/html,<input id=q>", async (page) => {
 *     await page.type("#q", "hello");
 *     assert.equal(await page.evaluate<string>("q.value"), "hello");
 *   });
 * }
 * ```
 */
export class Page {
  /** Messages of the JavaScript dialogs (`alert`, `confirm`, …) the page opened; each is dismissed. */
  readonly dialogs: string[] = [];
  /** Uncaught exceptions and console errors, as text. */
  readonly errors: string[] = [];
  readonly #send: (method: string, params?: Record<string, unknown>) => Promise<unknown>;

  /** @param send sends a command to the page's session */
  constructor(send: (method: string, params?: Record<string, unknown>) => Promise<unknown>) {
    this.#send = send;
  }

  /**
   * Evaluate an expression in the page (promises are awaited).
   * @param expression JavaScript
   * @returns its value, as JSON
   */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.#send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    }) as { result: { value?: T }; exceptionDetails?: { exception?: { description?: string } } };
    if (result.exceptionDetails) {
      throw new Error(
        `Evaluating in the page failed: ${
          result.exceptionDetails.exception?.description ?? "exception"
        }`,
      );
    }
    return result.result.value as T;
  }

  /**
   * Wait until an expression is truthy.
   * @param expression JavaScript
   * @param timeoutMs how long to wait
   */
  async waitFor(expression: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.evaluate<boolean>(`Boolean(${expression})`))) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${expression}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Type text into an element, as keystrokes: the element is focused and
   * each character is a key event, so the page sees real `input` events.
   * @param selector CSS selector of the element
   * @param text what to type
   */
  async type(selector: string, text: string): Promise<void> {
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).focus()`);
    for (const char of text) {
      await this.#send("Input.dispatchKeyEvent", { type: "keyDown", text: char, key: char });
      await this.#send("Input.dispatchKeyEvent", { type: "keyUp", key: char });
    }
  }

  /**
   * Select all of an input's text and delete it, with keystrokes.
   * @param selector CSS selector of the input
   */
  async clear(selector: string): Promise<void> {
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).select()`);
    const backspace = { key: "Backspace", code: "Backspace", windowsVirtualKeyCode: 8 };
    await this.#send("Input.dispatchKeyEvent", { type: "rawKeyDown", ...backspace });
    await this.#send("Input.dispatchKeyEvent", { type: "keyUp", ...backspace });
  }

  /**
   * Click the middle of an element with the mouse, after scrolling it into view.
   * @param selector CSS selector of the element
   */
  async click(selector: string): Promise<void> {
    const box = await this.evaluate<{ x: number; y: number } | null>(`(() => {
      const element = document.querySelector(${JSON.stringify(selector)});
      if (!element) return null;
      element.scrollIntoView({ block: "center" });
      const rect = element.getBoundingClientRect();
      return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 };
    })()`);
    if (box === null) throw new Error(`No element matches ${selector}`);
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"]) {
      await this.#send("Input.dispatchMouseEvent", {
        type,
        x: box.x,
        y: box.y,
        button: "left",
        clickCount: type === "mouseMoved" ? 0 : 1,
      });
    }
  }

  /**
   * A PNG of the whole page, beyond the viewport.
   * @returns the PNG's bytes
   */
  async screenshot(): Promise<Uint8Array> {
    const metrics = await this.#send("Page.getLayoutMetrics") as {
      cssContentSize: { width: number; height: number };
    };
    const { width, height } = metrics.cssContentSize;
    const shot = await this.#send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width, height: Math.min(height, 16_000), scale: 1 },
    }) as { data: string };
    return Uint8Array.from(atob(shot.data), (char) => char.charCodeAt(0));
  }
}

/**
 * Open a page in a fresh headless Chromium, run `use` with it, and close
 * the browser. The DevTools protocol runs over `--remote-debugging-pipe`,
 * through two FIFOs, so no network permission is needed.
 * @param chromium its path
 * @param url the page
 * @param use what to do with the page
 * @param options window size and time limit
 * @returns what `use` returned
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findChromium, openPage } from "./_chromium.ts";
 * const chromium = findChromium();
 * if (chromium) {
 *   const title = await openPage(chromium, "data:text/html,<title>hi</title>", (page) =>
 *     page.evaluate<string>("document.title"));
 *   assert.equal(title, "hi");
 * }
 * ```
 */
export async function openPage<T>(
  chromium: string,
  url: string,
  use: (page: Page) => Promise<T>,
  options: { width?: number; height?: number; timeoutMs?: number } = {},
): Promise<T> {
  const { width = 1400, height = 1000, timeoutMs = 120_000 } = options;
  const work = await Deno.makeTempDir({ prefix: "jrm-cdp-" });
  const [commands, replies, profile] = [`${work}/in`, `${work}/out`, `${work}/profile`];
  const mkfifo = await new Deno.Command("mkfifo", { args: [commands, replies] }).output();
  if (!mkfifo.success) throw new Error(`mkfifo failed: ${decoder.decode(mkfifo.stderr)}`);
  // Chromium reads commands on fd 3 and writes replies on fd 4; the shell wires the FIFOs there.
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'exec "$@" 3<"$JRM_CDP_IN" 4>"$JRM_CDP_OUT"',
      "sh",
      chromium,
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      "--remote-debugging-pipe",
      "about:blank",
    ],
    env: { JRM_CDP_IN: commands, JRM_CDP_OUT: replies },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  const opening = Promise.all([
    Deno.open(commands, { write: true }),
    Deno.open(replies, { read: true }),
  ]);
  const exitedEarly = child.status.then(() => "exited" as const);
  const first = await Promise.race([opening, exitedEarly]);
  if (first === "exited") {
    // Unblock our pending opens by opening the other ends, then report Chromium's log.
    const ends = await Promise.all([
      Deno.open(commands, { read: true }),
      Deno.open(replies, { write: true }),
    ]);
    for (const file of [...ends, ...await opening]) file.close();
    clearTimeout(killer);
    const log = await stderr;
    await Deno.remove(work, { recursive: true }).catch(() => {});
    throw new Error(`Chromium exited before the DevTools pipe opened: ${tail(log)}`);
  }
  const [writer, reader] = first;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners: ((event: CdpEvent) => void)[] = [];
  const reading = (async () => {
    let buffered = "";
    for await (const chunk of reader.readable) {
      buffered += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffered.indexOf("\0")) !== -1) {
        const message = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        if (typeof message.id === "number") {
          const call = pending.get(message.id);
          pending.delete(message.id);
          if (message.error) call?.reject(new Error(`CDP: ${message.error.message}`));
          else call?.resolve(message.result);
        } else {
          for (const listener of listeners) listener(message);
        }
      }
    }
    for (const call of pending.values()) call.reject(new Error("Chromium closed the pipe"));
    pending.clear();
  })();
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      writer.write(encoder.encode(JSON.stringify({ id, method, params, sessionId }) + "\0"))
        .catch(reject);
    });
  try {
    const { targetId } = await send("Target.createTarget", { url: "about:blank" }) as {
      targetId: string;
    };
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    const inPage = (method: string, params?: Record<string, unknown>) =>
      send(method, params, sessionId);
    const page = new Page(inPage);
    let loaded: () => void = () => {};
    const load = new Promise<void>((resolve) => loaded = resolve);
    listeners.push((event) => {
      if (event.sessionId !== sessionId) return;
      if (event.method === "Page.loadEventFired") loaded();
      if (event.method === "Page.javascriptDialogOpening") {
        page.dialogs.push(String(event.params.message));
        inPage("Page.handleJavaScriptDialog", { accept: false }).catch(() => {});
      }
      if (event.method === "Runtime.exceptionThrown") {
        const details = event.params.exceptionDetails as { text?: string };
        page.errors.push(`exception: ${details?.text ?? "unknown"}`);
      }
      if (event.method === "Log.entryAdded") {
        const entry = event.params.entry as { level: string; text: string };
        if (entry.level === "error") page.errors.push(`log: ${entry.text}`);
      }
      if (event.method === "Runtime.consoleAPICalled" && event.params.type === "error") {
        page.errors.push(`console: ${JSON.stringify(event.params.args)}`);
      }
    });
    await inPage("Page.enable");
    await inPage("Runtime.enable");
    await inPage("Log.enable");
    await inPage("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    await inPage("Page.navigate", { url });
    await load;
    return await use(page);
  } finally {
    await send("Browser.close").catch(() => {});
    const closing = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 10_000);
    await child.status;
    clearTimeout(closing);
    clearTimeout(killer);
    await reading.catch(() => {});
    writer.close();
    await stderr;
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
