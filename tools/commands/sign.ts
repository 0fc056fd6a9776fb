// `keygen` makes a signing key espsecure accepts; `sign` signs an image in Espressif's formats (the
// Secure Boot V2 sector, the V1 trailer) or detached for AWS afr_ota; `verify` checks a signed image
// with the agent's own verifier (src/core/signature), as a device would.
import * as fs from "node:fs";
import { SignatureCheck } from "../../src/core/signature/check";
import { trustedKey } from "../../src/core/signature/keys";
import {
  generateSigningKey,
  hasSignatureSector,
  keyDigest,
  readSigningKeyFile,
  signAppended,
  signDetached,
  signV1,
  type KeyScheme,
} from "../sign/index";
import { parse, required, UsageError } from "./args";

export const KEYGEN_USAGE = `Usage: otaflow keygen --out PREFIX [--scheme ecdsa256|rsa3072]

Makes a signing key as \`espsecure generate_signing_key --version 2\` does: ECDSA P-256 (the
default; SEC1 "EC PRIVATE KEY") or RSA-3072 (PKCS#1 "RSA PRIVATE KEY"). Writes PREFIX.pem, the
private key (mode 0600; keep it off the devices), and PREFIX.pub.pem, and prints the key's Secure
Boot V2 digest, which a firmware build trusts (or give it PREFIX.pub.pem). Never overwrites a key.`;

export const SIGN_USAGE = `Usage: otaflow sign --key KEY.pem [--key KEY2.pem ...] --image IN (--out OUT | --detached)

Signs an image as espsecure does. KEY.pem is an ECDSA P-256 or RSA-3072 private key (otaflow keygen,
espsecure or openssl).
  --out OUT      writes IN padded with 0xFF to a multiple of 4096, then a Secure Boot V2 signature
                 sector with one block per --key (at most 3: rotation), as
                 \`espsecure sign_data --version 2\`
  --version 1    writes IN then the 68-byte V1 ECDSA trailer instead (\`sign_data --version 1\`)
  --detached     prints the base64 DER signature of IN instead, for the sig-sha256-ecdsa field of an
                 AWS afr_ota job document (the image is published unchanged)`;

export const VERIFY_USAGE = `Usage: otaflow verify --image IMAGE --key PUB [--key PUB2 ...]

Checks IMAGE's signature (Secure Boot V2 sector or V1 trailer) as the agent does, trusting each PUB:
a public key PEM (ECDSA P-256 or RSA-3072), a certificate, a Secure Boot V2 key digest (32 bytes, as
espsecure digest_sbv2_public_key writes it, or 64 hex digits) or a raw 64-byte V1 public key. Exits 0 and names the key and the
block when a trusted key's signature verifies; otherwise exits 1 with the reason.`;

export function keygenCommand(argv: string[]): void {
  const values = parse(
    argv,
    { out: { type: "string", short: "o" }, scheme: { type: "string" } },
    KEYGEN_USAGE,
  );
  if (values.help) return console.log(KEYGEN_USAGE);
  const prefix = required(values, "out", KEYGEN_USAGE);
  const scheme = values.scheme === undefined ? "ecdsa256" : values.scheme;
  if (scheme !== "ecdsa256" && scheme !== "rsa3072")
    throw new UsageError(
      `--scheme is ecdsa256 or rsa3072, not "${String(scheme)}"\n\n${KEYGEN_USAGE}`,
    );
  const privateFile = `${prefix}.pem`;
  const publicFile = `${prefix}.pub.pem`;
  for (const file of [privateFile, publicFile]) {
    if (fs.existsSync(file))
      throw new Error(`${file} exists: keygen never overwrites a key (choose another --out)`);
  }
  const key = generateSigningKey(scheme as KeyScheme);
  fs.writeFileSync(privateFile, key.privateKeyPem, { mode: 0o600, flag: "wx" });
  fs.writeFileSync(publicFile, key.publicKeyPem, { flag: "wx" });
  console.log(`${privateFile}: private key (keep it secret)
${publicFile}: public key
key digest ${key.digestHex} (Secure Boot V2)`);
}

export function signCommand(argv: string[]): void {
  const values = parse(
    argv,
    {
      key: { type: "string", short: "k", multiple: true },
      image: { type: "string", short: "i" },
      out: { type: "string", short: "o" },
      version: { type: "string" },
      detached: { type: "boolean" },
    },
    SIGN_USAGE,
  );
  if (values.help) return console.log(SIGN_USAGE);
  const keyFiles = (values.key as string[] | undefined) || [];
  if (keyFiles.length === 0) throw new UsageError(`--key is required\n\n${SIGN_USAGE}`);
  const imageFile = required(values, "image", SIGN_USAGE);
  if (values.detached && values.out !== undefined)
    throw new UsageError(`--detached prints the signature: leave out --out\n\n${SIGN_USAGE}`);
  const version = values.version === undefined ? "2" : values.version;
  if (version !== "1" && version !== "2")
    throw new UsageError(`--version is 1 or 2, not "${String(version)}"\n\n${SIGN_USAGE}`);
  const out = values.detached ? undefined : required(values, "out", SIGN_USAGE);
  const keys = keyFiles.map(readSigningKeyFile);
  if ((out === undefined || version === "1") && keys.length > 1)
    throw new UsageError(`only a V2 sector holds more than one signature\n\n${SIGN_USAGE}`);
  const image = new Uint8Array(fs.readFileSync(imageFile));
  if (hasSignatureSector(image))
    throw new Error(
      `${imageFile} already ends with a Secure Boot V2 signature sector: sign the unsigned image`,
    );
  if (out === undefined) return console.log(signDetached(image, keys[0]));
  const signed = version === "1" ? signV1(image, keys[0]) : signAppended(image, keys);
  fs.writeFileSync(out, signed);
  const form = version === "1" ? "V1 trailer" : "Secure Boot V2 sector";
  const digests = keys.map((key, i) => `block ${i}: key ${keyDigest(key)}`);
  console.log(
    `${out}: ${signed.length} bytes (${image.length} of image, then the ${form}); ` +
      (version === "1" ? `key ${keyDigest(keys[0])}` : digests.join(", ")),
  );
}

/**
 * A key file as the text the agent's `trustedKeys` takes: PEM or hex as it is, a binary 32-byte SBv2
 * digest (espsecure digest_sbv2_public_key) or a raw 64-byte V1 public key (X || Y) as hex.
 * Throws naming the file unless the agent accepts the key.
 */
export function trustedKeyText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read the key ${file}: ${(error as Error).message}`, { cause: error });
  }
  const text =
    bytes.length === 32
      ? bytes.toString("hex")
      : bytes.length === 64
        ? "04" + bytes.toString("hex")
        : bytes.toString("utf8");
  try {
    trustedKey(text);
  } catch (error) {
    throw new Error(`key ${file}: ${(error as Error).message}`, { cause: error });
  }
  return text;
}

export function verifyCommand(argv: string[]): void {
  const values = parse(
    argv,
    { image: { type: "string", short: "i" }, key: { type: "string", short: "k", multiple: true } },
    VERIFY_USAGE,
  );
  if (values.help) return console.log(VERIFY_USAGE);
  const imageFile = required(values, "image", VERIFY_USAGE);
  const keyFiles = (values.key as string[] | undefined) || [];
  if (keyFiles.length === 0) throw new UsageError(`--key is required\n\n${VERIFY_USAGE}`);
  const keys = keyFiles.map((file) => trustedKey(trustedKeyText(file)));
  const image = new Uint8Array(fs.readFileSync(imageFile));
  const check = new SignatureCheck(image.length, undefined, keys);
  // Fed as a download would be, in pieces.
  for (let at = 0; at < image.length; at += 4096) check.update(image.subarray(at, at + 4096));
  const result = check.finish();
  const where = result.block === undefined ? "" : ` block ${result.block}`;
  console.log(
    `${imageFile}: verified: ${result.form}${where}, ${result.scheme}, key ${result.keyDigest}`,
  );
}
