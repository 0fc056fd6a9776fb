// Policy: whether an offer may be downloaded at all. Everything here is decided before a single
// byte is written, so a refused offer costs no flash and is reported as refused (AWS REJECTED).
import { otaError, type OtaError } from "./errors";
import type { Offer } from "./offer";
import type { RunningImage, SlotWriter } from "./ports";
import {
  allCharsIn,
  indexWhere,
  isAlphanumeric,
  isDigit,
  isDigitText,
  isHexDigit,
  isLineTerminator,
  isLowerHexDigit,
  isSpace,
  skipWhile,
  someChar,
} from "./util/chars";
import { httpSchemeLength } from "./util/url-parts";
import { compareVersions } from "./version";

/** Which image URLs the device fetches; an absent field is the strict default. */
export interface UrlTrust {
  /** Accept plain http:// image URLs and redirects (default false: https:// only). */
  allowPlaintext?: boolean;
  /**
   * Hosts image URLs and redirects may name: exact names ("fw.example.com", "10.0.0.7", "[::1]")
   * or "*.example.com" for any subdomain of example.com; case-insensitive. Empty (the default):
   * any host.
   */
  allowedHosts?: string[];
}

export interface PolicyConfig extends UrlTrust {
  /** Accept an offer of a lower version when the offer is marked as a rollback. */
  allowDowngrade: boolean;
}

export type Decision =
  { kind: "accept" } | { kind: "current" } | { kind: "refuse"; error: OtaError };

function refuse(code: OtaError["code"], message: string): Decision {
  return { kind: "refuse", error: otaError(code, message) };
}

export function decide(
  offer: Offer,
  running: RunningImage,
  slot: SlotWriter,
  config: PolicyConfig,
  efuseSecureVersion?: number,
): Decision {
  if (typeof offer.version !== "string" || offer.version.length > 31) {
    // The app descriptor's version field holds 31 characters and a NUL.
    return refuse(
      "offer-malformed",
      "the offer's version must be a string of at most 31 characters",
    );
  }
  if (typeof offer.size !== "number" || !(offer.size > 0) || offer.size % 1 !== 0) {
    return refuse(
      "offer-malformed",
      `the offer's size must be a positive whole number, not ${offer.size}`,
    );
  }
  if (offer.size > slot.size) {
    return refuse(
      "offer-too-large",
      `image of ${offer.size} bytes does not fit ${slot.name} (${slot.size} bytes)`,
    );
  }
  const secureVersion = offer.secureVersion;
  if (secureVersion !== undefined) {
    if (typeof secureVersion !== "number" || !(secureVersion >= 0) || secureVersion % 1 !== 0)
      return refuse(
        "offer-malformed",
        `the offer's secure_version must be a whole number, not ${secureVersion}`,
      );
    const floor = Math.max(running.secureVersion, efuseSecureVersion || 0);
    if (secureVersion < floor)
      return refuse(
        "offer-downgrade",
        `secure_version ${secureVersion} is below the device's ${floor} (anti-rollback eFuse ${efuseSecureVersion === undefined ? "absent" : efuseSecureVersion}): the bootloader would never boot it`,
      );
  }
  if (offer.source.kind === "http") {
    const origin = urlOrigin(offer.source.url);
    if (!origin) return refuse("offer-malformed", "the image URL must be http:// or https://");
    const untrusted = checkOrigin(origin, config, "the image URL");
    if (untrusted) return { kind: "refuse", error: untrusted };
  }
  // Without a version, the image's own is judged when its header arrives (checkImageVersion).
  if (offer.version === "") return { kind: "accept" };
  const order = compareVersions(offer.version, running.version);
  if (order === 0) return { kind: "current" };
  return checkDowngrade(offer, offer.version, running, config) || { kind: "accept" };
}

function checkDowngrade(
  offer: Offer,
  version: string,
  running: RunningImage,
  config: PolicyConfig,
): Decision | undefined {
  const order = compareVersions(version, running.version);
  if (order !== undefined && order < 0 && !(offer.rollback && config.allowDowngrade)) {
    return refuse(
      "offer-downgrade",
      `version ${version} is lower than the running ${running.version}; downgrades are refused`,
    );
  }
  return undefined;
}

/**
 * The version policy for an offer that did not name its version, applied to the version in the
 * image's app descriptor. Throws the refusal; the same version as the running one is refused too,
 * since installing it again would only cost a reboot.
 */
export function checkImageVersion(
  offer: Offer,
  version: string,
  running: RunningImage,
  config: PolicyConfig,
): void {
  if (compareVersions(version, running.version) === 0) {
    throw otaError("offer-unsupported", `the image is version ${version}, which already runs`);
  }
  const refused = checkDowngrade(offer, version, running, config);
  if (refused && refused.kind === "refuse") throw refused.error;
}

/** What a URL trust rule judges: the scheme and the host, never the path or the query. */
export interface UrlOrigin {
  /** "http" or "https" */
  scheme: string;
  /** Lower case, without a trailing dot; an IPv6 literal keeps its brackets ("[::1]"). */
  host: string;
  /** "scheme://host[:port]", safe to log: a presigned URL's credentials are in its query. */
  origin: string;
}

// The authority's userinfo and host are read as WHATWG URL parsers read them, so that the host
// judged is the host connected to: a backslash, a percent sign or a space in the authority (which
// parsers disagree on) makes the URL malformed rather than judged by a guess.
// In the terms of a regular expression (case ignored):
// ^(https?):\/\/(?:[^@\\/?#\s]*@)?([a-z0-9_.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?(?:[/?#][^\s\\]*)?$
function splitHttpUrl(url: string): { scheme: string; host: string; port: string } | undefined {
  const start = httpSchemeLength(url);
  if (start === 0) return undefined;
  const userinfoEnd = indexWhere(url, (code) => code === 64 || isAuthorityStop(code), start);
  const hostStart = url.charAt(userinfoEnd) === "@" ? userinfoEnd + 1 : start;
  let hostEnd: number;
  if (url.charAt(hostStart) === "[") {
    hostEnd = skipWhile(url, isIpv6LiteralChar, hostStart + 1);
    if (hostEnd === hostStart + 1 || url.charAt(hostEnd) !== "]") return undefined;
    hostEnd++;
  } else {
    hostEnd = skipWhile(url, isHostNameChar, hostStart);
    if (hostEnd === hostStart) return undefined;
  }
  let at = hostEnd;
  if (url.charAt(at) === ":") {
    at = skipWhile(url, isDigit, at + 1);
    if (at === hostEnd + 1 || at - hostEnd > 6) return undefined;
  }
  if (at < url.length) {
    if ("/?#".indexOf(url.charAt(at)) < 0) return undefined;
    if (someChar(url.substring(at), (code) => code === 92 || isSpace(code))) return undefined;
  }
  return {
    scheme: url.substring(0, start - 3),
    host: url.substring(hostStart, hostEnd),
    port: url.substring(hostEnd, at),
  };
}

/** What ends a URL's userinfo without an "@": a backslash, "/", "?", "#" or a space. */
function isAuthorityStop(code: number): boolean {
  return code === 92 || code === 47 || code === 63 || code === 35 || isSpace(code);
}

/** [0-9a-f:.] with case ignored */
function isIpv6LiteralChar(code: number): boolean {
  return isHexDigit(code) || code === 58 || code === 46;
}

/** [a-z0-9_.-] with case ignored */
function isHostNameChar(code: number): boolean {
  return isAlphanumeric(code) || code === 95 || code === 46 || code === 45;
}

/** [a-z0-9_-] with case ignored */
function isLabelChar(code: number): boolean {
  return isAlphanumeric(code) || code === 95 || code === 45;
}

/** The scheme and host of an http:// or https:// URL; undefined when it is neither or malformed. */
export function urlOrigin(url: string): UrlOrigin | undefined {
  const parts = typeof url === "string" ? splitHttpUrl(url) : undefined;
  const host = parts ? canonicalHost(parts.host) : undefined;
  if (!parts || host === undefined) return undefined;
  const scheme = parts.scheme.toLowerCase();
  return { scheme, host, origin: scheme + "://" + host + parts.port };
}

/** ^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$: dotted decimal. */
function isIpv4(text: string): boolean {
  const octets = text.split(".");
  if (octets.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const octet = octets[i];
    if (!isDigitText(octet, 1, 3) || (octet.length > 1 && octet.charAt(0) === "0")) return false;
    if (parseInt(octet, 10) > 255) return false;
  }
  return true;
}

/** ^(\d+|0x[0-9a-f]*)$: what WHATWG parsers take for an IPv4 number. */
function isIpv4Number(text: string): boolean {
  if (text.substring(0, 2) !== "0x") return isDigitText(text, 1, text.length);
  return allCharsIn(text.substring(2), 0, text.length, isLowerHexDigit);
}

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
  const name = withoutOneTrailingDot(host);
  if (name === "" || name.charAt(0) === ".") return undefined;
  const last = name.substring(name.lastIndexOf(".") + 1);
  if (isIpv4Number(last) && !isIpv4(name)) return undefined;
  return name;
}

/** The eight 16-bit pieces of an IPv6 address ("::1", "::ffff:10.0.0.7"), or undefined. */
function ipv6Pieces(text: string): number[] | undefined {
  let body = text;
  const tail: number[] = [];
  // An IPv4 tail after the last ":" (/^(.*:)(\d+\.\d+\.\d+\.\d+)$/).
  const colon = text.lastIndexOf(":");
  const v4 = text.substring(colon + 1);
  if (colon >= 0 && isDottedDigits(v4) && !someChar(text.substring(0, colon), isLineTerminator)) {
    if (!isIpv4(v4)) return undefined;
    const octets = v4.split(".");
    tail.push(+octets[0] * 256 + +octets[1], +octets[2] * 256 + +octets[3]);
    const head = text.substring(0, colon + 1);
    body = head.substring(head.length - 2) === "::" ? head : text.substring(0, colon);
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const rest = halves.length < 2 || halves[1] === "" ? [] : halves[1].split(":");
  const missing = 8 - head.length - rest.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = head.concat(rest);
  for (let i = 0; i < groups.length; i++)
    if (!allCharsIn(groups[i], 1, 4, isLowerHexDigit)) return undefined;
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

/** Four runs of digits joined by dots (\d+\.\d+\.\d+\.\d+). */
function isDottedDigits(text: string): boolean {
  const parts = text.split(".");
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) if (!isDigitText(parts[i], 1, parts[i].length)) return false;
  return true;
}

/** ^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$ with case ignored: labels, then perhaps a dot. */
function isDomainName(text: string): boolean {
  const labels = withoutOneTrailingDot(text).split(".");
  for (let i = 0; i < labels.length; i++)
    if (!allCharsIn(labels[i], 1, labels[i].length, isLabelChar)) return false;
  return true;
}

function withoutOneTrailingDot(text: string): string {
  return text.charAt(text.length - 1) === "." ? text.substring(0, text.length - 1) : text;
}

/** An allowedHosts entry as canonicalHost writes hosts ("*." kept), or undefined for no entry. */
function patternHost(pattern: string): string | undefined {
  if (typeof pattern !== "string") return undefined;
  if (pattern.indexOf(":") >= 0) return canonicalHost(pattern);
  const wildcard = pattern.substring(0, 2) === "*.";
  if (!isDomainName(wildcard ? pattern.substring(2) : pattern)) return undefined;
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

/** Whether the (canonical) `host` is one `pattern` names: exact, or "*.domain" for its subdomains. */
function hostMatches(host: string, pattern: string): boolean {
  const wanted = patternHost(pattern);
  if (wanted === undefined) return false;
  if (wanted.substring(0, 2) !== "*.") return host === wanted;
  const suffix = wanted.substring(1);
  return host.length > suffix.length && host.substring(host.length - suffix.length) === suffix;
}

/**
 * The refusal of a URL the trust rules do not allow ("offer-untrusted"), or undefined. `what`
 * names the URL in the message ("the image URL", "the redirect from https://a.example").
 */
export function checkOrigin(
  origin: UrlOrigin,
  trust: UrlTrust,
  what: string,
): OtaError | undefined {
  if (origin.scheme !== "https" && !trust.allowPlaintext)
    return otaError(
      "offer-untrusted",
      `${what} ${origin.origin} is plain ${origin.scheme}://, refused because allowPlaintext is off: ` +
        "serve the image over https:// (or allow plaintext for development)",
    );
  const hosts = trust.allowedHosts || [];
  if (hosts.length === 0) return undefined;
  for (let i = 0; i < hosts.length; i++) if (hostMatches(origin.host, hosts[i])) return undefined;
  return otaError(
    "offer-untrusted",
    `${what} ${origin.origin} names host "${origin.host}", which allowedHosts does not list (${hosts.join(", ")})`,
  );
}
