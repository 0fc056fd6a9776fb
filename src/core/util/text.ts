// Text that crosses a trust boundary. A failure message often quotes what a cloud or a server sent
// (a URL, a version string from an image header), and it ends up in the cloud's console, in
// documents and in logs: cleaned here, one way for every backend, it cannot start a new line or a
// new field there, and it stays short.

/** Longest free text sent to a cloud in one field (AWS statusDetails value, fw_error, result_msg). */
export const MAX_REPORT_TEXT = 256;

// What breaks a line or fakes what a reader sees: C0, DEL, C1, U+2028/2029, and the rest of \p{C}
// (format characters such as bidi overrides, private use), which AWS refuses in statusDetails.
// Written without the u flag, for ES5 engines; lone surrogates are caught separately.
const UNSAFE_SOURCE =
  // eslint-disable-next-line no-control-regex -- control characters are what it matches
  /[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ue000-\uf8ff]/
    .source;
const UNSAFE = new RegExp(UNSAFE_SOURCE);
const UNSAFE_ALL = new RegExp(UNSAFE_SOURCE, "g");
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, "g");

/** Whether `value` holds a character that cleanText replaces. */
export function hasUnsafeCharacters(value: string): boolean {
  return UNSAFE.test(value) || LONE_SURROGATE.test(value);
}

/**
 * `value` fit to be shown or sent: every control, line separator and format character becomes a
 * space, a lone surrogate "?", the ends are trimmed, and text longer than `max` is cut (never
 * inside a surrogate pair) to end in "...".
 */
export function cleanText(value: string, max: number = MAX_REPORT_TEXT): string {
  const out = value
    .replace(UNSAFE_ALL, " ")
    .replace(LONE_SURROGATE_ALL, "$1?")
    .replace(/^\s+|\s+$/g, "");
  if (out.length <= max) return out;
  let end = Math.max(0, max - 3);
  const last = out.charCodeAt(end - 1);
  if (last >= 0xd800 && last < 0xdc00) end--;
  return out.substring(0, end) + "...";
}

/** Any value for an error message: as JSON, cleaned, and at most `max` characters. */
export function quoted(value: unknown, max = 40): string {
  // JSON would show Infinity (what 1e999 parses as) and NaN as null.
  if (typeof value === "number" && !isFinite(value)) return String(value);
  const text = value === undefined ? undefined : JSON.stringify(value);
  return text === undefined ? "nothing" : cleanText(text, max);
}
