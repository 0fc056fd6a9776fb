// The HttpClient port over Espruino's require("http"). The body arrives as binary strings through
// 'data' events; they are queued for read(). Espruino's client has no abort: close() stops
// delivering the rest, which still arrives and is dropped until the server ends the response.
import { otaError } from "../../src/core/errors";
import type { HttpClient, HttpResponse } from "../../src/core/ports";
import { httpTarget } from "../../src/core/util/url-parts";
import { bytesOf } from "./binary";

export function espruinoHttpClient(http: EspruinoHttp): HttpClient {
  return {
    get(request) {
      const parts = httpTarget(request.url);
      // The scheme in lower case only, as this client has always read it.
      if (!parts || (parts.scheme !== "http" && parts.scheme !== "https"))
        return Promise.reject(otaError("offer-malformed", `cannot fetch ${request.url}`));
      const secure = parts.scheme === "https";
      const path = parts.path || "/";
      return new Promise<HttpResponse>((resolve, reject) => {
        const chunks: Uint8Array[] = [];
        let ended = false;
        let closed = false;
        let failure: Error | undefined;
        let waiting:
          { resolve: (chunk: Uint8Array | null) => void; reject: (e: Error) => void } | undefined;
        const settle = () => {
          if (!waiting) return;
          const reader = waiting;
          if (chunks.length > 0) reader.resolve(chunks.shift()!);
          else if (failure) reader.reject(failure);
          else if (ended || closed) reader.resolve(null);
          else return;
          waiting = undefined;
        };
        const networkError = (error: { message?: string }) =>
          otaError(
            "network",
            `${request.url}: ${(error && error.message) || "connection failed"}`,
            true,
          );
        let answered = false;
        const req = http.request(
          {
            host: parts.host,
            port: parts.port ? Number(parts.port) : secure ? 443 : 80,
            path,
            method: "GET",
            protocol: secure ? "https:" : "http:",
            headers: request.headers,
          },
          (response) => {
            answered = true;
            const headers: Record<string, string> = {};
            const names = Object.keys(response.headers || {});
            for (let i = 0; i < names.length; i++)
              headers[names[i].toLowerCase()] = String(response.headers[names[i]]);
            response.on("data", (data) => {
              if (closed || data.length === 0) return;
              chunks.push(bytesOf(data));
              settle();
            });
            response.on("error", (error) => {
              failure = networkError(error);
              settle();
            });
            response.on("close", () => {
              ended = true;
              settle();
            });
            resolve({
              status: Number(response.statusCode),
              headers,
              read() {
                if (waiting) return Promise.reject(otaError("internal", "concurrent read()"));
                return new Promise<Uint8Array | null>((resolveRead, rejectRead) => {
                  waiting = { resolve: resolveRead, reject: rejectRead };
                  settle();
                });
              },
              close() {
                closed = true;
                chunks.length = 0;
                settle();
              },
            });
          },
        );
        req.on("error", (error) => {
          if (!answered) reject(networkError(error));
          else {
            failure = networkError(error);
            settle();
          }
        });
        req.end();
      });
    },
  };
}
