// The board code's parsers, rewritten without RegExp (Moddable's preload freezes RegExps,
// Espruino's engine cannot run most of them), give what the regex versions gave
// (test/core/regexp-oracles.ts) on generated and adversarial strings.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { readHex, readSize, urlProblem } from "../../src/backends/offer-fields";
import { parseBroker } from "../../src/config";
import { parseContentRange, parseRetryAfter } from "../../src/core/download/http-source";
import { resolveUrl, shownUrl } from "../../src/core/download/url";
import { matchDigest } from "../../src/core/hash/index";
import { isHostPattern, urlOrigin } from "../../src/core/policy";
import { compareVersions } from "../../src/core/version";
import * as oracle from "./regexp-oracles";
import { RUNS, prefixed, textOf } from "../support/texts";

/** The outcome of `f`: its value, or the fact that it threw. */
function outcome<T>(f: () => T): T | "threw" {
  try {
    return f();
  } catch {
    return "threw";
  }
}

const URL_PREFIXES = ["http://", "https://", "HTTPS://", "hTTp://", "ftp://", "http:/"];

describe("policy: urlOrigin and isHostPattern", () => {
  const authority = "ab_.-09:@[]/?#\\% fFx";
  it("urlOrigin", () => {
    fc.assert(
      fc.property(prefixed(URL_PREFIXES, authority), (url) => {
        assert.deepEqual(urlOrigin(url), oracle.urlOrigin(url));
      }),
      RUNS,
    );
  });

  it("urlOrigin on IPv4 and IPv6 hosts", () => {
    const octet = fc.constantFrom("0", "00", "1", "09", "99", "199", "249", "255", "256", "1000");
    const v4 = fc.array(octet, { minLength: 3, maxLength: 5 }).map((a) => a.join("."));
    const group = fc.constantFrom("", "0", "1", "ffff", "FFFF", "12345", "g", "db8");
    const v6 = fc
      .tuple(fc.array(group, { maxLength: 9 }), fc.option(v4))
      .map(([g, tail]) => g.join(":") + (tail === null ? "" : ":" + tail));
    const host = fc.oneof(
      v4,
      v6.map((h) => "[" + h + "]"),
      v4.map((h) => h + "."),
      fc.constantFrom("example.com", "user:pw@h.example", "a b@h", "h_1.-x", "0x7f.1", "a..b"),
    );
    const url = fc
      .tuple(
        fc.constantFrom("http://", "https://"),
        host,
        fc.constantFrom(
          "",
          ":80",
          "/x",
          ":1/",
          ":",
          ":12345",
          ":123456",
          ":12345/?q",
          ":80x",
          "#f g",
          "/a\\b",
          "?@",
        ),
      )
      .map(([s, h, rest]) => s + h + rest);
    fc.assert(
      fc.property(url, (u) => {
        assert.deepEqual(urlOrigin(u), oracle.urlOrigin(u));
      }),
      RUNS,
    );
  });

  it("isHostPattern", () => {
    fc.assert(
      fc.property(prefixed(["*.", "[", "::"], "aZ09_-.:*\n0x"), (pattern) => {
        assert.equal(isHostPattern(pattern), oracle.isHostPattern(pattern));
      }),
      RUNS,
    );
  });
});

describe("download: url.ts and http-source.ts", () => {
  const urlish = "aZ09+.-:/?#@. ";
  it("resolveUrl and shownUrl", () => {
    fc.assert(
      fc.property(textOf(urlish), textOf(urlish), (base, reference) => {
        assert.equal(resolveUrl(base, reference), oracle.resolveUrl(base, reference));
        assert.equal(shownUrl(base), oracle.shownUrl(base));
      }),
      RUNS,
    );
  });

  it("parseRetryAfter: delta seconds and HTTP dates", () => {
    const date = fc
      .tuple(
        fc.constantFrom("Sun", "Mon", "S_n", "Su"),
        fc.constantFrom("06", "6", "31"),
        fc.constantFrom("Nov", "Jan", "Dec", "Foo", "anF", "nov"),
        fc.constantFrom("1994", "2026", "99"),
        fc.constantFrom("08:49:37", "23:59:60", "8:49:37"),
        fc.constantFrom(" GMT", " UTC", " GMT ", "GMT"),
        fc.constantFrom("", " ", "\u00a0"),
      )
      .map(([d, n, m, y, t, z, pad]) => pad + d + ", " + n + " " + m + " " + y + " " + t + z);
    const value = fc.oneof(date, textOf(" 0123456789\t\u3000"));
    fc.assert(
      fc.property(value, date, (retry, now) => {
        const headers = { "retry-after": retry, date: now };
        assert.deepEqual(parseRetryAfter(headers), oracle.parseRetryAfter(headers));
      }),
      RUNS,
    );
  });

  it("parseContentRange", () => {
    fc.assert(
      fc.property(prefixed([" bytes ", "bytes\t", "BYTES ", "bytes"], "0123-/ \u2028x"), (v) => {
        assert.deepEqual(parseContentRange(v), oracle.parseContentRange(v));
      }),
      RUNS,
    );
    assert.deepEqual(parseContentRange("bytes 0-99/100"), [0, 99, 100]);
  });
});

describe("version.ts", () => {
  it("compareVersions", () => {
    const version = prefixed(["v", "V", " 1", "1.2.3"], "0129.-+aZ ");
    fc.assert(
      fc.property(version, version, (a, b) => {
        assert.equal(compareVersions(a, b), oracle.compareVersions(a, b));
      }),
      RUNS,
    );
  });
});

describe("offer fields and the configuration", () => {
  it("readSize, readHex and urlProblem", () => {
    fc.assert(
      fc.property(
        prefixed(URL_PREFIXES, "0123456789aF /?#\n\u2028"),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 12 }),
        (text, min, max) => {
          assert.equal(readSize(text, true), oracle.readSize(text, true));
          assert.equal(readHex(text, min, max), oracle.readHex(text, min, max));
          assert.equal(urlProblem(text), oracle.urlProblem(text));
        },
      ),
      RUNS,
    );
  });

  it("parseBroker", () => {
    fc.assert(
      fc.property(prefixed(["mqtt://", "mqtts://", "mqtt:/"], "ab.:/0189 \t"), (url) => {
        const got = outcome(() => parseBroker(url));
        assert.deepEqual(
          got,
          outcome(() => oracle.parseBroker(url)),
        );
      }),
      RUNS,
    );
  });
});

describe("hash: a CRC written without its leading zeros", () => {
  it("matches as hex.replace(/^0+(?=.)/, '') did", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(8), (digest, cut) => {
        for (let i = 0; i < Math.min(cut, 4); i++) digest[i] = 0;
        const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
        const short = hex.replace(/^0+(?=.)/, "");
        const result = matchDigest("crc32", digest, short);
        assert.equal(result.match, true);
        if (short !== hex) assert.equal(result.notation, "hex without leading zeros");
      }),
      RUNS,
    );
  });
});
