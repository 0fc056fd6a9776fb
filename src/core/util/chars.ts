// Validators and scanners over character codes, for code that runs on a board. No RegExp there:
// a Moddable app's preload freezes module-level RegExps (exec then throws writing lastIndex), and
// Espruino's regex engine has no `?`, `{n,m}`, `(?:`, lookahead or `\u` escapes, and ends a literal
// at the first `/`. Each function names the regular expression whose language it accepts; the
// tests hold it against that expression.

/** A test of one UTF-16 code unit. */
export type CharTest = (code: number) => boolean;

/** [0-9] */
export function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** [a-zA-Z] */
export function isLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** [a-zA-Z0-9] */
export function isAlphanumeric(code: number): boolean {
  return isDigit(code) || isLetter(code);
}

/** [0-9a-fA-F] */
export function isHexDigit(code: number): boolean {
  return isDigit(code) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102);
}

/** [0-9a-f] */
export function isLowerHexDigit(code: number): boolean {
  return isDigit(code) || (code >= 97 && code <= 102);
}

/** \w: [A-Za-z0-9_] */
export function isWordChar(code: number): boolean {
  return isAlphanumeric(code) || code === 95;
}

/** [\x21-\x7e]: printable ASCII without the space. */
export function isPrintableAscii(code: number): boolean {
  return code >= 0x21 && code <= 0x7e;
}

/** [A-Za-z0-9+/] */
export function isBase64Digit(code: number): boolean {
  return isAlphanumeric(code) || code === 43 || code === 47;
}

/** [\n\r\u2028\u2029]: what `.` does not match. */
export function isLineTerminator(code: number): boolean {
  return code === 10 || code === 13 || code === 0x2028 || code === 0x2029;
}

/** \s: ECMAScript's WhiteSpace and LineTerminator (the same set as String.prototype.trim). */
export function isSpace(code: number): boolean {
  if (code < 0x80) return (code >= 9 && code <= 13) || code === 32;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** ^[class]{min,max}$, with `test` as the class. */
export function allCharsIn(text: string, min: number, max: number, test: CharTest): boolean {
  if (text.length < min || text.length > max) return false;
  for (let i = 0; i < text.length; i++) if (!test(text.charCodeAt(i))) return false;
  return true;
}

/** ^[A-Za-z0-9<extra>]{min,max}$, as cloud names and ids are written. */
export function isAlphanumericText(text: string, min: number, max: number, extra = ""): boolean {
  return allCharsIn(
    text,
    min,
    max,
    (code) => isAlphanumeric(code) || extra.indexOf(String.fromCharCode(code)) >= 0,
  );
}

/** ^[0-9a-fA-F]{min,max}$ */
export function isHexText(text: string, min: number, max: number): boolean {
  return allCharsIn(text, min, max, isHexDigit);
}

/** ^[0-9]{min,max}$ */
export function isDigitText(text: string, min: number, max: number): boolean {
  return allCharsIn(text, min, max, isDigit);
}

/** ^[\x21-\x7e]+$ */
export function isPrintableAsciiText(text: string): boolean {
  return allCharsIn(text, 1, text.length, isPrintableAscii);
}

/** The index of the first character at or after `from` that passes `test`, or -1. */
export function indexWhere(text: string, test: CharTest, from = 0): number {
  for (let i = from; i < text.length; i++) if (test(text.charCodeAt(i))) return i;
  return -1;
}

/** The index of the first character at or after `from` that fails `test`, or text.length. */
export function skipWhile(text: string, test: CharTest, from = 0): number {
  let i = from;
  while (i < text.length && test(text.charCodeAt(i))) i++;
  return i;
}

/** Whether `text` has a character that passes `test`. */
export function someChar(text: string, test: CharTest): boolean {
  return indexWhere(text, test) >= 0;
}

/** The index of the first of `chars` in `text` at or after `from`, or -1. */
export function indexOfAny(text: string, chars: string, from = 0): number {
  return indexWhere(text, (code) => chars.indexOf(String.fromCharCode(code)) >= 0, from);
}

/**
 * text.substring(start, end), built with charAt: on a string holding a non-ASCII character,
 * Espruino 2v29's substring, slice and substr count bytes of its UTF-8 while length, charAt and
 * charCodeAt count characters ("a\u2028c".substring(2) is "\u0080\u00a8c" there).
 */
export function charsBetween(text: string, start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i++) out += text.charAt(i);
  return out;
}

/** text.replace(/^\s+|\s+$/g, "") */
export function trim(text: string): string {
  let end = text.length;
  while (end > 0 && isSpace(text.charCodeAt(end - 1))) end--;
  return charsBetween(text, skipWhile(text, isSpace), end);
}

/** text.replace(/[class]+/g, ""), with `test` as the class. */
export function removeChars(text: string, test: CharTest): string {
  let out = "";
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || test(text.charCodeAt(i))) {
      out += text.substring(start, i);
      start = i + 1;
    }
  }
  return out;
}

/** text.split(/[class]+/) without the empty pieces, with `test` as the class. */
export function splitWords(text: string, test: CharTest): string[] {
  const words: string[] = [];
  let i = skipWhile(text, test);
  while (i < text.length) {
    const end = indexWhere(text, test, i);
    const stop = end < 0 ? text.length : end;
    words.push(text.substring(i, stop));
    i = skipWhile(text, test, stop);
  }
  return words;
}

/** text.replace(/c+$/, "") for the one character `c`. */
export function withoutTrailing(text: string, c: string): string {
  let end = text.length;
  while (end > 0 && text.charAt(end - 1) === c) end--;
  return text.substring(0, end);
}

/** text.replace(/^prefix/, "") */
export function withoutPrefix(text: string, prefix: string): string {
  return text.substring(0, prefix.length) === prefix ? text.substring(prefix.length) : text;
}

/**
 * /^lower/i for a `lower` of lower-case ASCII: a regex without the u flag folds ASCII letters only,
 * so a non-ASCII character never matches (toLowerCase would map "K", the Kelvin sign, to "k").
 */
export function startsWithIgnoringCase(text: string, lower: string): boolean {
  if (text.length < lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const code = text.charCodeAt(i);
    const folded = code >= 65 && code <= 90 ? code + 32 : code;
    if (folded !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** ^[A-Za-z0-9+/]+={0,2}$: base64 digits, then at most two "=" however many digits there are. */
export function isBase64Text(text: string): boolean {
  const body = withoutTrailing(text, "=");
  return text.length - body.length <= 2 && allCharsIn(body, 1, body.length, isBase64Digit);
}

/**
 * ^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$: base64 padded to whole groups
 * of four, the empty text included.
 */
export function isPaddedBase64(text: string): boolean {
  const body = withoutTrailing(text, "=");
  return (
    text.length % 4 === 0 &&
    text.length - body.length <= 2 &&
    allCharsIn(body, 0, body.length, isBase64Digit)
  );
}

/** The length of a leading URI scheme with its colon (^[a-zA-Z][a-zA-Z0-9+.-]*:), or 0. */
export function schemeLength(text: string): number {
  if (!isLetter(text.charCodeAt(0))) return 0;
  const end = skipWhile(
    text,
    (code) => isAlphanumeric(code) || code === 43 || code === 46 || code === 45,
    1,
  );
  return text.charAt(end) === ":" ? end + 1 : 0;
}
