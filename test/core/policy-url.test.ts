// Which image URLs the policy lets the device fetch: https:// only unless plaintext is allowed, and
// only the hosts of the allow-list when there is one. The host judged must be the host connected
// to, so the policy's reading of a URL is checked against Node's WHATWG parser; redirects are held
// to the same rules over real HTTP and HTTPS servers on loopback.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { httpSource } from "../../src/core/download/http-source";
import type { OtaError } from "../../src/core/errors";
import type { Offer } from "../../src/core/offer";
import { decide, isHostPattern, urlOrigin, type PolicyConfig } from "../../src/core/policy";
import type { Clock, RunningImage, SlotWriter } from "../../src/core/ports";
import type { ByteStream } from "../../src/core/source";
import { createNodeHttpClient } from "../../hosts/node/http";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver/index";
import { buildAppImage } from "../../tools/image/build";
import { makePki, type Pki } from "../support/certs";

const running: RunningImage = {
  slot: "ota_0",
  version: "1.0.0",
  project: "p",
  secureVersion: 0,
  state: "valid",
};
const slot = { name: "ota_1", size: 1_000_000, sectorSize: 4096 } as SlotWriter;
const SECRET = "X-Amz-Signature=0123456789abcdef";

function offerAt(url: string): Offer {
  return {
    backend: "aws",
    id: "job-1",
    version: "1.1.0",
    size: 1000,
    source: { kind: "http", url },
    hashes: {},
    context: {},
  };
}

function verdict(url: string, config: Partial<PolicyConfig> = {}): string {
  const decision = decide(offerAt(url), running, slot, { allowDowngrade: false, ...config });
  if (decision.kind !== "refuse") return decision.kind;
  // A refusal never quotes the path or the query: a presigned URL's query is a credential.
  assert.ok(!decision.error.message.includes(SECRET), decision.error.message);
  assert.ok(!decision.error.message.includes("/fw.bin"), decision.error.message);
  return `${decision.error.code}: ${decision.error.message}`;
}

describe("the image URL's scheme", () => {
  it("refuses http:// unless allowPlaintext, naming the rule, the scheme and the host", () => {
    const url = `http://fw.example.com:8080/fw.bin?${SECRET}`;
    assert.equal(
      verdict(url),
      "offer-untrusted: the image URL http://fw.example.com:8080 is plain http://, refused because allowPlaintext is off: serve the image over https:// (or allow plaintext for development)",
    );
    assert.equal(verdict(url, { allowPlaintext: false }), verdict(url));
    assert.equal(verdict(url, { allowPlaintext: true }), "accept");
    assert.equal(verdict(`https://fw.example.com/fw.bin?${SECRET}`), "accept");
    // Schemes are case-insensitive: HTTP:// is plain HTTP.
    assert.match(
      verdict("HTTP://fw.example.com/fw.bin"),
      /^offer-untrusted: .* http:\/\/fw\.example\.com is plain/,
    );
  });

  it("calls anything but http:// and https:// malformed", () => {
    for (const url of ["ftp://fw.example.com/fw.bin", "file:///fw.bin", "//fw.example.com/fw.bin"])
      assert.equal(
        verdict(url, { allowPlaintext: true }),
        "offer-malformed: the image URL must be http:// or https://",
      );
  });
});

describe("the allow-list of hosts", () => {
  const cases: [string[], string, boolean][] = [
    [["fw.example.com"], "https://fw.example.com/fw.bin", true],
    [["fw.example.com"], "https://FW.Example.COM./fw.bin", true],
    [["FW.EXAMPLE.COM"], "https://fw.example.com:8443/fw.bin", true],
    [["fw.example.com"], "https://evil.example.net@fw.example.com/fw.bin", true],
    [["fw.example.com"], "https://fw.example.com@evil.example.net/fw.bin", false],
    [["fw.example.com"], "https://fw.example.com.evil.example.net/fw.bin", false],
    [["fw.example.com"], "https://evilfw.example.com/fw.bin", false],
    [["fw.example.com"], "https://cdn.fw.example.com/fw.bin", false],
    [["*.example.com"], "https://cdn.example.com/fw.bin", true],
    [["*.example.com"], "https://a.b.example.com/fw.bin", true],
    [["*.example.com"], "https://example.com/fw.bin", false],
    [["*.example.com"], "https://badexample.com/fw.bin", false],
    [["*.example.com"], "https://cdn.example.com.evil.example.net/fw.bin", false],
    [["10.0.0.7"], "https://10.0.0.7:8443/fw.bin", true],
    [["10.0.0.7"], "https://10.0.0.70/fw.bin", false],
    [["::1"], "https://[::1]:8443/fw.bin", true],
    [["[::1]"], "https://[::1]/fw.bin", true],
    [["[::1]"], "https://[::2]/fw.bin", false],
    [["fw.example.com", "*.cdn.example.net"], "https://eu.cdn.example.net/fw.bin", true],
    [[], "https://anywhere.example.org/fw.bin", true],
  ];
  for (const [hosts, url, allowed] of cases) {
    it(`${JSON.stringify(hosts)} ${allowed ? "allows" : "refuses"} ${url}`, () => {
      const seen = verdict(`${url}?${SECRET}`, { allowedHosts: hosts });
      if (allowed) return assert.equal(seen, "accept");
      const origin = urlOrigin(url)!;
      assert.equal(
        seen,
        `offer-untrusted: the image URL ${origin.origin} names host "${origin.host}", which allowedHosts does not list (${hosts.join(", ")})`,
      );
      // What is refused is the host Node would have connected to.
      assert.equal(origin.host, new URL(url).hostname.replace(/\.$/, ""));
    });
  }

  it("refuses as malformed an authority that URL parsers read differently", () => {
    // WHATWG reads the first as host fw.example.com (a backslash ends the authority); a naive
    // split at "@" would judge evil.example.net. Percent-encoded hosts are decoded by some only.
    for (const url of [
      "https://fw.example.com\\@evil.example.net/fw.bin",
      "https://fw.ex%61mple.com/fw.bin",
      "https://a@b@fw.example.com/fw.bin",
      "https://fw.example.com /fw.bin",
      "https:///fw.bin",
    ])
      assert.equal(
        verdict(url, { allowedHosts: ["fw.example.com"] }),
        "offer-malformed: the image URL must be http:// or https://",
        url,
      );
  });

  it("reads the same scheme and host as Node's URL parser for any URL it accepts", () => {
    const piece = fc.constantFrom(
      "fw",
      "example",
      "com",
      ".",
      "@",
      ":",
      "443",
      "\\",
      "/",
      "?",
      "#",
      "%2e",
      "[::1]",
      "127.0.0.1",
      "user:pw",
      "EXAMPLE",
      "-",
      "_",
      " ",
      "0x7f",
      "010",
      "1",
      "0",
      "[",
      "]",
      "::",
      "ffff",
      "0:0",
      "1.2.3.4",
    );
    fc.assert(
      fc.property(
        fc.constantFrom("http://", "https://", "HTTPS://"),
        fc.array(piece, { maxLength: 10 }),
        (scheme, parts) => {
          const url = scheme + parts.join("");
          const origin = urlOrigin(url);
          if (!origin) return;
          const parsed = new URL(url);
          assert.equal(parsed.protocol, origin.scheme + ":");
          assert.equal(parsed.hostname.replace(/\.$/, ""), origin.host);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("reads IPv6 literals as Node does: the same ones valid, in the same canonical form", () => {
    const group = fc.constantFrom("0", "1", "ffff", "00ab", "A", "0000", "12345", "g");
    fc.assert(
      fc.property(
        fc.array(group, { maxLength: 9 }),
        fc.integer({ min: -1, max: 9 }),
        fc.boolean(),
        (groups, at, v4) => {
          let text = groups.join(":");
          if (at >= 0 && at <= groups.length)
            text = groups.slice(0, at).join(":") + "::" + groups.slice(at).join(":");
          if (v4) text += (text.endsWith(":") ? "" : ":") + "10.0.0.7";
          const url = `https://[${text}]/fw.bin`;
          let node: string | undefined;
          try {
            node = new URL(url).hostname;
          } catch {
            node = undefined;
          }
          assert.equal(urlOrigin(url)?.host, node, url);
        },
      ),
      { numRuns: 5000 },
    );
    // A pattern is read the same way: "::1" names the host of https://[0:0::1]/.
    assert.equal(verdict("https://[0:0::1]/fw.bin", { allowedHosts: ["0::0:1"] }), "accept");
  });

  it("takes host names, subdomain patterns and IP addresses as patterns, nothing else", () => {
    for (const good of ["fw.example.com", "*.example.com", "localhost", "10.0.0.7", "::1", "[::1]"])
      assert.ok(isHostPattern(good), good);
    for (const bad of [
      "https://fw.example.com",
      "fw.example.com:443",
      "*",
      "fw*.example.com",
      "",
      "127.1",
      "1::2::3",
    ])
      assert.ok(!isHostPattern(bad), bad);
  });
});

const clock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: Math.random,
};
const image = buildAppImage({ version: "1.1.0", size: 64 * 1024 });

async function drain(stream: ByteStream): Promise<number> {
  let bytes = 0;
  for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read())
    bytes += chunk.length;
  return bytes;
}

function untrusted(message: RegExp) {
  return (error: unknown) => {
    const e = error as OtaError;
    assert.equal(e.code, "offer-untrusted");
    assert.equal(e.transient, false);
    assert.match(e.message, message);
    assert.ok(!e.message.includes(SECRET), e.message);
    return true;
  };
}

describe("redirects are held to the same rules", () => {
  let pki: Pki;
  let dir: string;
  let plain: FirmwareServer;
  let secure: FirmwareServer;
  let redirector: https.Server;
  let redirectTo = "";

  before(async () => {
    pki = makePki();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-redirect-"));
    fs.writeFileSync(path.join(dir, "fw.bin"), image);
    plain = await startFirmwareServer({ root: dir });
    secure = await startFirmwareServer({
      root: dir,
      tls: { cert: pki.serverCert, key: pki.serverKey },
    });
    // A CDN's front door: every request is sent on to `redirectTo`.
    redirector = https.createServer({ cert: pki.serverCert, key: pki.serverKey }, (_req, res) => {
      res.writeHead(302, { location: redirectTo });
      res.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    await plain.close();
    await secure.close();
    await new Promise((resolve) => redirector.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  const start = () =>
    `https://127.0.0.1:${(redirector.address() as AddressInfo).port}/fw.bin?${SECRET}`;
  const open = (trust?: PolicyConfig) =>
    httpSource({
      http: createNodeHttpClient({ ca: pki.ca }),
      clock,
      url: start(),
      expectedSize: image.length,
      trust,
    }).open(0);

  it("refuses a redirect from https:// to http://, by default too, before asking the plain server", async () => {
    redirectTo = `${plain.url}/fw.bin?${SECRET}`;
    const before = plain.requests.length;
    const expected = untrusted(
      new RegExp(
        `^the redirect from https://127\\.0\\.0\\.1:\\d+ to ${plain.url.replace(/\./g, "\\.")} is plain http://, refused because allowPlaintext is off`,
      ),
    );
    await assert.rejects(open(), expected);
    await assert.rejects(open({ allowDowngrade: false, allowPlaintext: false }), expected);
    assert.equal(plain.requests.length, before);
    // Allowed explicitly, the same redirect is followed.
    assert.equal(
      await drain(await open({ allowDowngrade: false, allowPlaintext: true })),
      image.length,
    );
    assert.equal(plain.requests.length, before + 1);
  });

  it("refuses a redirect to a host the allow-list does not name", async () => {
    const port = new URL(secure.url).port;
    redirectTo = `https://localhost:${port}/fw.bin?${SECRET}`;
    const before = secure.requests.length;
    await assert.rejects(
      open({ allowDowngrade: false, allowedHosts: ["127.0.0.1"] }),
      untrusted(
        / to https:\/\/localhost:\d+ names host "localhost", which allowedHosts does not list \(127\.0\.0\.1\)$/,
      ),
    );
    assert.equal(secure.requests.length, before);
    assert.equal(
      await drain(await open({ allowDowngrade: false, allowedHosts: ["127.0.0.1", "localhost"] })),
      image.length,
    );
  });

  it("refuses a redirect out of http(s) altogether", async () => {
    redirectTo = "file:///etc/passwd";
    await assert.rejects(
      open(),
      untrusted(/^the redirect from https:\/\/127\.0\.0\.1:\d+ to a file: URL is refused/),
    );
  });

  it("follows redirects between plain servers when plaintext is allowed", async () => {
    plain.setFault({ kind: "redirect", hops: 2 });
    try {
      const source = httpSource({
        http: createNodeHttpClient(),
        clock,
        url: `${plain.url}/fw.bin`,
        expectedSize: image.length,
        trust: { allowPlaintext: true, allowedHosts: ["127.0.0.1"] },
      });
      assert.equal(await drain(await source.open(0)), image.length);
    } finally {
      plain.setFault(undefined);
    }
  });
});
