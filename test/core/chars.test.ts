// The RegExp-free character tests and scanners of src/core/util/chars.ts, url-parts.ts and text.ts
// held against the regular expressions they replace (the oracles, which may live only in tests):
// every code unit for the character classes, generated and adversarial strings for the rest.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import * as chars from "../../src/core/util/chars";
import { brokerParts, httpTarget } from "../../src/core/util/url-parts";
import { cleanText, hasUnsafeCharacters, quoted } from "../../src/core/util/text";
import { isJobId, isThingName } from "../../src/backends/aws/topics";
import { RUNS, allCodeUnits, prefixed, textOf } from "../support/texts";

const ALNUM = "abcxyzABCXYZ0189";

describe("character classes, for every UTF-16 code unit", () => {
  const classes: [string, (code: number) => boolean, RegExp][] = [
    ["isDigit", chars.isDigit, /^\d$/],
    ["isLetter", chars.isLetter, /^[a-zA-Z]$/],
    ["isAlphanumeric", chars.isAlphanumeric, /^[a-zA-Z0-9]$/],
    ["isHexDigit", chars.isHexDigit, /^[0-9a-fA-F]$/],
    ["isLowerHexDigit", chars.isLowerHexDigit, /^[0-9a-f]$/],
    ["isWordChar", chars.isWordChar, /^\w$/],
    ["isPrintableAscii", chars.isPrintableAscii, /^[\x21-\x7e]$/],
    ["isBase64Digit", chars.isBase64Digit, /^[A-Za-z0-9+/]$/],
    ["isSpace", chars.isSpace, /^\s$/],
  ];
  for (const [name, test, pattern] of classes)
    it(name, () => {
      for (const code of allCodeUnits())
        assert.equal(test(code), pattern.test(String.fromCharCode(code)), `${name}(${code})`);
    });

  it("isLineTerminator is what `.` does not match", () => {
    for (const code of allCodeUnits())
      assert.equal(chars.isLineTerminator(code), !/./.test(String.fromCharCode(code)));
  });
});

describe("validators match their regular expressions", () => {
  const cases: [string, (text: string) => boolean, RegExp, string][] = [
    ["thing name", isThingName, /^[a-zA-Z0-9:_-]{1,128}$/, ALNUM + ":_-"],
    ["job id", isJobId, /^[a-zA-Z0-9_-]{1,64}$/, ALNUM + "_-:"],
    [
      "Tencent device name",
      (t) => chars.isAlphanumericText(t, 1, 48, ":_@.-"),
      /^[a-zA-Z0-9:_@.-]{1,48}$/,
      ALNUM + ":_@.-/",
    ],
    [
      "Tencent product id",
      (t) => chars.isAlphanumericText(t, 1, 32),
      /^[A-Za-z0-9]{1,32}$/,
      ALNUM + "-",
    ],
    [
      "AWS location host",
      (t) => chars.isAlphanumericText(t, 1, t.length, ".:[]-"),
      /^[a-zA-Z0-9.:[\]-]+$/,
      ALNUM + ".:[]-/\\",
    ],
    [
      "client id prefix",
      (t) => chars.isAlphanumericText(t, 0, 17, ":_-"),
      /^[a-zA-Z0-9:_-]{0,17}$/,
      ALNUM + ":_-",
    ],
    [
      "access token",
      (t) => chars.allCharsIn(t, 1, 256, chars.isPrintableAscii),
      /^[\x21-\x7e]{1,256}$/,
      ALNUM + "!~ ",
    ],
    ["title", (t) => chars.allCharsIn(t, 1, 31, (c) => c !== 0), /^[^\0]{1,31}$/, ALNUM + "\0 "],
    ["printable text", chars.isPrintableAsciiText, /^[\x21-\x7e]+$/, ALNUM + "!~ \u007f"],
    [
      "hex text",
      (t) => chars.isHexText(t, 0, t.length),
      /^[0-9a-fA-F]*$/,
      "0123456789abcdefABCDEFg",
    ],
    ["md5 hex", (t) => chars.isHexText(t, 32, 32), /^[0-9a-fA-F]{32}$/, "0123456789abcdefABCDEF"],
    ["size digits", (t) => chars.isDigitText(t, 1, 10), /^[0-9]{1,10}$/, "0123456789"],
    ["base64", chars.isBase64Text, /^[A-Za-z0-9+/]+={0,2}$/, ALNUM + "+/="],
    [
      "padded base64",
      chars.isPaddedBase64,
      /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
      "aB+/===",
    ],
    ["a non-empty name", (t) => t.length > 0 && !chars.isSpace(t.charCodeAt(0)), /^\S/, "a \t"],
  ];
  for (const [name, valid, pattern, alphabet] of cases)
    it(name, () => {
      fc.assert(
        fc.property(textOf(alphabet, 140), (text) => valid(text) === pattern.test(text)),
        RUNS,
      );
    });

  it("generated cases reach both sides", () => {
    const samples = fc.sample(textOf(ALNUM + ":_-"), { numRuns: 500, seed: 1 });
    const accepted = samples.filter(isThingName).length;
    assert.ok(accepted > 50 && accepted < 450, `${accepted} of 500 accepted`);
  });

  it("schemeLength", () => {
    fc.assert(
      fc.property(textOf("aZ09+.-:/", 12), (text) => {
        const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(text);
        return chars.schemeLength(text) === (m ? m[0].length : 0);
      }),
      RUNS,
    );
  });

  it("startsWithIgnoringCase folds ASCII letters only, as /i without u does", () => {
    fc.assert(
      fc.property(textOf("hHtTpPsS:/\u212a\u017f", 10), (text) => {
        return chars.startsWithIgnoringCase(text, "https") === /^https/i.test(text);
      }),
      RUNS,
    );
  });
});

describe("scanners match the string methods they replace", () => {
  const spaces = " \t\n\u00a0\u2028\ufeffa:,";
  it("trim", () => {
    fc.assert(
      fc.property(textOf(spaces), (t) => chars.trim(t) === t.replace(/^\s+|\s+$/g, "")),
      RUNS,
    );
  });
  it("removeChars", () => {
    fc.assert(
      fc.property(textOf(spaces), (t) => {
        const spaceOrColon = (c: number) => c === 58 || chars.isSpace(c);
        return (
          chars.removeChars(t, chars.isSpace) === t.replace(/\s+/g, "") &&
          chars.removeChars(t, spaceOrColon) === t.replace(/[\s:]+/g, "")
        );
      }),
      RUNS,
    );
  });
  it("splitWords", () => {
    fc.assert(
      fc.property(textOf(spaces), (t) => {
        const words = chars.splitWords(t, (c) => c === 44 || chars.isSpace(c));
        assert.deepEqual(
          words,
          t.split(/[\s,]+/).filter((w) => w !== ""),
        );
      }),
      RUNS,
    );
  });
  it("charsBetween", () => {
    fc.assert(
      fc.property(textOf("ab\u2028\u00e9"), fc.nat(50), fc.nat(50), (t, a, b) => {
        const start = Math.min(a, b, t.length);
        const end = Math.min(Math.max(a, b), t.length);
        return chars.charsBetween(t, start, end) === t.substring(start, end);
      }),
      RUNS,
    );
  });
  it("withoutTrailing, withoutPrefix and indexOfAny", () => {
    fc.assert(
      fc.property(textOf("=a?#k: y"), (t) => {
        assert.equal(chars.withoutTrailing(t, "="), t.replace(/=+$/, ""));
        assert.equal(chars.withoutPrefix(t, "key: "), t.replace(/^key: /, ""));
        assert.equal(chars.indexOfAny(t, "?#"), t.search(/[?#]/));
      }),
      RUNS,
    );
  });
});

describe("URL splitting", () => {
  it("brokerParts reads what /^(mqtts?):\\/\\/([^/:]+)(?::(\\d+))?\\/?$/ reads", () => {
    fc.assert(
      fc.property(prefixed(["mqtt://", "mqtts://", "MQTT://"], "ab.:/09 "), (url) => {
        const m = /^(mqtts?):\/\/([^/:]+)(?::(\d+))?\/?$/.exec(url);
        const parts = brokerParts(url);
        assert.deepEqual(
          parts,
          m ? { secure: m[1] === "mqtts", host: m[2], port: m[3] || "" } : undefined,
        );
      }),
      RUNS,
    );
  });

  const TARGET_ALPHABET = "ab.:/?#[]09 @";
  const PREFIXES = ["http://", "https://", "HTTP://", "hTtPs://", "ftp://"];
  it("httpTarget reads what the esp32 client's /^(https?):\\/\\/.../i read", () => {
    fc.assert(
      fc.property(prefixed(PREFIXES, TARGET_ALPHABET), (url) => {
        const m = /^(https?):\/\/([^/?#:]+|\[[^\]]+\])(?::(\d+))?([^#]*)/i.exec(url);
        const t = httpTarget(url);
        assert.deepEqual(
          t,
          m ? { scheme: m[1], host: m[2], port: m[3] || "", path: m[4] || "" } : undefined,
        );
      }),
      RUNS,
    );
  });
  it("httpTarget with a lower-case scheme reads what the Espruino client's regex read", () => {
    fc.assert(
      fc.property(prefixed(PREFIXES, TARGET_ALPHABET), (url) => {
        const m = /^(https?):\/\/([^/:?#]+)(?::(\d+))?([^#]*)/.exec(url);
        const t = httpTarget(url);
        const read = t && (t.scheme === "http" || t.scheme === "https") ? t : undefined;
        assert.deepEqual(
          read,
          m ? { scheme: m[1], host: m[2], port: m[3] || "", path: m[4] || "" } : undefined,
        );
      }),
      RUNS,
    );
  });
});

// The expressions text.ts used. The lone-surrogate one, applied with the g flag, consumed the
// character before a lone low surrogate and so skipped the second of two in a row ("\udc00\udc00"
// became "?\udc00"); cleanText now replaces every lone surrogate, as its contract says, and the
// oracle uses a lookbehind to say the same.
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- control characters are what it matches
  /[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ue000-\uf8ff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_EACH =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function oracleClean(value: string, max: number): string {
  const out = value
    .replace(new RegExp(UNSAFE.source, "g"), " ")
    .replace(LONE_SURROGATE_EACH, "?")
    .replace(/^\s+|\s+$/g, "");
  if (out.length <= max) return out;
  let end = Math.max(0, max - 3);
  const last = out.charCodeAt(end - 1);
  if (last >= 0xd800 && last < 0xdc00) end--;
  return out.substring(0, end) + "...";
}

describe("text.ts without RegExp", () => {
  const alphabet = "ab \u0000\u2028\u202e\ud83d\ude00\ud800\udc00\ue000\u0600\u00ad\ufeff";
  it("hasUnsafeCharacters", () => {
    fc.assert(
      fc.property(textOf(alphabet), (t) => {
        return hasUnsafeCharacters(t) === (UNSAFE.test(t) || LONE_SURROGATE.test(t));
      }),
      RUNS,
    );
  });
  it("cleanText gives what the expressions give, and leaves nothing unsafe", () => {
    fc.assert(
      fc.property(textOf(alphabet, 300), fc.integer({ min: 0, max: 300 }), (t, max) => {
        const out = cleanText(t, max);
        assert.equal(out, oracleClean(t, max));
        assert.equal(hasUnsafeCharacters(out), false);
      }),
      RUNS,
    );
  });
  it("a lone surrogate becomes ?, a pair stays, however they are placed", () => {
    assert.equal(cleanText("\udc00\udc00"), "??");
    assert.equal(cleanText("a\udc00\udc00x\ud800"), "a??x?");
    assert.equal(cleanText("\ud800\ud83d\ude00\udfff"), "?\ud83d\ude00?");
    assert.equal(cleanText(" \u2028x\u202e "), "x");
    assert.equal(quoted("a\nb"), '"a\\nb"');
  });
});
