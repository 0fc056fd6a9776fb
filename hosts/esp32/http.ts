// The HttpClient port over Moddable's legacy "http" Request, with SecureSocket for https (a client
// certificate when the TLS options carry one). The body is streamed: every responseFragment is read
// inside the callback (the Request skips unread chunked bytes) and queued for read(). The Request
// sends "Connection: close" itself (one request per connection), follows no redirect and has no
// timeout: the core's HTTP source handles both.
//
// The callback's message numbers are compared as numbers: @moddable/typings types
// responseFragment as 3 and the error as -1, while the runtime uses 4 and -2.
import { Request } from "http";
import SecureSocket from "securesocket";
import { otaError } from "../../src/core/errors";
import type { HttpClient, HttpRequest, HttpResponse } from "../../src/core/ports";
import { httpTarget } from "../../src/core/util/url-parts";

const STATUS = 1;
const HEADER = 2;
const HEADERS_COMPLETE = 3;
const RESPONSE_FRAGMENT = 4;
const RESPONSE_COMPLETE = 5;

/** DER buffers (ArrayBuffer or Resource) for SecureSocket's `secure` dictionary. */
export interface TlsOptions {
  /** CA certificate the server's chain must lead to. */
  ca?: ArrayBuffer | HostBuffer;
  /** Client certificate and its private key, for mutual TLS. */
  certificate?: ArrayBuffer | HostBuffer;
  key?: ArrayBuffer | HostBuffer;
  /** false skips the server certificate check: for development only. */
  verify?: boolean;
}

/** SecureSocket's dictionary; TLS 1.2, the highest Moddable's TLS stack speaks. */
export function secureOptions(tls: TlsOptions): Record<string, unknown> {
  const secure: Record<string, unknown> = { protocolVersion: 0x303 };
  if (tls.ca) secure.certificate = tls.ca;
  if (tls.certificate) secure.clientCertificates = [tls.certificate];
  if (tls.key) secure.clientKey = tls.key;
  if (tls.verify === false) secure.verify = false;
  return secure;
}

interface Target {
  secure: boolean;
  host: string;
  port: number;
  path: string;
}

function parseUrl(url: string): Target {
  const target = httpTarget(url);
  if (!target) throw otaError("offer-unsupported", `not an http(s) URL: ${url}`);
  const secure = target.scheme.toLowerCase() === "https";
  const path = target.path || "/";
  return {
    secure,
    host: target.host,
    port: target.port ? parseInt(target.port, 10) : secure ? 443 : 80,
    path: path.charAt(0) === "/" ? path : "/" + path,
  };
}

export function requestHttpClient(tls: TlsOptions = {}): HttpClient {
  return {
    get: (request: HttpRequest) => get(request, tls),
  };
}

function get(request: HttpRequest, tls: TlsOptions): Promise<HttpResponse> {
  const target = parseUrl(request.url);
  const headers: string[] = [];
  for (const name of Object.keys(request.headers)) headers.push(name, request.headers[name]);
  const options: Record<string, unknown> = {
    host: target.host,
    port: target.port,
    path: target.path,
    method: "GET",
    headers,
  };
  if (target.secure) {
    options.Socket = SecureSocket;
    options.secure = secureOptions(tls);
  }

  return new Promise<HttpResponse>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let status = 0;
    const responseHeaders: Record<string, string> = {};
    let started = false;
    let ended = false;
    let failure: Error | undefined;
    let waiting:
      { resolve: (chunk: Uint8Array | null) => void; reject: (e: Error) => void } | undefined;
    let connection: Request | undefined;

    const wake = () => {
      const reader = waiting;
      if (!reader) return;
      if (chunks.length > 0) reader.resolve(chunks.shift()!);
      else if (failure) reader.reject(failure);
      else if (ended) reader.resolve(null);
      else return;
      waiting = undefined;
    };

    const response: HttpResponse = {
      get status() {
        return status;
      },
      headers: responseHeaders,
      read: () =>
        new Promise<Uint8Array | null>((resolveRead, rejectRead) => {
          if (waiting) {
            rejectRead(otaError("internal", "HttpResponse.read() while another read is pending"));
            return;
          }
          waiting = { resolve: resolveRead, reject: rejectRead };
          wake();
        }),
      close: () => {
        ended = true;
        chunks.length = 0;
        const open = connection;
        connection = undefined;
        if (open) open.close();
        wake();
      },
    };

    try {
      connection = new Request(options);
    } catch (error) {
      reject(otaError("network", `cannot connect to ${target.host}: ${String(error)}`, true));
      return;
    }
    const self = connection;
    self.callback = (message: number, value?: unknown, etc?: unknown) => {
      if (message === STATUS) status = value as number;
      else if (message === HEADER) {
        const name = value as string;
        const previous = responseHeaders[name];
        responseHeaders[name] = previous === undefined ? String(etc) : previous + ", " + etc;
      } else if (message === HEADERS_COMPLETE) {
        started = true;
        resolve(response);
      } else if (message === RESPONSE_FRAGMENT) {
        const bytes = self.read(ArrayBuffer, value as number);
        if (connection && bytes.byteLength > 0) chunks.push(new Uint8Array(bytes));
        wake();
      } else if (message === RESPONSE_COMPLETE) {
        ended = true;
        connection = undefined;
        wake();
      } else if (message < 0) {
        // The Request closes itself after an error.
        connection = undefined;
        const error = otaError(
          "network",
          `connection to ${target.host} failed ${started ? "during the body" : "before the response"}`,
          true,
        );
        if (!started) reject(error);
        else if (!ended) failure = error;
        wake();
      }
    };
  });
}
