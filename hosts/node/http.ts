// The HttpClient port over node:http and node:https. The body is pulled: the response stays paused
// between read() calls, so Node's stream buffering (a highWaterMark) is all that is held and the
// socket is throttled by TCP flow control while the core writes flash. Redirects are the core's.

import * as http from "node:http";
import * as https from "node:https";
import type { HttpClient, HttpRequest, HttpResponse } from "../../src/core/ports";

export interface NodeHttpOptions {
  /** Trusted CA certificates (PEM) for https, instead of Node's bundle. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key (PEM) for servers that ask for one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  /**
   * A connection silent this long is dropped (120 s). The core's own read timeout is shorter; this
   * frees a GET the core gave up on, which the port has no way to cancel.
   */
  idleTimeoutMs?: number;
}

function lowerCaseHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value !== undefined)
      out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function pullResponse(request: http.ClientRequest, response: http.IncomingMessage): HttpResponse {
  let ended = false;
  let closed = false;
  let failure: Error | undefined;
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  response.on("readable", wake);
  response.on("end", () => {
    ended = true;
    wake();
  });
  response.on("error", (error) => {
    failure ??= error;
    wake();
  });
  response.on("close", () => {
    // A connection that closes before the end of the body is a failure, not an end.
    if (!ended) failure ??= new Error("connection closed before the end of the body");
    wake();
  });

  return {
    status: response.statusCode ?? 0,
    headers: lowerCaseHeaders(response.headers),
    read() {
      return new Promise<Uint8Array | null>((resolve, reject) => {
        const attempt = () => {
          if (closed) return resolve(null);
          const chunk = response.read() as Buffer | null;
          if (chunk !== null)
            return resolve(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
          if (ended) return resolve(null);
          if (failure) return reject(failure);
          waiter = attempt;
        };
        attempt();
      });
    },
    close() {
      if (closed) return;
      closed = true;
      response.destroy();
      request.destroy();
      wake();
    },
  };
}

export function createNodeHttpClient(options: NodeHttpOptions = {}): HttpClient {
  return {
    get(req: HttpRequest): Promise<HttpResponse> {
      return new Promise((resolve, reject) => {
        const secure = req.url.startsWith("https:");
        const requestOptions: https.RequestOptions = { method: "GET", headers: req.headers };
        if (secure) {
          requestOptions.ca = options.ca;
          requestOptions.cert = options.cert;
          requestOptions.key = options.key;
          requestOptions.rejectUnauthorized = options.rejectUnauthorized ?? true;
        }
        const request = (secure ? https : http).request(req.url, requestOptions);
        request.once("response", (response) => resolve(pullResponse(request, response)));
        // Stays attached: an error after the response has started must not go unhandled (the
        // response reports the failure itself through its "close" without "end").
        request.on("error", reject);
        request.setTimeout(options.idleTimeoutMs ?? 120_000, () =>
          request.destroy(new Error("connection idle for too long")),
        );
        request.end();
      });
    },
  };
}
