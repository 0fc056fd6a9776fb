// Byte helpers the core needs on every engine: Espruino has no TextEncoder/TextDecoder, and a
// Moddable app has them only when a module adds them.

import { isHexText, withoutTrailing } from "./chars";

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  return out;
}

/** Parses hex (either case); returns undefined for anything that is not whole bytes of hex. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !isHexText(text, 0, text.length)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

/** Decodes UTF-8; malformed sequences become U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i++];
    let c = 0xfffd;
    let need = 0;
    if (b < 0x80) c = b;
    else if (b >= 0xc2 && b < 0xe0) {
      c = b & 31;
      need = 1;
    } else if (b >= 0xe0 && b < 0xf0) {
      c = b & 15;
      need = 2;
    } else if (b >= 0xf0 && b < 0xf5) {
      c = b & 7;
      need = 3;
    }
    let ok = true;
    for (let k = 0; k < need; k++) {
      if (i >= bytes.length || (bytes[i] & 0xc0) !== 0x80) {
        ok = false;
        break;
      }
      c = (c << 6) | (bytes[i++] & 63);
    }
    if (!ok || (need === 2 && c < 0x800) || (need === 3 && (c < 0x10000 || c > 0x10ffff)))
      c = 0xfffd;
    if (c >= 0x10000) {
      c -= 0x10000;
      out += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
    } else out += String.fromCharCode(c);
  }
  return out;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Decodes standard base64 (padding optional); undefined for anything else. */
export function base64Decode(text: string): Uint8Array | undefined {
  const body = withoutTrailing(text, "=");
  if (body.length % 4 === 1 || text.length - body.length > 2) return undefined;
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (let i = 0; i < body.length; i++) {
    const digit = BASE64_ALPHABET.indexOf(body.charAt(i));
    if (digit < 0) return undefined;
    // At most 13 bits are pending at any time.
    value = ((value << 6) | digit) & 0x3fff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return out;
}
