// NativeDigests over Moddable's crypt Digest (C implementations: far faster than the TypeScript
// hashes on a microcontroller). CRC32 and Murmur3 have no native digest here: the core falls back
// to its TypeScript implementations for them.
import { Digest } from "crypt";
import type { DigestType } from "crypt";
import type { HashAlgorithm, NativeDigests } from "../../src/core/ports";

const NAMES: Partial<Record<HashAlgorithm, DigestType>> = {
  md5: "MD5",
  sha256: "SHA256",
  sha384: "SHA384",
  sha512: "SHA512",
};

/** An ArrayBuffer holding exactly the view's bytes: crypt's typing takes only ArrayBuffers. */
function wholeBuffer(data: Uint8Array): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength)
    return data.buffer as ArrayBuffer;
  return data.slice().buffer as ArrayBuffer;
}

export const cryptDigests: NativeDigests = (algorithm) => {
  const name = NAMES[algorithm];
  if (name === undefined) return undefined;
  const digest = new Digest(name);
  let done = false;
  return {
    update(data) {
      if (done) throw new Error(algorithm + " digest already finished");
      digest.write(wholeBuffer(data));
    },
    digest() {
      if (done) throw new Error(algorithm + " digest already finished");
      done = true;
      return new Uint8Array(digest.close());
    },
  };
};
