// Version strings as clouds send them: "1.2.0", "v1.0.2" (nRF), "0.2" (Tencent), "1.2.0-rc.1".

interface ParsedVersion {
  numbers: number[];
  prerelease: string;
}

function parse(version: string): ParsedVersion | undefined {
  const match = /^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(
    version.trim(),
  );
  if (!match) return undefined;
  return { numbers: match[1].split(".").map((n) => parseInt(n, 10)), prerelease: match[2] || "" };
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
