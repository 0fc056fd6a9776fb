// The image over HTTP, resumable with Range: bytes=N-. What a server answers is checked rather than
// trusted: servers that ignore Range (esp-idf PR#17960), lie in Content-Range, compress, redirect
// in circles, stall, or send more or less than they announced.

import { isOtaError, otaError } from "../errors";
import type { OtaError, FailureCode } from "../errors";
import type { Clock, HttpClient, HttpResponse } from "../ports";
import type { ByteSource, ByteStream } from "../source";
import { checkOrigin, urlOrigin, type UrlTrust } from "../policy";
import {
  isDigit,
  isDigitText,
  isSpace,
  isWordChar,
  schemeLength,
  startsWithIgnoringCase,
  trim,
} from "../util/chars";
import { resolveUrl, shownUrl } from "./url";

export interface HttpSourceOptions {
  http: HttpClient;
  clock: Clock;
  url: string;
  /** Size of the whole image, from the offer. */
  expectedSize: number;
  maxRedirects?: number;
  /**
   * The rules redirects are held to, as the offer's URL was (the agent's configuration). Absent:
   * a redirect may not leave https:// for http://.
   */
  trust?: UrlTrust;
  /** Longest wait for the response headers or for the next piece of the body. */
  readTimeoutMs?: number;
  /** Extra request headers (authorization...). */
  headers?: Record<string, string>;
}

/** A transient http-status failure may carry the server's Retry-After. */
export interface HttpStatusError extends OtaError {
  status?: number;
  retryAfterMs?: number;
}

const REDIRECTS = [301, 302, 303, 307, 308];

/**
 * One of ours. isOtaError alone also accepts Node's system errors (an Error with a string `code`
 * such as "ECONNRESET"), which must become network or body-short failures instead.
 */
function isOwnError(error: unknown): error is OtaError {
  return isOtaError(error) && typeof error.transient === "boolean";
}

/** Waits for `promise` at most `ms`; a result that arrives later is handed to `late`. */
function withTimeout<T>(
  clock: Clock,
  promise: Promise<T>,
  ms: number,
  what: string,
  late: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = clock.setTimeout(() => {
      settled = true;
      reject(otaError("timeout", "no " + what + " for " + ms + " ms", true));
    }, ms);
    promise.then(
      (value) => {
        if (settled) return late(value);
        settled = true;
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") in ms since the epoch, or NaN. */
function parseHttpDate(text: string): number {
  const date = text.trim();
  if (!fitsDateTemplate(date)) return NaN;
  const month = MONTHS.indexOf(date.substring(8, 11));
  if (month < 0 || month % 3 !== 0) return NaN;
  const at = (start: number, length: number) => +date.substring(start, start + length);
  return Date.UTC(at(12, 4), month / 3, at(5, 2), at(17, 2), at(20, 2), at(23, 2));
}

/** ^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$, written as a template: w a word character, d a digit. */
function fitsDateTemplate(text: string): boolean {
  const template = "www, dd www dddd dd:dd:dd GMT";
  if (text.length !== template.length) return false;
  for (let i = 0; i < template.length; i++) {
    const want = template.charAt(i);
    const code = text.charCodeAt(i);
    if (want === "w" ? !isWordChar(code) : want === "d" ? !isDigit(code) : text.charAt(i) !== want)
      return false;
  }
  return true;
}

/**
 * Retry-After in ms: delta-seconds, or an HTTP date measured against the response's own Date
 * header (a device's clock may not be set). Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: Record<string, string>): number | undefined {
  const value = headers["retry-after"];
  if (value === undefined) return undefined;
  if (isDigitText(trim(value), 1, value.length)) return parseInt(value, 10) * 1000;
  const when = parseHttpDate(value);
  const now = headers["date"] !== undefined ? parseHttpDate(headers["date"]) : NaN;
  if (isNaN(when) || isNaN(now)) return undefined;
  return Math.max(0, when - now);
}

function statusError(response: HttpResponse, url: string): OtaError {
  const status = response.status;
  const where = "HTTP " + status + " for " + shownUrl(url);
  let code: FailureCode = "http-status";
  let transient = false;
  let message = where;
  if (status === 403) {
    code = "url-expired";
    message = where + ": the URL has expired or is not authorized";
  } else if (status === 404 || status === 410) {
    code = "not-found";
    message = where + ": the image is not on the server";
  } else if (status === 416) {
    code = "content-range";
    message = where + ": the server cannot serve the requested range";
  } else if (status >= 500 || status === 429) transient = true;
  const error = otaError(code, message, transient) as HttpStatusError;
  error.status = status;
  if (transient) error.retryAfterMs = parseRetryAfter(response.headers);
  return error;
}

/** Content-Range: bytes <first>-<last>/<total>. */
export function parseContentRange(value: string | undefined): number[] | undefined {
  // In the terms of a regular expression: /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i
  const text = trim(value || "");
  if (!startsWithIgnoringCase(text, "bytes") || !isSpace(text.charCodeAt(5))) return undefined;
  const range = trim(text.substring(5));
  const dash = range.indexOf("-");
  const slash = range.indexOf("/");
  if (dash < 0 || slash < dash) return undefined;
  const numbers = [
    range.substring(0, dash),
    range.substring(dash + 1, slash),
    range.substring(slash + 1),
  ];
  for (let i = 0; i < 3; i++) if (!isDigitText(numbers[i], 1, numbers[i].length)) return undefined;
  return [parseInt(numbers[0], 10), parseInt(numbers[1], 10), parseInt(numbers[2], 10)];
}

/** Where the body starts in the image, after checking what the server says about it. */
function bodyStart(response: HttpResponse, offset: number, expectedSize: number, url: string) {
  const headers = response.headers;
  const encoding = (headers["content-encoding"] || "identity").toLowerCase();
  if (encoding !== "identity")
    throw otaError(
      "http-status",
      "server sent Content-Encoding " +
        encoding +
        " for " +
        shownUrl(url) +
        " although identity was asked",
    );
  const lengthHeader = headers["content-length"];
  const length = lengthHeader === undefined ? undefined : parseInt(lengthHeader, 10);
  if (response.status === 200) {
    if (length !== undefined && length !== expectedSize)
      throw otaError(
        length > expectedSize ? "body-long" : "body-short",
        "server announces " +
          lengthHeader +
          " bytes for " +
          url +
          ", the offer says " +
          expectedSize,
      );
    return 0;
  }
  const range = parseContentRange(headers["content-range"]);
  if (!range)
    throw otaError(
      "content-range",
      "206 for " +
        url +
        " with an unreadable Content-Range: " +
        (headers["content-range"] || "none"),
    );
  const problems: string[] = [];
  if (range[0] !== offset) problems.push("starts at " + range[0] + ", not at " + offset);
  if (range[2] !== expectedSize)
    problems.push("total " + range[2] + ", the offer says " + expectedSize);
  if (range[1] < range[0] || range[1] >= range[2]) problems.push("its last byte is out of range");
  if (length !== undefined && length !== range[1] - range[0] + 1)
    problems.push("Content-Length " + length + " disagrees with it");
  if (problems.length > 0)
    throw otaError(
      "content-range",
      "Content-Range " +
        headers["content-range"] +
        " for " +
        shownUrl(url) +
        ": " +
        problems.join("; "),
    );
  return offset;
}

class HttpStream implements ByteStream {
  private position: number;
  private closed = false;

  constructor(
    readonly offset: number,
    private readonly response: HttpResponse,
    private readonly options: HttpSourceOptions,
    private readonly url: string,
    private readonly timeoutMs: number,
  ) {
    this.position = offset;
  }

  async read(): Promise<Uint8Array | null> {
    const expected = this.options.expectedSize;
    for (;;) {
      if (this.closed) return null;
      let chunk: Uint8Array | null;
      try {
        chunk = await withTimeout(
          this.options.clock,
          this.response.read(),
          this.timeoutMs,
          "data from " + shownUrl(this.url) + " after byte " + this.position,
          () => undefined,
        );
      } catch (error) {
        if (this.closed) return null;
        this.close();
        if (isOwnError(error)) throw error;
        throw otaError(
          "body-short",
          "connection lost after byte " +
            this.position +
            " of " +
            expected +
            " from " +
            this.url +
            ": " +
            (error instanceof Error ? error.message : String(error)),
          true,
        );
      }
      if (this.closed) return null;
      if (chunk === null) {
        this.close();
        if (this.position < expected)
          throw otaError(
            "body-short",
            "body from " +
              shownUrl(this.url) +
              " ended at byte " +
              this.position +
              " of " +
              expected,
            true,
          );
        return null;
      }
      if (chunk.length === 0) continue;
      this.position += chunk.length;
      if (this.position > expected) {
        this.close();
        throw otaError(
          "body-long",
          "body from " + shownUrl(this.url) + " goes past the " + expected + " bytes of the image",
        );
      }
      return chunk;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.response.close();
  }
}

/** A redirect cannot take the download where the offer itself could not go. */
function checkRedirect(from: string, to: string, trust: UrlTrust | undefined): void {
  const source = urlOrigin(from);
  const what = "the redirect from " + (source ? source.origin : "the image URL") + " to";
  const target = urlOrigin(to);
  if (!target) {
    const scheme = schemeLength(to);
    throw otaError(
      "offer-untrusted",
      what +
        " a " +
        (scheme > 0 ? to.substring(0, scheme) : "malformed") +
        " URL is refused: only http(s) is followed",
    );
  }
  const refused = checkOrigin(
    target,
    trust || { allowPlaintext: source !== undefined && source.scheme === "http" },
    what,
  );
  if (refused) throw refused;
}

export function httpSource(options: HttpSourceOptions): ByteSource {
  const maxRedirects = options.maxRedirects === undefined ? 5 : options.maxRedirects;
  const timeoutMs = options.readTimeoutMs === undefined ? 30000 : options.readTimeoutMs;

  async function get(url: string, offset: number): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    const extra = options.headers || {};
    for (const name in extra) headers[name] = extra[name];
    headers["Accept-Encoding"] = "identity";
    if (offset > 0) headers["Range"] = "bytes=" + offset + "-";
    try {
      return await withTimeout(
        options.clock,
        options.http.get({ url, headers }),
        timeoutMs,
        "response from " + shownUrl(url),
        (late) => late.close(),
      );
    } catch (error) {
      if (isOwnError(error)) throw error;
      throw otaError(
        "network",
        "GET " +
          shownUrl(url) +
          " failed: " +
          (error instanceof Error ? error.message : String(error)),
        true,
      );
    }
  }

  return {
    async open(offset: number): Promise<ByteStream> {
      let url = options.url;
      const visited = [url];
      for (;;) {
        const response = await get(url, offset);
        const status = response.status;
        if (REDIRECTS.indexOf(status) >= 0) {
          response.close();
          const location = response.headers["location"];
          if (!location)
            throw otaError(
              "http-status",
              "HTTP " + status + " for " + shownUrl(url) + " without a Location",
            );
          const next = resolveUrl(url, location);
          checkRedirect(url, next, options.trust);
          if (visited.indexOf(next) >= 0)
            throw otaError(
              "redirect-loop",
              "redirect loop: " + visited.concat(next).map(shownUrl).join(" -> "),
            );
          if (visited.length > maxRedirects)
            throw otaError(
              "redirect-loop",
              "more than " +
                maxRedirects +
                " redirects: " +
                visited.concat(next).map(shownUrl).join(" -> "),
            );
          visited.push(next);
          url = next;
          continue;
        }
        if (status !== 200 && status !== 206) {
          response.close();
          throw statusError(response, url);
        }
        let start: number;
        try {
          start = bodyStart(response, offset, options.expectedSize, url);
        } catch (error) {
          response.close();
          throw error;
        }
        return new HttpStream(start, response, options, url, timeoutMs);
      }
    },
  };
}
