// RSA-3072-PSS in Node: the portable verifier (src/core/signature/rsa.ts) and Node's crypto
// (OpenSSL), both over block 0 of the sector espsecure wrote (test/fixtures/espsecure), timed as
// signature-workload.ts times its cases.

import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseSignatureSector, verifyBlock } from "../../src/core/signature/sector";
import { timeMedian } from "./signature-workload";

const VECTORS = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "test",
  "fixtures",
  "espsecure",
);

function vector() {
  const signed = fs.readFileSync(path.join(VECTORS, "app-32k.sbv2-rsa.bin"));
  const block = parseSignatureSector(new Uint8Array(signed.subarray(32768)))[0];
  return { block, signed };
}

export default {
  portable() {
    const { block } = vector();
    return timeMedian(100, () => String(verifyBlock(block, block.imageDigest)));
  },
  native() {
    const { block } = vector();
    const key = crypto.createPublicKey(fs.readFileSync(path.join(VECTORS, "sbv2-rsa-key.pub.pem")));
    const signature = Buffer.from(block.signature).reverse();
    // espsecure signs the SHA-256 of the bytes before the sector, prehashed: the same signature as
    // PSS over those bytes, which is what Node's crypto takes; OpenSSL hashes the 32 KiB each time.
    const options = { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    const { signed } = vector();
    const covered = signed.subarray(0, 32768);
    return timeMedian(1000, () => String(crypto.verify("sha256", covered, options, signature)));
  },
};
