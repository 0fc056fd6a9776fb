// The HTTP Range byte source over real loopback HTTP: the embedded firmware server (with its fault
// modes) and Debian's nginx, through the Node HttpClient port, streamed into an in-memory consumer.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { httpSource, type HttpSourceOptions } from "../../src/core/download/http-source";
import type { OtaError } from "../../src/core/errors";
import type { Clock } from "../../src/core/ports";
import type { ByteStream } from "../../src/core/source";
import { createNodeHttpClient } from "../../hosts/node/http";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver";
import { buildAppImage } from "../../tools/image/build";
import { makePki } from "../support/certs";
import { nginxUnavailable, startNginx, type RunningNginx } from "../support/nginx";
import { freePort } from "../support/ports";

const clock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: Math.random,
};

const image = buildAppImage({ version: "2.1.0", size: 256 * 1024 });
const http = createNodeHttpClient();
let dir: string;

function source(url: string, extra: Partial<HttpSourceOptions> = {}) {
  return httpSource({ http, clock, url, expectedSize: image.length, ...extra });
}

/** Reads a stream to its end, as the transfer loop would, keeping the bytes to compare them. */
async function drain(stream: ByteStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read())
    parts.push(chunk.slice());
  return new Uint8Array(Buffer.concat(parts));
}

/** What a transfer gets before the stream fails: the bytes, and the error. */
async function drainUntilError(stream: ByteStream): Promise<{ bytes: number; error: OtaError }> {
  let bytes = 0;
  try {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read())
      bytes += chunk.length;
  } catch (error) {
    return { bytes, error: error as OtaError };
  }
  assert.fail(`the stream ended cleanly after ${bytes} bytes`);
}

function failure(code: string, transient: boolean, message?: RegExp) {
  return (error: unknown) => {
    const e = error as OtaError;
    assert.equal(e.code, code, e.message);
    assert.equal(e.transient, transient, `transient for ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "otaflow-http-"));
  writeFileSync(join(dir, "fw.bin"), image);
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("httpSource against the embedded firmware server", () => {
  let server: FirmwareServer;
  let url: string;
  before(async () => {
    server = await startFirmwareServer({ root: dir });
    url = `${server.url}/fw.bin`;
  });
  after(() => server.close());
  const last = () => server.requests[server.requests.length - 1];
  const fault = (f: Parameters<FirmwareServer["setFault"]>[0]) => server.setFault(f);

  it("streams the whole image with a plain GET that asks for identity encoding", async () => {
    fault(undefined);
    const stream = await source(url, { headers: { Authorization: "Bearer t0k" } }).open(0);
    assert.equal(stream.offset, 0);
    assert.deepEqual(await drain(stream), image);
    assert.equal(last().range, undefined);
    assert.equal(last().status, 200);
    assert.equal(last().headers["accept-encoding"], "identity");
    assert.equal(last().headers.authorization, "Bearer t0k");
  });

  it("resumes from an offset with Range and checks the 206's Content-Range", async () => {
    const stream = await source(url).open(100_000);
    assert.equal(stream.offset, 100_000);
    assert.deepEqual(await drain(stream), image.subarray(100_000));
    assert.equal(last().range, "bytes=100000-");
    assert.equal(last().status, 206);
  });

  it("restarts from zero when the server answers 200 to a Range request", async () => {
    fault({ kind: "ignore-range" });
    const stream = await source(url).open(100_000);
    assert.equal(stream.offset, 0);
    assert.deepEqual(await drain(stream), image);
    assert.equal(last().range, "bytes=100000-");
    assert.equal(last().status, 200);
  });

  it("refuses a Content-Range that does not start at the offset or has another total", async () => {
    fault({ kind: "wrong-content-range", mode: "start" });
    await assert.rejects(
      source(url).open(4096),
      failure("content-range", false, /starts at 0, not at 4096/),
    );
    fault({ kind: "wrong-content-range", mode: "total" });
    await assert.rejects(
      source(url).open(4096),
      failure("content-range", false, new RegExp(`total ${image.length + 1}, the offer says`)),
    );
  });

  it("refuses a body the server compresses", async () => {
    fault({ kind: "gzip-range" });
    await assert.rejects(
      source(url).open(4096),
      failure("http-status", false, /Content-Encoding gzip/),
    );
  });

  it("reports a body cut short as transient, and the transfer resumes where it stopped", async () => {
    fault({ kind: "short-body", bytes: 70_000, times: 1 });
    const first = await source(url).open(0);
    const cut = await drainUntilError(first);
    assert.equal(cut.bytes, 70_000);
    assert.ok(failure("body-short", true, /after byte 70000 of 262144/)(cut.error));
    const rest = await source(url).open(cut.bytes);
    assert.deepEqual(await drain(rest), image.subarray(70_000));
  });

  it("refuses a body longer than the image", async () => {
    fault({ kind: "long-body", extra: 100 });
    const stream = await source(url).open(0);
    const { bytes, error } = await drainUntilError(stream);
    assert.ok(bytes <= image.length, "nothing past the image is delivered");
    assert.ok(failure("body-long", false, /goes past the 262144 bytes/)(error));
  });

  it("refuses a Content-Length that disagrees with the offer's size", async () => {
    fault(undefined);
    await assert.rejects(
      source(url, { expectedSize: image.length + 16 }).open(0),
      failure("body-short", false, /announces 262144 bytes/),
    );
    await assert.rejects(
      source(url, { expectedSize: image.length - 16 }).open(0),
      failure("body-long", false, /announces 262144 bytes/),
    );
  });

  it("follows redirects with relative and absolute Locations", async () => {
    for (const status of [301, 302, 303, 307, 308] as const) {
      fault({ kind: "redirect", hops: 3, status });
      const before = server.requests.length;
      const stream = await source(url).open(5000);
      assert.deepEqual(await drain(stream), image.subarray(5000));
      const chain = server.requests.slice(before);
      assert.deepEqual(
        chain.map((r) => [r.path, r.status]),
        [
          ["/fw.bin", status],
          ["/fw.bin?hop=1", status],
          ["/fw.bin?hop=2", status],
          ["/fw.bin?hop=3", 206],
        ],
      );
      assert.ok(chain.every((r) => r.range === "bytes=5000-"));
    }
    fault({ kind: "redirect", absolute: true });
    assert.deepEqual(await drain(await source(url).open(0)), image);
  });

  it("gives up after maxRedirects", async () => {
    fault({ kind: "redirect", hops: 3 });
    await assert.rejects(
      source(url, { maxRedirects: 2 }).open(0),
      failure("redirect-loop", false, /more than 2 redirects/),
    );
  });

  it("detects a redirect loop", async () => {
    fault({ kind: "redirect-loop" });
    await assert.rejects(
      source(url).open(0),
      // The hops differ only in their query strings, which messages never show (presigned URLs).
      failure(
        "redirect-loop",
        false,
        /loop: (http:\/\/[^ ]*\/fw\.bin(\?\.\.\.)? -> ){3}[^ ]*\?\.\.\.$/,
      ),
    );
  });

  it("times out a stalled body", async () => {
    fault({ kind: "stall", bytes: 10_000 });
    const stream = await source(url, { readTimeoutMs: 300 }).open(0);
    const { bytes, error } = await drainUntilError(stream);
    assert.equal(bytes, 10_000);
    assert.ok(failure("timeout", true, /no data .* after byte 10000 for 300 ms/)(error));
  });

  it("maps the statuses to fatal and transient failures", async () => {
    const cases: [number, string, boolean][] = [
      [403, "url-expired", false],
      [404, "not-found", false],
      [410, "not-found", false],
      [400, "http-status", false],
      [401, "http-status", false],
      [429, "http-status", true],
      [500, "http-status", true],
      [503, "http-status", true],
    ];
    for (const [status, code, transient] of cases) {
      fault({ kind: "status", status });
      await assert.rejects(
        source(url).open(0),
        failure(code, transient, new RegExp(`HTTP ${status}`)),
      );
    }
    fault(undefined);
    await assert.rejects(
      source(`${server.url}/missing.bin`).open(0),
      failure("not-found", false, /HTTP 404/),
    );
    await assert.rejects(
      source(url).open(image.length),
      failure("content-range", false, /HTTP 416/),
    );
  });

  it("carries the server's Retry-After in seconds or as a date", async () => {
    fault({ kind: "status", status: 500, retryAfter: "7" });
    await assert.rejects(source(url).open(0), (error: OtaError & { retryAfterMs?: number }) => {
      assert.equal(error.retryAfterMs, 7000);
      return true;
    });
    fault({
      kind: "status",
      status: 503,
      retryAfter: new Date(Date.now() + 120_000).toUTCString(),
    });
    await assert.rejects(source(url).open(0), (error: OtaError & { retryAfterMs?: number }) => {
      assert.ok(
        error.retryAfterMs! > 118_000 && error.retryAfterMs! <= 121_000,
        `${error.retryAfterMs}`,
      );
      return true;
    });
    fault({ kind: "status", status: 503 });
    await assert.rejects(source(url).open(0), (error: OtaError & { retryAfterMs?: number }) => {
      assert.equal(error.retryAfterMs, undefined);
      return true;
    });
  });

  it("reports an expired presigned URL as url-expired", async () => {
    fault({ kind: "expiring-url" });
    const signed = server.presign("fw.bin", 300);
    assert.deepEqual(await drain(await source(signed).open(0)), image);
    await assert.rejects(source(url).open(0), failure("url-expired", false));
    await new Promise((resolve) => setTimeout(resolve, 400));
    await assert.rejects(source(signed).open(0), failure("url-expired", false, /HTTP 403/));
    fault(undefined);
  });

  it("pulls the body: an unread response is not buffered whole, and close() drops it", async () => {
    const big = new Uint8Array(48 * 1024 * 1024);
    writeFileSync(join(dir, "big.bin"), big);
    const stream = await source(`${server.url}/big.bin`, { expectedSize: big.length }).open(0);
    const first = await stream.read();
    assert.ok(first && first.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const record = last();
    assert.ok(record.bytes < 24 * 1024 * 1024, `server could only send ${record.bytes} bytes`);
    stream.close();
    assert.equal(await stream.read(), null);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(record.bytes < big.length);
  });
});

describe("httpSource transport failures", () => {
  it("reports a refused connection as a transient network failure", async () => {
    const port = await freePort();
    await assert.rejects(
      source(`http://127.0.0.1:${port}/fw.bin`).open(0),
      failure("network", true, /ECONNREFUSED/),
    );
  });

  it("times out a server that never answers", async () => {
    const connections: net.Socket[] = [];
    const silent = net.createServer((socket) => void connections.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
    const { port } = silent.address() as net.AddressInfo;
    try {
      await assert.rejects(
        source(`http://127.0.0.1:${port}/fw.bin`, { readTimeoutMs: 200 }).open(0),
        failure("timeout", true, /no response from .* for 200 ms/),
      );
    } finally {
      // The port cannot cancel a pending GET: the server hangs up, as one eventually would.
      for (const socket of connections) socket.destroy();
      silent.close();
    }
  });

  it("downloads over TLS from a server the CA vouches for, and refuses one it does not", async () => {
    const pki = makePki();
    const server = await startFirmwareServer({
      root: dir,
      tls: { cert: pki.serverCert, key: pki.serverKey },
    });
    try {
      const url = `${server.url}/fw.bin`;
      assert.match(url, /^https:/);
      const trusted = createNodeHttpClient({ ca: pki.ca });
      const stream = await httpSource({
        http: trusted,
        clock,
        url,
        expectedSize: image.length,
      }).open(1000);
      assert.deepEqual(await drain(stream), image.subarray(1000));
      await assert.rejects(source(url).open(0), failure("network", true, /certificate/));
    } finally {
      await server.close();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe("httpSource against nginx", { skip: nginxUnavailable() }, () => {
  let nginx: RunningNginx;
  before(async () => {
    nginx = await startNginx(dir);
  });
  after(() => nginx.stop());

  it("streams the whole image", async () => {
    const stream = await source(`${nginx.url}/fw.bin`).open(0);
    assert.equal(stream.offset, 0);
    assert.deepEqual(await drain(stream), image);
  });

  it("resumes from an offset with a 206 and a matching Content-Range", async () => {
    const stream = await source(`${nginx.url}/fw.bin`).open(123_456);
    assert.equal(stream.offset, 123_456);
    assert.deepEqual(await drain(stream), image.subarray(123_456));
  });

  it("refuses a total other than the offer's", async () => {
    await assert.rejects(
      source(`${nginx.url}/fw.bin`, { expectedSize: image.length + 4 }).open(10),
      failure("content-range", false, /total 262144/),
    );
  });

  it("reports a range past the end (416) and a missing file (404)", async () => {
    await assert.rejects(
      source(`${nginx.url}/fw.bin`).open(image.length),
      failure("content-range", false, /HTTP 416/),
    );
    await assert.rejects(source(`${nginx.url}/nope.bin`).open(0), failure("not-found", false));
  });
});
