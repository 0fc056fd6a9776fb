// The checks every backend makes on the fields of an offer before the agent sees it, so that a
// malformed or hostile offer is refused with a reason that names the field, the same way for every
// cloud: sizes that are not a byte count (Infinity, which is what 1e999 parses as, "", negative,
// fractional, beyond a uint32), URLs that would break the HTTP request line or overflow a device's
// buffer, names and versions that would start a new line wherever they are shown.

import {
  indexOfAny,
  isDigitText,
  isHexText,
  isPrintableAsciiText,
  someChar,
  isLineTerminator,
  trim,
} from "../core/util/chars";
import { hasUnsafeCharacters, quoted } from "../core/util/text";
import { httpSchemeLength } from "../core/util/url-parts";

/**
 * Longest URL an offer may carry: AWS OTA's OTA_REQUEST_URL_MAX_SIZE, sized for S3 presigned
 * URLs; used for every cloud.
 */
export const MAX_URL_LENGTH = 1500;

/** Longest version an offer may name (an ESP-IDF app descriptor holds 31 characters). */
export const MAX_VERSION_LENGTH = 64;

/** Largest image an offer may announce: a uint32, as AWS OTA's filesize. */
export const MAX_IMAGE_SIZE = 0xffffffff;

/**
 * A size field as a whole number of bytes from 1 to MAX_IMAGE_SIZE, or undefined. With `digits`, a
 * string of decimal digits counts too (ThingsBoard's and Tencent's SDKs parse strings).
 */
export function readSize(value: unknown, digits: boolean): number | undefined {
  const size =
    typeof value === "number"
      ? value
      : digits && typeof value === "string" && isDigitText(value, 1, 10)
        ? parseInt(value, 10)
        : NaN;
  return size >= 1 && size <= MAX_IMAGE_SIZE && Math.floor(size) === size ? size : undefined;
}

/** The reason `value` is not a size for readSize, naming it `what`. */
export function sizeProblem(what: string, value: unknown): string {
  return (
    what + " must be a whole number of bytes from 1 to " + MAX_IMAGE_SIZE + ", got " + quoted(value)
  );
}

/** ^https?:\/\/[^/?#]+([/?#].*)?$/i: an authority, then nothing or a path, query or fragment. */
function isHttpUrl(value: string): boolean {
  const scheme = httpSchemeLength(value);
  if (scheme === 0) return false;
  const rest = indexOfAny(value, "/?#", scheme);
  if (rest < 0) return value.length > scheme;
  return rest > scheme && !someChar(value.substring(rest), isLineTerminator);
}

/** Why `value` cannot be an offer's URL, or undefined when it can. */
export function urlProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string, got " + quoted(value);
  if (value.length === 0) return "is empty";
  if (value.length > MAX_URL_LENGTH)
    return "is " + value.length + " characters long, at most " + MAX_URL_LENGTH + " allowed";
  // What may stand in an HTTP request line as it is: no space, control or non-ASCII character.
  if (!isPrintableAsciiText(value))
    return "holds spaces, control or non-ASCII characters: " + quoted(value);
  if (!isHttpUrl(value)) return "is not an http(s) URL: " + quoted(value);
  return undefined;
}

/**
 * Why `value` cannot be a title, version or tag of at most `max` characters (spaces allowed, no
 * control or format character), or undefined when it can.
 */
export function nameProblem(value: unknown, max: number): string | undefined {
  if (typeof value !== "string") return "must be a string, got " + quoted(value);
  if (value.length === 0) return "is empty";
  if (value.length > max)
    return "is " + value.length + " characters long, at most " + max + " allowed";
  if (hasUnsafeCharacters(value)) return "holds control or format characters: " + quoted(value);
  return undefined;
}

/** `value` as lower-case hex of `min` to `max` digits (surrounding spaces ignored), or undefined. */
export function readHex(value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = trim(value);
  return isHexText(text, Math.max(1, min), max) ? text.toLowerCase() : undefined;
}
