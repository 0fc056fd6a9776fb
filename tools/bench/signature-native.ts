// Node's native ECDSA P-256 verification (OpenSSL) of the signature signature-workload.ts checks,
// timed the same way.

import { createPublicKey, verify } from "node:crypto";
import { benchVector, timeMedian } from "./signature-workload";

const NATIVE_RUNS = 2000;

export default {
  verify() {
    const { key, message, signature } = benchVector();
    const publicKey = createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: Buffer.from(key.subarray(1, 33)).toString("base64url"),
        y: Buffer.from(key.subarray(33)).toString("base64url"),
      },
      format: "jwk",
    });
    // crypto.verify hashes the message itself: a few dozen bytes, next to nothing.
    const options = { key: publicKey, dsaEncoding: "ieee-p1363" } as const;
    return timeMedian(NATIVE_RUNS, () => String(verify("sha256", message, options, signature)));
  },
};
