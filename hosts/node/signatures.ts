// Node's crypto as the host's native ECDSA P-256, as a board would use its hardware or mbedTLS:
// the image streams through OpenSSL's SHA-256 and verifier instead of the portable arithmetic.
import { createPublicKey, createVerify, type KeyObject } from "node:crypto";
import { otaError } from "../../src/core/errors";
import type { NativeSignatures } from "../../src/core/ports";
import { checkPublicKey } from "../../src/core/signature/p256";

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

function keyObject(point: Uint8Array): KeyObject {
  // The same refusals, in the same words, as the portable verifier.
  checkPublicKey(point);
  return createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: base64url(point.subarray(1, 33)),
      y: base64url(point.subarray(33, 65)),
    },
    format: "jwk",
  });
}

export const nodeSignatures: NativeSignatures = (publicKey) => {
  const key = keyObject(publicKey);
  const verifier = createVerify("sha256");
  let used = false;
  return {
    update: (data) => void verifier.update(data),
    verify(signature) {
      // OpenSSL's verifier is spent after one verification.
      if (used) throw otaError("internal", "a native SignatureStream verifies only once");
      used = true;
      // Node throws on a signature of the wrong length; the portable verifier says false.
      if (signature.length !== 64) return false;
      return verifier.verify({ key, dsaEncoding: "ieee-p1363" }, signature);
    },
  };
};
