// URLs split the way the board hosts and the configuration read them, without RegExp (see chars.ts).
import { indexOfAny, isDigit, skipWhile, startsWithIgnoringCase } from "./chars";

export interface BrokerParts {
  secure: boolean;
  host: string;
  /** The digits after the host's ":", or "" without a port. */
  port: string;
}

/** ^(mqtts?):\/\/([^/:]+)(?::(\d+))?\/?$ in parts, or undefined when the URL is not of that form. */
export function brokerParts(url: string): BrokerParts | undefined {
  const secure = url.substring(0, 8) === "mqtts://";
  if (!secure && url.substring(0, 7) !== "mqtt://") return undefined;
  const start = secure ? 8 : 7;
  const hostEnd = indexOfAny(url, "/:", start);
  const end = hostEnd < 0 ? url.length : hostEnd;
  if (end === start) return undefined;
  let at = end;
  let port = "";
  if (url.charAt(at) === ":") {
    at = skipWhile(url, isDigit, at + 1);
    port = url.substring(end + 1, at);
    if (port === "") return undefined;
  }
  if (url.charAt(at) === "/") at++;
  return at === url.length ? { secure, host: url.substring(start, end), port } : undefined;
}

/** The length of "http://" or "https://" (either in any case) at the start of `url`, or 0. */
export function httpSchemeLength(url: string): number {
  if (startsWithIgnoringCase(url, "https://")) return 8;
  return startsWithIgnoringCase(url, "http://") ? 7 : 0;
}

export interface HttpTarget {
  /** "http" or "https" as written, in either case. */
  scheme: string;
  host: string;
  /** The digits after the host's ":", or "" without a port. */
  port: string;
  /** What follows up to the fragment; "" when nothing does. */
  path: string;
}

/**
 * ^(https?):\/\/([^/?#:]+)(?::(\d+))?([^#]*) /i in parts, as the board HTTP clients read a URL: the
 * host runs to the first "/", "?", "#" or ":", a ":" without digits starts the path.
 */
export function httpTarget(url: string): HttpTarget | undefined {
  const start = httpSchemeLength(url);
  if (start === 0) return undefined;
  const hostEnd = indexOfAny(url, "/?#:", start);
  const end = hostEnd < 0 ? url.length : hostEnd;
  if (end === start) return undefined;
  let at = end;
  let port = "";
  if (url.charAt(at) === ":") {
    const digitsEnd = skipWhile(url, isDigit, at + 1);
    if (digitsEnd > at + 1) {
      port = url.substring(at + 1, digitsEnd);
      at = digitsEnd;
    }
  }
  const fragment = url.indexOf("#", at);
  return {
    scheme: url.substring(0, start - 3),
    host: url.substring(start, end),
    port,
    path: url.substring(at, fragment < 0 ? url.length : fragment),
  };
}
