// Native digests. Espruino's cryptoModule().SHA256 and E.CRC32 are one-shot: they take the
// whole message, there is no incremental form. The image is never in RAM, but it is in the slot
// by the time a digest is asked for (transfer.ts finishes the slot first), and it is fed from byte
// 0 in order. So these digests count what they are fed and hash that prefix of the slot file at
// the end: Storage.read gives a memory-mapped string, hashed from flash in place. MD5 (and
// anything else) falls back to the TypeScript implementations.
import { otaError } from "../../src/core/errors";
import type { Digest, HashAlgorithm, NativeDigests } from "../../src/core/ports";
import { bytesOf } from "./binary";
import { cryptoModule } from "./modules";

type OneShot = (message: string) => Uint8Array;

function nativeOf(algorithm: HashAlgorithm): OneShot | undefined {
  if (algorithm === "sha256") {
    let sha256: EspruinoCrypto["SHA256"];
    try {
      sha256 = cryptoModule().SHA256;
    } catch {
      // A build without the crypto module.
    }
    return sha256 ? (message) => new Uint8Array(sha256!(message)) : undefined;
  }
  if (algorithm === "crc32" && typeof E !== "undefined" && typeof E.CRC32 === "function") {
    return (message) => {
      const value = E.CRC32(message);
      return new Uint8Array([
        value >>> 24,
        (value >>> 16) & 0xff,
        (value >>> 8) & 0xff,
        value & 0xff,
      ]);
    };
  }
  return undefined;
}

/** Digests of the prefix of `slotName` that has been fed; `slotName` is asked when one is made. */
export function slotDigests(storage: EspruinoStorage, slotName: () => string): NativeDigests {
  return (algorithm) => {
    const hash = nativeOf(algorithm);
    if (!hash) return undefined;
    const file = slotName();
    let length = 0;
    let last = new Uint8Array(0);
    let done = false;
    const digest: Digest = {
      update(data) {
        if (done) throw otaError("internal", "digest updated after digest()");
        length += data.length;
        // A copy: Espruino's Uint8Array slice() gives a plain Array (docs/ENGINES.md).
        last = new Uint8Array(data);
      },
      digest() {
        done = true;
        const message = length === 0 ? "" : storage.read(file, 0, length);
        // The fed bytes must be the slot's: the last piece is compared, a cheap guard against a
        // caller that hashes something else than the slot's prefix.
        const tail = bytesOf((message || "").substring(length - last.length));
        let same = message !== undefined && message.length === length;
        for (let i = 0; same && i < last.length; i++) same = tail[i] === last[i];
        if (!same) throw otaError("internal", `native ${algorithm}: the data fed is not ${file}'s`);
        return hash(message || "");
      },
    };
    return digest;
  };
}
