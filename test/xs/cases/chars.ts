// The RegExp-free validators and scanners inside XS, with its intrinsics frozen as in a Moddable
// app: the same results as in Node for every code unit and for random strings of the characters
// they are about (the Node test tier holds them against the regular expressions they replace).

import { isThingName } from "../../../src/backends/aws/topics";
import { urlProblem } from "../../../src/backends/offer-fields";
import { resolveUrl } from "../../../src/core/download/url";
import { isHostPattern, urlOrigin } from "../../../src/core/policy";
import * as chars from "../../../src/core/util/chars";
import { cleanText, hasUnsafeCharacters } from "../../../src/core/util/text";
import { brokerParts, httpTarget } from "../../../src/core/util/url-parts";
import { compareVersions } from "../../../src/core/version";
import { clock, type Cases } from "../runtime";

const TRICKY = "\u0000\t\n\r \u00a0\u2028\u202e\ufeff\ud800\udc00\ue000\u212a\u0600";

function randomText(alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    const r = clock.random();
    if (r < 0.7) out += alphabet.charAt(Math.floor(clock.random() * alphabet.length));
    else if (r < 0.9) out += TRICKY.charAt(Math.floor(clock.random() * TRICKY.length));
    else out += String.fromCharCode(Math.floor(clock.random() * 0x10000));
  }
  return out;
}

function texts(alphabet: string, count: number): string[] {
  const out: string[] = [""];
  for (let i = 0; i < count; i++) out.push(randomText(alphabet, Math.floor(clock.random() * 40)));
  return out;
}

const cases: Cases = {
  "character classes, every code unit: where each one starts and stops"() {
    const tests = [chars.isSpace, chars.isWordChar, chars.isHexDigit, chars.isLineTerminator];
    return tests.map((test) => {
      const edges: number[] = [];
      let inside = false;
      for (let c = 0; c <= 0xffff; c++)
        if (test(c) !== inside) {
          inside = !inside;
          edges.push(c);
        }
      return edges;
    });
  },
  "cleanText and hasUnsafeCharacters"() {
    return texts("ab \u00ad\u2066\ud83d\ude00", 300).map((t) => [
      cleanText(t, 20),
      hasUnsafeCharacters(t),
    ]);
  },
  "URLs: urlOrigin, httpTarget, brokerParts, resolveUrl, urlProblem"() {
    return texts("ab.:/?#@[]09", 150).map((t) => [
      urlOrigin("http://" + t),
      httpTarget("https://" + t),
      brokerParts("mqtt://" + t),
      resolveUrl("http://h/a/b?q", t),
      urlProblem("http://" + t),
      isHostPattern(t),
    ]);
  },
  "names, versions, trimming"() {
    return texts("v1.2-rc+aZ:_ ", 300).map((t) => [
      isThingName(t),
      compareVersions(t, "1.2"),
      chars.trim(t),
      chars.splitWords(t, chars.isSpace),
      chars.isPaddedBase64(t),
    ]);
  },
};

export default cases;
