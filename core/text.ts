/**
 * Text from packets and file names, made safe to show a person.
 *
 * A packet's environment id, a signature id, a reason or a file name can hold
 * bytes a terminal obeys: ESC/CSI/OSC sequences (clear the screen, retitle
 * the window, hide text), newlines that forge lines of a table, bidirectional
 * overrides that show text in another order than it is. Such text is shown
 * with every character of those kinds written as `\u{…}` (lowercase hex).
 *
 * @module
 */

/**
 * The characters a person must not get raw: C0 and C1 controls and DEL
 * (`Cc`), format controls such as bidi overrides, isolates, zero-width
 * characters and the BOM (`Cf`), the line and paragraph separators
 * U+2028/U+2029 (`Zl`, `Zp`) and lone surrogates (`Cs`).
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const UNSAFE_ONE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * Write every control, format, separator or lone-surrogate character of
 * `text` as `\u{…}` (lowercase hex), so the text can reach a terminal without
 * acting on it and without breaking a line. Other characters, the backslash
 * included, are kept; escaping escaped text changes nothing.
 * @param text untrusted text: from a packet, a file name, a plugin
 * @returns the text, safe to print
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeForTerminal } from "./text.ts";
 * assert.equal(escapeForTerminal("SOC\x1b]0;pwned\x07\n\u202eEAST"), "SOC\\u{1b}]0;pwned\\u{7}\\u{a}\\u{202e}EAST");
 * assert.equal(escapeForTerminal("SOC_EAST"), "SOC_EAST");
 * ```
 */
export function escapeForTerminal(text: string): string {
  // Most text holds nothing to escape: one test, no copy.
  if (!UNSAFE_ONE.test(text)) return text;
  return text.replace(UNSAFE, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`);
}

/**
 * Whether `text` holds a character {@link escapeForTerminal} would escape.
 * @param text any text
 * @returns true when printing it raw could act on a terminal or break a line
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasTerminalControls } from "./text.ts";
 * assert.equal(hasTerminalControls("a\u200bb"), true);
 * assert.equal(hasTerminalControls("plain"), false);
 * ```
 */
export function hasTerminalControls(text: string): boolean {
  return UNSAFE_ONE.test(text);
}

/**
 * Make JSON text safe for a terminal without changing the value it encodes:
 * the characters {@link escapeForTerminal} escapes and `JSON.stringify`
 * leaves raw (DEL, C1 controls, U+2028/U+2029, format controls) become JSON
 * `\uXXXX` escapes. Only strings can hold them in `JSON.stringify` output
 * (its raw newlines and tabs are white space between tokens, and stay), so the
 * result parses to the same value.
 * @param json text made by `JSON.stringify`
 * @returns the same JSON with those characters escaped
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeJsonForTerminal } from "./text.ts";
 * const json = JSON.stringify({ env: "SOC\u202eEAST\u0085" });
 * const safe = escapeJsonForTerminal(json);
 * assert.equal(safe, '{"env":"SOC\\u202eEAST\\u0085"}');
 * assert.deepEqual(JSON.parse(safe), JSON.parse(json));
 * ```
 */
export function escapeJsonForTerminal(json: string): string {
  if (!UNSAFE_ONE.test(json)) return json;
  return json.replace(UNSAFE, (char) => {
    // Raw C0 controls in JSON.stringify output are its own white space between tokens.
    if (char === "\n" || char === "\r" || char === "\t") return char;
    // Per UTF-16 unit, so a character beyond the BMP becomes its surrogate pair.
    let escaped = "";
    for (let i = 0; i < char.length; i++) {
      escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
    }
    return escaped;
  });
}
