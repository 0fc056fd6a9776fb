// Node's crypto as the host's native digests, as a board has its hardware SHA and Moddable's crypt
// module; the core's TypeScript hashes cover what is missing here (CRC32, Murmur3).
import { createHash } from "node:crypto";
import type { NativeDigests } from "../../src/core/ports";

const NAMES: Record<string, string> = {
  md5: "md5",
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
};

export const nodeDigests: NativeDigests = (algorithm) => {
  const name = NAMES[algorithm];
  if (!name) return undefined;
  const hash = createHash(name);
  return {
    update: (data) => void hash.update(data),
    digest: () => new Uint8Array(hash.digest()),
  };
};
