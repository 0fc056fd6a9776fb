// Strings for property tests that hold a RegExp-free validator against the regular expression it
// replaces: mostly characters of the pattern's own alphabet (so that accepted texts are reached),
// mixed with the characters such code gets wrong: controls, line terminators, Unicode spaces, lone
// and paired surrogates, and non-ASCII letters that case folding maps onto ASCII.
import fc from "fast-check";

const TRICKY =
  "\u0000\t\n\u000b\f\r \u007f\u0085\u00a0\u00ad\u1680\u180e\u2000\u200a\u200b\u2028\u2029" +
  "\u202f\u205f\u3000\ufeff\ud800\udbff\udc00\udfff\ue000\uffff\u212a\u017f\u0130\u0131" +
  "\u00ff\u0660\uff10";

/** One UTF-16 code unit: from `alphabet` mostly, else a tricky one or any one at all. */
export function codeUnit(alphabet: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...alphabet.split("")) },
    { weight: 2, arbitrary: fc.constantFrom(...TRICKY.split("")) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    },
  );
}

/** Strings of code units from `alphabet` (see codeUnit), empty ones and long ones included. */
export function textOf(alphabet: string, maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(codeUnit(alphabet), { maxLength }).map((a) => a.join("")) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength }) },
    {
      weight: 1,
      arbitrary: fc
        .array(codeUnit(alphabet), { minLength: 120, maxLength: 300 })
        .map((a) => a.join("")),
    },
  );
}

/** A prefix from `prefixes` (or none) followed by textOf(alphabet). */
export function prefixed(prefixes: string[], alphabet: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom("", ...prefixes), textOf(alphabet))
    .map(([prefix, rest]) => prefix + rest);
}

/** Every UTF-16 code unit, for testing a character class exhaustively. */
export function allCodeUnits(): number[] {
  const out: number[] = [];
  for (let c = 0; c <= 0xffff; c++) out.push(c);
  return out;
}

export const RUNS = { numRuns: 3000, seed: 20261207 };
