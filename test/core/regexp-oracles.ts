// The parsers of the board code as they were written with regular expressions, kept here as the
// oracles that the RegExp-free versions are held against (test/core/parsers-without-regexp.test.ts).
// Copied unchanged from the code they replace, apart from exports and names.
import { MAX_IMAGE_SIZE, MAX_URL_LENGTH } from "../../src/backends/offer-fields";
import type { UrlOrigin } from "../../src/core/policy";
import { quoted } from "../../src/core/util/text";

function fail(field: string, accepted: string, value: string): Error {
  return new Error(field + ": " + accepted + ", not " + value);
}

// src/core/policy.ts

// The authority's userinfo and host are read as WHATWG URL parsers read them, so that the host
// judged is the host connected to: a backslash, a percent sign or a space in the authority (which
// parsers disagree on) makes the URL malformed rather than judged by a guess.
const HTTP_URL =
  /^(https?):\/\/(?:[^@\\/?#\s]*@)?([a-z0-9_.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?(?:[/?#][^\s\\]*)?$/i;

/** The scheme and host of an http:// or https:// URL; undefined when it is neither or malformed. */
export function urlOrigin(url: string): UrlOrigin | undefined {
  const match = typeof url === "string" ? HTTP_URL.exec(url) : null;
  const host = match ? canonicalHost(match[2]) : undefined;
  if (!match || host === undefined) return undefined;
  const scheme = match[1].toLowerCase();
  return { scheme, host, origin: scheme + "://" + host + (match[3] || "") };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * A host as WHATWG URL parsers serialize it (lower case, IPv6 compressed), without a trailing dot;
 * undefined for one they would read otherwise than as written, such as an IPv4 address that is not
 * plain dotted decimal ("127.1", "0x7f.0.0.1", "010.0.0.1" are all IPv4 addresses to them).
 */
function canonicalHost(text: string): string | undefined {
  const host = text.toLowerCase();
  if (host.charAt(0) === "[" || host.indexOf(":") >= 0) {
    const bracketed = host.charAt(0) === "[" && host.charAt(host.length - 1) === "]";
    const pieces = ipv6Pieces(bracketed ? host.substring(1, host.length - 1) : host);
    return pieces && "[" + serializeIpv6(pieces) + "]";
  }
  const name = host.charAt(host.length - 1) === "." ? host.substring(0, host.length - 1) : host;
  if (name === "" || name.charAt(0) === ".") return undefined;
  const last = name.substring(name.lastIndexOf(".") + 1);
  if (/^(\d+|0x[0-9a-f]*)$/.test(last) && !IPV4.test(name)) return undefined;
  return name;
}

/** The eight 16-bit pieces of an IPv6 address ("::1", "::ffff:10.0.0.7"), or undefined. */
function ipv6Pieces(text: string): number[] | undefined {
  let body = text;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    if (!IPV4.test(v4[2])) return undefined;
    const octets = v4[2].split(".");
    tail.push(+octets[0] * 256 + +octets[1], +octets[2] * 256 + +octets[3]);
    body = /::$/.test(v4[1]) ? v4[1] : v4[1].substring(0, v4[1].length - 1);
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const rest = halves.length < 2 || halves[1] === "" ? [] : halves[1].split(":");
  const missing = 8 - head.length - rest.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = head.concat(rest);
  for (let i = 0; i < groups.length; i++) if (!/^[0-9a-f]{1,4}$/.test(groups[i])) return undefined;
  const pieces: number[] = [];
  for (let i = 0; i < head.length; i++) pieces.push(parseInt(head[i], 16));
  // No "::": nothing is missing.
  for (let i = 0; i < missing; i++) pieces.push(0);
  for (let i = 0; i < rest.length; i++) pieces.push(parseInt(rest[i], 16));
  return pieces.concat(tail);
}

/** WHATWG's serialization: hex without leading zeros, the first longest run of zeros as "::". */
function serializeIpv6(pieces: number[]): string {
  let run = -1;
  let runLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && pieces[j] === 0) j++;
    if (j - i > runLength) {
      run = i;
      runLength = j - i;
    }
    i = j > i ? j : i + 1;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === run) {
      out += i === 0 ? "::" : ":";
      i += runLength - 1;
    } else out += pieces[i].toString(16) + (i < 7 ? ":" : "");
  }
  return out;
}

/** An allowedHosts entry as canonicalHost writes hosts ("*." kept), or undefined for no entry. */
function patternHost(pattern: string): string | undefined {
  if (typeof pattern !== "string") return undefined;
  if (pattern.indexOf(":") >= 0) return canonicalHost(pattern);
  if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/i.test(pattern)) return undefined;
  const wildcard = pattern.substring(0, 2) === "*.";
  const host = canonicalHost(wildcard ? pattern.substring(2) : pattern);
  return host === undefined ? undefined : (wildcard ? "*." : "") + host;
}

/**
 * Whether `pattern` can be an allowedHosts entry: a host name, "*." and a domain, an IPv4 address,
 * or an IPv6 address with or without brackets. A URL or a host with a port is not one.
 */
export function isHostPattern(pattern: string): boolean {
  return patternHost(pattern) !== undefined;
}

// src/core/download/url.ts
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

interface Parts {
  /** "http:" */
  scheme: string;
  /** "//host:port", or "" */
  authority: string;
  path: string;
  /** "?a=b", or "" */
  query: string;
}

function split(url: string): Parts {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*:)?(\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?/.exec(
    url,
  ) as RegExpExecArray;
  return {
    scheme: match[1] || "",
    authority: match[2] || "",
    path: match[3] || "",
    query: match[4] || "",
  };
}

function removeDotSegments(path: string): string {
  const input = path.split("/");
  const output: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const segment = input[i];
    if (segment === "..") {
      if (output.length > 1) output.pop();
      if (i === input.length - 1) output.push("");
    } else if (segment === ".") {
      if (i === input.length - 1) output.push("");
    } else output.push(segment);
  }
  return output.join("/");
}

/** The absolute URL that `reference` names when found in a response to `base`. */
export function resolveUrl(base: string, reference: string): string {
  const ref = split(reference.trim());
  if (SCHEME.test(reference.trim()))
    return ref.scheme + ref.authority + removeDotSegments(ref.path) + ref.query;
  const from = split(base);
  if (ref.authority) return from.scheme + ref.authority + removeDotSegments(ref.path) + ref.query;
  if (ref.path === "") return from.scheme + from.authority + from.path + (ref.query || from.query);
  if (ref.path.charAt(0) === "/")
    return from.scheme + from.authority + removeDotSegments(ref.path) + ref.query;
  const directory = from.path.substring(0, from.path.lastIndexOf("/") + 1) || "/";
  return from.scheme + from.authority + removeDotSegments(directory + ref.path) + ref.query;
}

/**
 * `url` as an error message may show it: a presigned query string is a credential, and reports end
 * up in consoles and logs, so it is cut to "?...".
 */
export function shownUrl(url: string): string {
  const at = url.search(/[?#]/);
  return at < 0 ? url : url.slice(0, at) + (url.charAt(at) === "?" ? "?..." : "");
}

// src/core/download/http-source.ts
const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") in ms since the epoch, or NaN. */
function parseHttpDate(text: string): number {
  const m = /^\w{3}, (\d\d) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/.exec(text.trim());
  if (!m) return NaN;
  const month = MONTHS.indexOf(m[2]);
  if (month < 0 || month % 3 !== 0) return NaN;
  return Date.UTC(+m[3], month / 3, +m[1], +m[4], +m[5], +m[6]);
}
export function parseRetryAfter(headers: Record<string, string>): number | undefined {
  const value = headers["retry-after"];
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return parseInt(value, 10) * 1000;
  const when = parseHttpDate(value);
  const now = headers["date"] !== undefined ? parseHttpDate(headers["date"]) : NaN;
  if (isNaN(when) || isNaN(now)) return undefined;
  return Math.max(0, when - now);
}
export function parseContentRange(value: string | undefined): number[] | undefined {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(value || "");
  if (!m) return undefined;
  return [parseInt(m[1], 10), parseInt(m[2], 10), parseInt(m[3], 10)];
}

// src/core/version.ts
interface ParsedVersion {
  numbers: number[];
  prerelease: string;
}

function parse(version: string): ParsedVersion | undefined {
  const match = /^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(
    version.trim(),
  );
  if (!match) return undefined;
  return { numbers: match[1].split(".").map((n) => parseInt(n, 10)), prerelease: match[2] || "" };
}

/**
 * Orders two versions: negative when a < b, 0 when equal, positive when a > b; undefined when either
 * is not a dotted numeric version (then only equality of the strings means anything).
 */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return a === b ? 0 : undefined;
  const length = Math.max(x.numbers.length, y.numbers.length);
  for (let i = 0; i < length; i++) {
    const d = (x.numbers[i] || 0) - (y.numbers[i] || 0);
    if (d !== 0) return d;
  }
  // A pre-release sorts before its release (semver), and pre-releases compare as strings.
  if (x.prerelease === y.prerelease) return 0;
  if (!x.prerelease) return 1;
  if (!y.prerelease) return -1;
  return x.prerelease < y.prerelease ? -1 : 1;
}

// src/backends/offer-fields.ts
export function readSize(value: unknown, digits: boolean): number | undefined {
  const size =
    typeof value === "number"
      ? value
      : digits && typeof value === "string" && /^[0-9]{1,10}$/.test(value)
        ? parseInt(value, 10)
        : NaN;
  return size >= 1 && size <= MAX_IMAGE_SIZE && Math.floor(size) === size ? size : undefined;
}
export function urlProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string, got " + quoted(value);
  if (value.length === 0) return "is empty";
  if (value.length > MAX_URL_LENGTH)
    return "is " + value.length + " characters long, at most " + MAX_URL_LENGTH + " allowed";
  // What may stand in an HTTP request line as it is: no space, control or non-ASCII character.
  if (!/^[\x21-\x7e]+$/.test(value))
    return "holds spaces, control or non-ASCII characters: " + quoted(value);
  if (!/^https?:\/\/[^/?#]+([/?#].*)?$/i.test(value))
    return "is not an http(s) URL: " + quoted(value);
  return undefined;
}
export function readHex(value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.replace(/^\s+|\s+$/g, "");
  return text.length >= min && text.length <= max && /^[0-9a-fA-F]+$/.test(text)
    ? text.toLowerCase()
    : undefined;
}

// src/config.ts
const BROKER = /^(mqtts?):\/\/([^/:\s]+)(?::(\d{1,5}))?\/?$/;

/** The broker URL in parts. */
export function parseBroker(url: string): { secure: boolean; host: string; port: number } {
  const match = BROKER.exec(url);
  if (!match) throw fail("connection.broker", "mqtt://host[:port] or mqtts://host[:port]", url);
  const secure = match[1] === "mqtts";
  const port = match[3] ? parseInt(match[3], 10) : secure ? 8883 : 1883;
  if (port < 1 || port > 65535) throw fail("connection.broker", "a port from 1 to 65535", url);
  return { secure, host: match[2], port };
}
