// `keygen` makes an ECDSA P-256 signing key; `sign` signs an image with it, appended (every cloud)
// or detached (AWS afr_ota job documents).
import * as fs from "node:fs";
import { keyId } from "../../src/core/signature/block";
import {
  generateSigningKey,
  hasSignatureBlock,
  publicPoint,
  readSigningKeyFile,
  signAppended,
  signDetached,
} from "../sign/index";
import { parse, required, UsageError } from "./args";

export const KEYGEN_USAGE = `Usage: otaflow keygen --out PREFIX

Makes an ECDSA P-256 (prime256v1) signing key: PREFIX.pem, the private key (mode 0600; keep it
off the devices), and PREFIX.pub.pem. Prints the key id and the public key as the 65-byte point
in hex, which a firmware build embeds to verify signed images. Never overwrites an existing key.`;

export const SIGN_USAGE = `Usage: otaflow sign --key KEY.pem --image IN (--out OUT | --detached)

Signs an image with ECDSA P-256 over SHA-256. KEY.pem is a P-256 private key, from otaflow keygen
or openssl (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY").
  --out OUT    writes IN followed by a 128-byte otaflow signature block, for every cloud and job form
  --detached   prints the base64 DER signature of IN instead, for the sig-sha256-ecdsa field of an
               AWS afr_ota job document (the image is published unchanged)`;

export function keygenCommand(argv: string[]): void {
  const values = parse(argv, { out: { type: "string", short: "o" } }, KEYGEN_USAGE);
  if (values.help) return console.log(KEYGEN_USAGE);
  const prefix = required(values, "out", KEYGEN_USAGE);
  const privateFile = `${prefix}.pem`;
  const publicFile = `${prefix}.pub.pem`;
  for (const file of [privateFile, publicFile]) {
    if (fs.existsSync(file))
      throw new Error(`${file} exists: keygen never overwrites a key (choose another --out)`);
  }
  const key = generateSigningKey();
  fs.writeFileSync(privateFile, key.privateKeyPem, { mode: 0o600, flag: "wx" });
  fs.writeFileSync(publicFile, key.publicKeyPem, { flag: "wx" });
  console.log(`${privateFile}: private key (keep it secret)
${publicFile}: public key
key id     ${key.keyIdHex}
public key ${key.publicKeyHex}`);
}

export function signCommand(argv: string[]): void {
  const values = parse(
    argv,
    {
      key: { type: "string", short: "k" },
      image: { type: "string", short: "i" },
      out: { type: "string", short: "o" },
      detached: { type: "boolean" },
    },
    SIGN_USAGE,
  );
  if (values.help) return console.log(SIGN_USAGE);
  const keyFile = required(values, "key", SIGN_USAGE);
  const imageFile = required(values, "image", SIGN_USAGE);
  if (values.detached && values.out !== undefined)
    throw new UsageError(`--detached prints the signature: leave out --out\n\n${SIGN_USAGE}`);
  const out = values.detached ? undefined : required(values, "out", SIGN_USAGE);
  const key = readSigningKeyFile(keyFile);
  const image = new Uint8Array(fs.readFileSync(imageFile));
  if (hasSignatureBlock(image))
    throw new Error(
      `${imageFile} already ends with an otaflow signature block: sign the unsigned image`,
    );
  if (out === undefined) return console.log(signDetached(image, key));
  const signed = signAppended(image, key);
  fs.writeFileSync(out, signed);
  const id = Buffer.from(keyId(publicPoint(key))).toString("hex");
  console.log(
    `${out}: ${signed.length} bytes (${image.length} of image + signature block), key id ${id}`,
  );
}
