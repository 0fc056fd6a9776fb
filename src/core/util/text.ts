// Text that crosses a trust boundary. A failure message often quotes what a cloud or a server sent
// (a URL, a version string from an image header), and it ends up in the cloud's console, in
// documents and in logs: cleaned here, one way for every backend, it cannot start a new line or a
// new field there, and it stays short.

import { charsBetween, trim } from "./chars";

/** Longest free text sent to a cloud in one field (AWS statusDetails value, fw_error, result_msg). */
export const MAX_REPORT_TEXT = 256;

// What breaks a line or fakes what a reader sees: C0, DEL, C1, U+2028/2029, and the rest of \p{C}
// (format characters such as bidi overrides, private use), which AWS refuses in statusDetails.
// Lone surrogates are told apart by isLoneSurrogate.
function isUnsafe(code: number): boolean {
  if (code < 0x100) return code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0xad;
  return (
    (code >= 0x600 && code <= 0x605) ||
    code === 0x61c ||
    code === 0x6dd ||
    code === 0x70f ||
    code === 0x180e ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x2064) ||
    (code >= 0x2066 && code <= 0x206f) ||
    code === 0xfeff ||
    (code >= 0xfff9 && code <= 0xfffb) ||
    (code >= 0xe000 && code <= 0xf8ff)
  );
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Whether the code unit at `i` is a surrogate that is not half of a pair. */
function isLoneSurrogate(value: string, i: number): boolean {
  const code = value.charCodeAt(i);
  if (isHighSurrogate(code)) return !isLowSurrogate(value.charCodeAt(i + 1));
  return isLowSurrogate(code) && !(i > 0 && isHighSurrogate(value.charCodeAt(i - 1)));
}

/** Whether `value` holds a character that cleanText replaces. */
export function hasUnsafeCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++)
    if (isUnsafe(value.charCodeAt(i)) || isLoneSurrogate(value, i)) return true;
  return false;
}

/**
 * `value` fit to be shown or sent: every control, line separator and format character becomes a
 * space, a lone surrogate "?", the ends are trimmed, and text longer than `max` is cut (never
 * inside a surrogate pair) to end in "...".
 */
export function cleanText(value: string, max: number = MAX_REPORT_TEXT): string {
  // charAt, not substring: see charsBetween.
  let replaced = "";
  for (let i = 0; i < value.length; i++) {
    if (isUnsafe(value.charCodeAt(i))) replaced += " ";
    else if (isLoneSurrogate(value, i)) replaced += "?";
    else replaced += value.charAt(i);
  }
  const out = trim(replaced);
  if (out.length <= max) return out;
  let end = Math.max(0, max - 3);
  if (isHighSurrogate(out.charCodeAt(end - 1))) end--;
  return charsBetween(out, 0, end) + "...";
}

/** Any value for an error message: as JSON, cleaned, and at most `max` characters. */
export function quoted(value: unknown, max = 40): string {
  // JSON would show Infinity (what 1e999 parses as) and NaN as null.
  if (typeof value === "number" && !isFinite(value)) return String(value);
  const text = value === undefined ? undefined : JSON.stringify(value);
  return text === undefined ? "nothing" : cleanText(text, max);
}
