// The embedded firmware HTTP server: serves a directory with real Range support (206,
// Content-Range, 416, ETag), and misbehaves on request in the ways real servers and CDNs do, so
// that the downloader's defences are exercised over real sockets.

import { randomBytes } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import * as path from "node:path";
import { gzipSync } from "node:zlib";

export type Fault = (
  | { kind: "ignore-range" }
  /** "start": the body starts at 0 and says so; "total": the total is off by one. */
  | { kind: "wrong-content-range"; mode?: "start" | "total" }
  /** Announces the full length, sends `bytes` of body, then closes the connection. */
  | { kind: "short-body"; bytes: number }
  /** No Content-Length, and `extra` bytes (1024) after the file's end. */
  | { kind: "long-body"; extra?: number }
  | { kind: "redirect-loop" }
  /** `hops` (1) redirects before the file, alternating relative and absolute-path Locations. */
  | { kind: "redirect"; hops?: number; status?: 301 | 302 | 303 | 307 | 308; absolute?: boolean }
  /** Sends the headers and `bytes` of body, then nothing until the client gives up. */
  | { kind: "stall"; bytes: number }
  /** Answers with a header of `bytes` (5 MB): more than any HTTP client reads. */
  | { kind: "huge-headers"; bytes?: number }
  /** Sends the body one byte every `intervalMs` (1000), so that no read ever times out. */
  | { kind: "trickle"; intervalMs?: number }
  | { kind: "status"; status: number; retryAfter?: string }
  /** Compresses ranged responses although the client asked for identity. */
  | { kind: "gzip-range" }
  /** Only URLs made by presign() are served, until they expire; 403 otherwise. */
  | { kind: "expiring-url" }
) & {
  /** Number of requests the fault applies to; every request when absent. */
  times?: number;
};

export interface RequestRecord {
  method: string;
  /** Request target: path and query. */
  path: string;
  range?: string;
  headers: http.IncomingHttpHeaders;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

export interface FirmwareServerOptions {
  /** Directory whose files are served. */
  root: string;
  port?: number;
  host?: string;
  tls?: { cert: string; key: string };
  /** Each response's body at most this fast, as a slow link would be (unlimited when absent). */
  bytesPerSecond?: number;
}

export interface FirmwareServer {
  url: string;
  port: number;
  requests: RequestRecord[];
  setFault(fault: Fault | undefined): void;
  /** A URL for `file` that is valid for `ttlMs` (the expiring-url fault requires one). */
  presign(file: string, ttlMs: number): string;
  close(): Promise<void>;
}

interface ByteRange {
  start: number;
  end: number;
}

/** One satisfiable range, "unsatisfiable", or undefined for none (absent, invalid or multiple). */
function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec((header ?? "").trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

export async function startFirmwareServer(options: FirmwareServerOptions): Promise<FirmwareServer> {
  const root = path.resolve(options.root);
  const host = options.host ?? "127.0.0.1";
  const scheme = options.tls ? "https" : "http";
  const requests: RequestRecord[] = [];
  const tokens: Record<string, number> = {};
  const sockets = new Set<Socket>();
  let fault: Fault | undefined;
  let base = "";

  function takeFault(): Fault | undefined {
    if (!fault) return undefined;
    const current = fault;
    if (current.times !== undefined && --current.times <= 0) fault = undefined;
    return current;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const target = new URL(req.url ?? "/", "http://x");
    const record: RequestRecord = {
      method: req.method ?? "GET",
      path: target.pathname + target.search,
      range: req.headers.range,
      headers: req.headers,
      status: 0,
      bytes: 0,
    };
    requests.push(record);
    // The status is known once the head is written; a client may see the whole body before the
    // response's close event, so a test reading the log at once finds it there already.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http.ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      const written = writeHead(...args);
      record.status = res.statusCode;
      return written;
    }) as typeof res.writeHead;
    res.on("close", () => (record.status = res.statusCode));
    const send = (status: number, headers: http.OutgoingHttpHeaders = {}, body = "") => {
      res.writeHead(status, { "Content-Length": Buffer.byteLength(body), ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
      record.bytes = Buffer.byteLength(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, { Allow: "GET, HEAD" });

    const active = takeFault();
    const token = target.searchParams.get("token");
    if (token !== null || active?.kind === "expiring-url") {
      const expires = token === null ? undefined : tokens[token];
      if (expires === undefined || Date.now() >= expires)
        return send(403, { "Content-Type": "text/plain" }, "Request has expired\n");
    }
    if (active?.kind === "status") {
      const headers: http.OutgoingHttpHeaders = { "Content-Type": "text/plain" };
      if (active.retryAfter !== undefined) headers["Retry-After"] = active.retryAfter;
      return send(active.status, headers, `status ${active.status}\n`);
    }
    const hop = Number(target.searchParams.get("hop") ?? 0);
    if (
      active?.kind === "redirect-loop" ||
      (active?.kind === "redirect" && hop < (active.hops ?? 1))
    ) {
      const next = active.kind === "redirect-loop" ? (hop % 2) + 1 : hop + 1;
      const query = new URLSearchParams(target.searchParams);
      query.set("hop", String(next));
      const absolute = active.kind === "redirect" && active.absolute;
      const location = absolute
        ? `${base}${target.pathname}?${query}`
        : next % 2 === 1
          ? `${path.posix.basename(target.pathname)}?${query}`
          : `${target.pathname}?${query}`;
      const status = active.kind === "redirect" ? (active.status ?? 302) : 302;
      return send(status, { Location: location });
    }

    const file = path.resolve(root, "." + decodeURIComponent(target.pathname));
    const stat = file.startsWith(root + path.sep)
      ? await fsp.stat(file).catch(() => undefined)
      : undefined;
    if (!stat?.isFile()) return send(404, { "Content-Type": "text/plain" }, "not found\n");
    const size = stat.size;
    const headers: http.OutgoingHttpHeaders = {
      "Content-Type": "application/octet-stream",
      "Accept-Ranges": "bytes",
      ETag: `"${Math.floor(stat.mtimeMs).toString(16)}-${size.toString(16)}"`,
      "Last-Modified": stat.mtime.toUTCString(),
    };
    const range = active?.kind === "ignore-range" ? undefined : parseRange(req.headers.range, size);
    if (range === "unsatisfiable")
      return send(416, { ...headers, "Content-Range": `bytes */${size}` });
    const end = range ? range.end : size - 1;
    let start = range ? range.start : 0;
    const status = range ? 206 : 200;
    if (range) {
      let claimed = `bytes ${start}-${end}/${size}`;
      if (active?.kind === "wrong-content-range") {
        if (active.mode === "total") claimed = `bytes ${start}-${end}/${size + 1}`;
        else {
          start = 0;
          claimed = `bytes 0-${end}/${size}`;
        }
      }
      headers["Content-Range"] = claimed;
    }
    if (req.method === "HEAD") {
      res.writeHead(status, { ...headers, "Content-Length": end - start + 1 });
      return res.end();
    }

    if (active?.kind === "huge-headers") {
      // Written raw: the client gives up long before the header ends.
      const socket = res.socket!;
      const filler = "X-Filler: " + "a".repeat(1000) + "\r\n";
      socket.write("HTTP/1.1 200 OK\r\n");
      for (let sent = 0; sent < (active.bytes ?? 5_000_000) && !socket.destroyed;) {
        sent += filler.length;
        if (!socket.write(filler))
          await new Promise((resolve) => {
            socket.once("drain", resolve);
            socket.once("close", resolve);
          });
      }
      socket.destroy();
      return;
    }
    if (range && active?.kind === "gzip-range") {
      const handle = await fsp.open(file);
      const slice = Buffer.alloc(end - start + 1);
      await handle.read(slice, 0, slice.length, start).finally(() => handle.close());
      const body = gzipSync(slice);
      res.writeHead(status, {
        ...headers,
        "Content-Encoding": "gzip",
        "Content-Length": body.length,
      });
      record.bytes = body.length;
      return res.end(body);
    }
    if (active?.kind === "long-body") {
      res.writeHead(status, headers); // no Content-Length: chunked
      await pipeFile(file, start, end, res, record, options.bytesPerSecond);
      res.end(Buffer.alloc(active.extra ?? 1024, 0x5a));
      record.bytes += active.extra ?? 1024;
      return;
    }
    res.writeHead(status, { ...headers, "Content-Length": end - start + 1 });
    if (active?.kind === "short-body" || active?.kind === "stall") {
      const last = Math.min(end, start + active.bytes - 1);
      if (last >= start) await pipeFile(file, start, last, res, record, options.bytesPerSecond);
      if (active.kind === "short-body") res.destroy();
      return; // a stall holds the socket until the client or close() drops it
    }
    if (active?.kind === "trickle") {
      const bytes = await fsp.readFile(file);
      for (let at = start; at <= end && !res.destroyed; at++) {
        res.write(bytes.subarray(at, at + 1));
        record.bytes++;
        await new Promise((resolve) => setTimeout(resolve, active.intervalMs ?? 1000));
      }
      res.end();
      return;
    }
    await pipeFile(file, start, end, res, record, options.bytesPerSecond);
    res.end();
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(500).end(String(error.message));
      else res.destroy();
    });
  };
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : http.createServer(listener);
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;

  return {
    url: base,
    port,
    requests,
    setFault(next) {
      fault = next && { ...next };
    },
    presign(file, ttlMs) {
      const token = randomBytes(12).toString("hex");
      tokens[token] = Date.now() + ttlMs;
      return `${base}/${file.replace(/^\/+/, "")}?token=${token}`;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

/** Writes bytes start..end (inclusive) of the file, honouring the response's backpressure. */
function pipeFile(
  file: string,
  start: number,
  end: number,
  res: http.ServerResponse,
  record: RequestRecord,
  bytesPerSecond?: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    // Throttled: chunks of a tenth of a second's worth, each followed by its share of the second.
    const highWaterMark = bytesPerSecond
      ? Math.max(1024, Math.min(65536, Math.floor(bytesPerSecond / 10)))
      : undefined;
    const stream = createReadStream(file, { start, end, highWaterMark });
    stream.on("data", (chunk) => {
      record.bytes += chunk.length;
      const written = res.write(chunk);
      if (!written || bytesPerSecond) {
        stream.pause();
        const pause = bytesPerSecond ? (chunk.length * 1000) / bytesPerSecond : 0;
        const resume = () => setTimeout(() => stream.resume(), pause);
        if (written) resume();
        else res.once("drain", resume);
      }
    });
    stream.on("end", resolve);
    stream.on("error", reject);
    res.on("close", () => {
      stream.destroy();
      resolve();
    });
  });
}
