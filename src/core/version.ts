// Version strings as clouds send them: "1.2.0", "v1.0.2" (nRF), "0.2" (Tencent), "1.2.0-rc.1".

import { allCharsIn, isAlphanumeric, isDigit, skipWhile } from "./util/chars";

interface ParsedVersion {
  numbers: number[];
  prerelease: string;
}

/** [0-9A-Za-z.-] */
function isIdentifierChar(code: number): boolean {
  return isAlphanumeric(code) || code === 46 || code === 45;
}

// In the terms of a regular expression:
// ^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$
function parse(version: string): ParsedVersion | undefined {
  const text = version.trim();
  const start = text.charAt(0) === "v" || text.charAt(0) === "V" ? 1 : 0;
  const end = skipWhile(text, (code) => isDigit(code) || code === 46, start);
  const numbers = text.substring(start, end).split(".");
  for (let i = 0; i < numbers.length; i++) if (numbers[i] === "") return undefined;
  const plus = text.indexOf("+", end);
  const build = plus < 0 ? "" : text.substring(plus + 1);
  const prerelease = text.substring(end, plus < 0 ? text.length : plus);
  if (prerelease !== "" && (prerelease.charAt(0) !== "-" || prerelease.length < 2))
    return undefined;
  if (!allCharsIn(prerelease, 0, prerelease.length, isIdentifierChar)) return undefined;
  if (plus >= 0 && !allCharsIn(build, 1, build.length, isIdentifierChar)) return undefined;
  return { numbers: numbers.map((n) => parseInt(n, 10)), prerelease: prerelease.substring(1) };
}

/**
 * Orders two versions: negative when a < b, 0 when equal, positive when a > b; undefined when either
 * is not a dotted numeric version (then only equality of the strings means anything).
 */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return a === b ? 0 : undefined;
  const length = Math.max(x.numbers.length, y.numbers.length);
  for (let i = 0; i < length; i++) {
    const d = (x.numbers[i] || 0) - (y.numbers[i] || 0);
    if (d !== 0) return d;
  }
  // A pre-release sorts before its release (semver), and pre-releases compare as strings.
  if (x.prerelease === y.prerelease) return 0;
  if (!x.prerelease) return 1;
  if (!y.prerelease) return -1;
  return x.prerelease < y.prerelease ? -1 : 1;
}
