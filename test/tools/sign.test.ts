// Image signing as devices and Espressif's tools check it: the Secure Boot V2 sector and the V1
// trailer, laid out as espsecure lays them out (compared with the sector espsecure wrote for the same
// image and key) and verified with Node's crypto (independent of the core's verifiers) and with
// `otaflow verify`; AWS's detached DER signature; keys from otaflow keygen, espsecure and openssl;
// the commands run through the bin; and the local clouds serving what was signed to a device that
// asks over MQTT and HTTP.
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { startLocalCloud, type LocalCloud } from "../../tools/clouds/local";
import { buildAppImage, writeImageFile } from "../../tools/image/build";
import {
  generateSigningKey,
  keyDigest,
  loadSigningKey,
  readSigningKeyFile,
  signAppended,
  signDetached,
  signV1,
} from "../../tools/sign/index";

const CLI = path.join(import.meta.dirname, "..", "..", "tools", "otaflow.mjs");
const VECTORS = path.join(import.meta.dirname, "..", "fixtures", "espsecure");
const run = promisify(execFile);
const OPENSSL = spawnSync("openssl", ["version"]).status === 0;
const opensslSkip = OPENSSL ? false : "openssl is not installed";

function vector(name: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(path.join(VECTORS, name)));
}

/** The point as the SPKI encoding of the public key ends with it, independently of the JWK. */
function spkiPoint(publicKey: crypto.KeyObject): Buffer {
  const der = publicKey.export({ type: "spki", format: "der" });
  return der.subarray(der.length - 65);
}

function reversed(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes).reverse();
}

/** The SBv2 digest of a P-256 key, from espsecure's definition: SHA-256 of 02 || X LE || Y LE. */
function independentDigest(publicKey: crypto.KeyObject): string {
  const point = spkiPoint(publicKey);
  const fields = Buffer.concat([
    Buffer.from([2]),
    reversed(point.subarray(1, 33)),
    reversed(point.subarray(33, 65)),
  ]);
  return crypto.createHash("sha256").update(fields).digest("hex");
}

/**
 * Checks padded image || sector, with Node's crypto: the image is padded with 0xFF to a multiple of
 * 4096, block 0 holds the magic, version 3, the padded image's SHA-256, the key as
 * espsecure stores it, and r and s (little-endian) that Node's crypto accepts; the rest is 0xFF.
 */
function assertSignedWith(
  signed: Uint8Array,
  image: Uint8Array,
  publicKey: crypto.KeyObject,
  blocks = 1,
) {
  const padded = Math.ceil(image.length / 4096) * 4096;
  assert.equal(signed.length, padded + 4096);
  assert.deepEqual(Buffer.from(signed.subarray(0, image.length)), Buffer.from(image));
  assert.ok(
    signed.subarray(image.length, padded).every((byte) => byte === 0xff),
    "0xFF padding",
  );
  const block = signed.subarray(padded, padded + 1216);
  assert.deepEqual([...block.subarray(0, 4)], [0xe7, 0x03, 0, 0]);
  const covered = signed.subarray(0, padded);
  assert.equal(
    Buffer.from(block.subarray(4, 36)).toString("hex"),
    crypto.createHash("sha256").update(covered).digest("hex"),
  );
  assert.equal(
    crypto.createHash("sha256").update(block.subarray(36, 101)).digest("hex"),
    independentDigest(publicKey),
  );
  const rs = Buffer.concat([
    reversed(block.subarray(101, 133)),
    reversed(block.subarray(133, 165)),
  ]);
  assert.ok(
    crypto.verify("sha256", covered, { key: publicKey, dsaEncoding: "ieee-p1363" }, rs),
    "Node's crypto rejects the block's signature",
  );
  for (let i = 1; i < blocks; i++) assert.equal(signed[padded + i * 1216], 0xe7, `block ${i}`);
  const end = padded + blocks * 1216;
  assert.ok(
    signed.subarray(end).every((byte) => byte === 0xff),
    "0xFF after the blocks",
  );
}

function assertDetachedSignature(base64: string, image: Uint8Array, publicKey: crypto.KeyObject) {
  const der = Buffer.from(base64, "base64");
  assert.equal(der[0], 0x30, "a DER SEQUENCE");
  assert.ok(
    crypto.verify("sha256", image, { key: publicKey, dsaEncoding: "der" }, der),
    "Node's crypto rejects the detached signature",
  );
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-sign-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openssl(args: string[]): string {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const image = buildAppImage({ version: "2.0.0", size: 8 * 1024 + 48, seed: 7 });

describe("signing library", () => {
  const generated = generateSigningKey();
  const key = loadSigningKey(generated.privateKeyPem);
  const publicKey = crypto.createPublicKey(generated.publicKeyPem);

  it("generates a P-256 key as espsecure does, with its SBv2 digest", () => {
    assert.equal(generated.digestHex, independentDigest(publicKey));
    assert.equal(keyDigest(key), generated.digestHex);
    assert.equal(generated.publicKeyHex, spkiPoint(publicKey).toString("hex"));
    assert.match(generated.privateKeyPem, /^-----BEGIN EC PRIVATE KEY-----/);
    const rsa = generateSigningKey("rsa3072");
    assert.match(rsa.privateKeyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.equal(
      crypto.createPrivateKey(rsa.privateKeyPem).asymmetricKeyDetails?.modulusLength,
      3072,
    );
  });

  it("computes the SBv2 digests espsecure computed for its keys", () => {
    for (const name of ["sbv2-key-a", "sbv2-rsa-key"]) {
      const key = crypto.createPublicKey(fs.readFileSync(path.join(VECTORS, `${name}.pub.pem`)));
      assert.equal(keyDigest(key), Buffer.from(vector(`${name}.digest.bin`)).toString("hex"), name);
    }
    const b = crypto.createPublicKey(fs.readFileSync(path.join(VECTORS, "sbv2-key-b.pub.pem")));
    assert.equal(keyDigest(b), Buffer.from(vector("sbv2-key-b.digest.bin")).toString("hex"));
  });

  it("appends a sector that Node's crypto verifies over the padded image", () => {
    assertSignedWith(signAppended(image, key), image, publicKey);
  });

  it("writes the sector espsecure wrote for the same image and key, but for r, s and the CRC", () => {
    const ours = signAppended(
      vector("app-32k.bin"),
      readSigningKeyFile(path.join(VECTORS, "sbv2-key-a.pem")),
    );
    const theirs = vector("app-32k.sbv2-a.bin");
    assert.equal(ours.length, theirs.length);
    const differ: number[] = [];
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differ.push(i);
    // ECDSA signatures are randomised: r (101..132), s (133..164) and the block's CRC (1196..1199).
    const base = 32768;
    const allowed = (i: number) =>
      (i >= base + 101 && i < base + 165) || (i >= base + 1196 && i < base + 1200);
    assert.ok(
      differ.every(allowed),
      `bytes ${differ.filter((i) => !allowed(i)).join(", ")} differ`,
    );
  });

  it("writes an RSA-3072 block laid out as espsecure's: key fields equal, PSS verifies", () => {
    const rsa = readSigningKeyFile(path.join(VECTORS, "sbv2-rsa-key.pem"));
    const ours = signAppended(vector("app-32k.bin"), rsa);
    const theirs = vector("app-32k.sbv2-rsa.bin");
    const base = 32768;
    // Everything up to the signature (magic, version, digest, n, e, R^2 mod n, -n^-1) is equal.
    assert.deepEqual(
      Buffer.from(ours.subarray(0, base + 812)),
      Buffer.from(theirs.subarray(0, base + 812)),
    );
    assert.deepEqual(
      Buffer.from(ours.subarray(base + 1200)),
      Buffer.from(theirs.subarray(base + 1200)),
    );
    const signature = reversed(ours.subarray(base + 812, base + 1196));
    const pss = { key: rsa, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    assert.ok(crypto.verify("sha256", ours.subarray(0, base), pss, signature));
  });

  it("puts up to three keys in one sector, and refuses a fourth or a signed image", () => {
    const keys = [key, key, key].map((k) => k);
    const three = signAppended(image, keys);
    const padded = Math.ceil(image.length / 4096) * 4096;
    for (let i = 0; i < 3; i++) assert.equal(three[padded + i * 1216], 0xe7);
    assert.throws(() => signAppended(image, [key, key, key, key]), /1 to 3 signatures, not 4/);
    assert.throws(
      () => signAppended(signAppended(image, key), key),
      /already ends with a Secure Boot V2 signature sector/,
    );
  });

  it("writes the V1 trailer: uint32 0, then r || s that Node's crypto verifies over the image", () => {
    const signed = signV1(image, key);
    assert.equal(signed.length, image.length + 68);
    assert.deepEqual([...signed.subarray(image.length, image.length + 4)], [0, 0, 0, 0]);
    const rs = signed.subarray(image.length + 4);
    assert.ok(crypto.verify("sha256", image, { key: publicKey, dsaEncoding: "ieee-p1363" }, rs));
  });

  it("makes a detached base64 DER signature over the whole image", () => {
    assertDetachedSignature(signDetached(image, key), image, publicKey);
  });

  it(
    "loads openssl's SEC1 and PKCS#8 P-256 keys and its RSA-3072 keys",
    { skip: opensslSkip },
    () => {
      const forms = {
        sec1: openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]),
        sec1WithParameters: openssl(["ecparam", "-name", "prime256v1", "-genkey"]),
        pkcs8: openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
      };
      assert.match(forms.sec1, /BEGIN EC PRIVATE KEY/);
      assert.match(forms.pkcs8, /BEGIN PRIVATE KEY/);
      for (const [form, pem] of Object.entries(forms)) {
        const loaded = loadSigningKey(pem);
        const pub = crypto.createPublicKey(crypto.createPrivateKey(pem));
        assert.equal(keyDigest(loaded), independentDigest(pub), form);
        assertSignedWith(signAppended(image, loaded), image, pub);
      }
      const rsa = openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"]);
      assert.equal(loadSigningKey(rsa).asymmetricKeyType, "rsa");
    },
  );

  it("refuses RSA-2048, P-384 and Ed25519 keys, public keys, encrypted keys and text that is no key", () => {
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const p384 = crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    const ed = crypto.generateKeyPairSync("ed25519");
    const pem = (k: crypto.KeyObject) => k.export({ type: "pkcs8", format: "pem" }) as string;
    assert.throws(
      () => loadSigningKey(pem(rsa.privateKey)),
      /the key is RSA-2048: Secure Boot V2 signs with RSA-3072/,
    );
    assert.throws(
      () => loadSigningKey(pem(p384.privateKey)),
      /the key is on curve secp384r1, not prime256v1: otaflow signs with ECDSA P-256/,
    );
    assert.throws(() => loadSigningKey(pem(ed.privateKey)), /the key is ED25519, not EC or RSA/);
    assert.throws(() => loadSigningKey(generated.publicKeyPem), /signing needs the private key/);
    assert.throws(() => loadSigningKey("hello"), /not a PEM private key/);
    const encrypted = key.export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "secret",
    }) as string;
    assert.throws(() => loadSigningKey(encrypted), /the key is encrypted/);
  });

  it("names the key file it cannot read", (t) => {
    const missing = path.join(tempDir(t), "absent.pem");
    assert.throws(() => readSigningKeyFile(missing), /cannot read the signing key .*absent\.pem/);
  });
});

describe("otaflow keygen, sign and verify", () => {
  it("lists the commands in its help", async () => {
    const help = await cli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^ {2}keygen /m);
    assert.match(help.stdout, /^ {2}sign /m);
    assert.match(help.stdout, /^ {2}verify /m);
    const sign = await cli(["sign", "--help"]);
    assert.match(sign.stdout, /^Usage: otaflow sign --key KEY\.pem/);
  });

  it("makes keys, signs with both in one sector, and verify names the key and the block", async (t) => {
    const dir = tempDir(t);
    const ecdsa = path.join(dir, "release");
    const rsa = path.join(dir, "release-rsa");
    const made = await cli(["keygen", "--out", ecdsa]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(fs.statSync(`${ecdsa}.pem`).mode & 0o777, 0o600);
    const publicKey = crypto.createPublicKey(fs.readFileSync(`${ecdsa}.pub.pem`, "utf8"));
    const digest = independentDigest(publicKey);
    assert.match(made.stdout, new RegExp(`key digest ${digest} `, "m"));
    const madeRsa = await cli(["keygen", "--out", rsa, "--scheme", "rsa3072"]);
    assert.equal(madeRsa.code, 0, madeRsa.stderr);
    const rsaDigest = keyDigest(crypto.createPublicKey(fs.readFileSync(`${rsa}.pub.pem`, "utf8")));

    const again = await cli(["keygen", "--out", ecdsa]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /release\.pem exists: keygen never overwrites a key/);

    const unsigned = path.join(dir, "app.bin");
    const signedFile = path.join(dir, "app.signed.bin");
    writeImageFile(unsigned, { version: "3.1.0", size: 16 * 1024 });
    const bytes = new Uint8Array(fs.readFileSync(unsigned));
    const keys = ["--key", `${ecdsa}.pem`, "--key", `${rsa}.pem`];
    const signed = await cli(["sign", ...keys, "--image", unsigned, "--out", signedFile]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, new RegExp(`block 0: key ${digest}, block 1: key ${rsaDigest}`));
    assertSignedWith(new Uint8Array(fs.readFileSync(signedFile)), bytes, publicKey, 2);

    const byEcdsa = await cli(["verify", "--image", signedFile, "--key", `${ecdsa}.pub.pem`]);
    assert.equal(byEcdsa.code, 0, byEcdsa.stderr);
    assert.match(
      byEcdsa.stdout,
      new RegExp(`verified: Secure Boot V2 block 0, ECDSA P-256, key ${digest}`),
    );
    const byRsa = await cli(["verify", "--image", signedFile, "--key", `${rsa}.pub.pem`]);
    assert.equal(byRsa.code, 0, byRsa.stderr);
    assert.match(
      byRsa.stdout,
      new RegExp(`verified: Secure Boot V2 block 1, RSA-3072, key ${rsaDigest}`),
    );
    const stranger = await cli([
      "verify",
      "--image",
      signedFile,
      "--key",
      path.join(VECTORS, "sbv2-key-b.pub.pem"),
    ]);
    assert.equal(stranger.code, 1);
    assert.match(
      stranger.stderr,
      new RegExp(
        `signed with key ${digest} \\(block 0, ECDSA P-256\\), ${rsaDigest} \\(block 1, RSA-3072\\); this device trusts 58527b2c`,
      ),
    );

    const v1File = path.join(dir, "app.v1.bin");
    const v1 = await cli([
      "sign",
      "--key",
      `${ecdsa}.pem`,
      "--version",
      "1",
      "--image",
      unsigned,
      "--out",
      v1File,
    ]);
    assert.equal(v1.code, 0, v1.stderr);
    const v1Verified = await cli(["verify", "--image", v1File, "--key", `${ecdsa}.pub.pem`]);
    assert.equal(v1Verified.code, 0, v1Verified.stderr);
    assert.match(v1Verified.stdout, /verified: V1 trailer, ECDSA P-256/);

    const detached = await cli([
      "sign",
      "--key",
      `${ecdsa}.pem`,
      "--image",
      unsigned,
      "--detached",
    ]);
    assert.equal(detached.code, 0, detached.stderr);
    assertDetachedSignature(detached.stdout.trim(), bytes, publicKey);

    const twice = await cli(["sign", ...keys, "--image", signedFile, "--out", path.join(dir, "x")]);
    assert.equal(twice.code, 1);
    assert.match(
      twice.stderr,
      /app\.signed\.bin already ends with a Secure Boot V2 signature sector/,
    );
    assert.ok(!fs.existsSync(path.join(dir, "x")));
  });

  it("verify accepts espsecure's signatures and refuses its corrupted copies, with the reason", async () => {
    const verifyVector = (file: string, key: string) =>
      cli(["verify", "--image", path.join(VECTORS, file), "--key", path.join(VECTORS, key)]);
    const accept: [string, string, RegExp][] = [
      [
        "app-32k.sbv2-a.bin",
        "sbv2-key-a.pub.pem",
        /Secure Boot V2 block 0, ECDSA P-256, key b749ab06/,
      ],
      [
        "app-32k.sbv2-a.bin",
        "sbv2-key-a.digest.bin",
        /Secure Boot V2 block 0, ECDSA P-256, key b749ab06/,
      ],
      [
        "app-32k.sbv2-rsa.bin",
        "sbv2-rsa-key.pub.pem",
        /Secure Boot V2 block 0, RSA-3072, key c9ad7113/,
      ],
      [
        "app-32k.sbv2-rsa.bin",
        "sbv2-rsa-key.digest.bin",
        /Secure Boot V2 block 0, RSA-3072, key c9ad7113/,
      ],
      ["app-32k.sbv1.bin", "sbv1-key.pub.raw", /V1 trailer, ECDSA P-256/],
    ];
    for (const [file, key, said] of accept) {
      const result = await verifyVector(file, key);
      assert.equal(result.code, 0, `${file} ${key}: ${result.stderr}`);
      assert.match(result.stdout, said);
    }
    const refuse: [string, string, RegExp][] = [
      [
        "app-32k.sbv2-a.corrupt-0x1000.bin",
        "sbv2-key-a.pub.pem",
        /signature digest: .* the image changed after it was signed/,
      ],
      [
        "app-32k.sbv2-rsa.corrupt-0x1000.bin",
        "sbv2-rsa-key.pub.pem",
        /signature digest: .* the image changed after it was signed/,
      ],
      [
        "app-32k.sbv1.corrupt-0x1000.bin",
        "sbv1-key.pub.raw",
        /the V1 signature does not verify over the image/,
      ],
      [
        "app-32k.sbv2-a.bin",
        "sbv2-key-b.pub.pem",
        /signed with key b749ab06\w+ \(block 0, ECDSA P-256\); this device trusts 58527b2c/,
      ],
      [
        "app-32k.sbv2-rsa.bin",
        "sbv2-key-a.digest.bin",
        /signed with key c9ad7113\w+ \(block 0, RSA-3072\); this device trusts b749ab06/,
      ],
      [
        "app-32k.bin",
        "sbv2-key-a.pub.pem",
        /signature format: the image does not end with a Secure Boot V2 signature sector/,
      ],
    ];
    for (const [file, key, said] of refuse) {
      const result = await verifyVector(file, key);
      assert.equal(result.code, 1, `${file} ${key}: ${result.stdout}`);
      assert.match(result.stderr, said, file);
    }
  });

  it("names an unusable key", async (t) => {
    const dir = tempDir(t);
    const unsigned = path.join(dir, "app.bin");
    writeImageFile(unsigned, { version: "3.1.0", size: 16 * 1024 });
    const rsaFile = path.join(dir, "rsa.pem");
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    fs.writeFileSync(rsaFile, rsa.export({ type: "pkcs1", format: "pem" }));
    const out = path.join(dir, "out.bin");
    const withRsa = await cli(["sign", "--key", rsaFile, "--image", unsigned, "--out", out]);
    assert.equal(withRsa.code, 1);
    assert.match(withRsa.stderr, /signing key .*rsa\.pem: the key is RSA-2048/);
    const absent = path.join(dir, "none.pem");
    const missing = await cli(["sign", "--key", absent, "--image", unsigned, "--out", out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read the signing key .*none\.pem/);
    assert.ok(!fs.existsSync(out));
  });
});

/** The job document a thing gets from $next/get, as the AWS backend asks for it. */
async function nextJobDocument(brokerUrl: string, thing: string): Promise<Record<string, unknown>> {
  const client = await mqtt.connectAsync(brokerUrl, { clientId: thing, reconnectPeriod: 0 });
  try {
    const topic = `$aws/things/${thing}/jobs/$next/get`;
    await client.subscribeAsync(`${topic}/accepted`);
    const reply = new Promise<string>((resolve) =>
      client.on("message", (t, payload) => t === `${topic}/accepted` && resolve(String(payload))),
    );
    await client.publishAsync(topic, "{}");
    const body = JSON.parse(await reply) as { execution: { jobDocument: Record<string, unknown> } };
    return body.execution.jobDocument;
  } finally {
    await client.endAsync();
  }
}

async function download(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  return new Uint8Array(await response.arrayBuffer());
}

type AfrOta = { afr_ota: { files: Record<string, unknown>[] } };

describe("deploying signed images on the local clouds", () => {
  let dir: string;
  let imageFile: string;
  let keyPem: string;
  let publicKey: crypto.KeyObject;
  const clouds: LocalCloud[] = [];
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-sign-deploy-"));
    imageFile = path.join(dir, "app.bin");
    writeImageFile(imageFile, { version: "1.4.0", size: 8 * 1024 });
    const key = generateSigningKey();
    keyPem = key.privateKeyPem;
    publicKey = crypto.createPublicKey(key.publicKeyPem);
    fs.writeFileSync(path.join(dir, "key.pem"), keyPem);
  });
  after(async () => {
    for (const cloud of clouds) await cloud.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("AWS afr_ota: the document carries a detached signature of the image served unchanged", async () => {
    const cloud = await startLocalCloud("aws");
    clouds.push(cloud);
    await cloud.deploy(imageFile, { thing: "signed-1" }, { signingKey: keyPem, form: "afr_ota" });
    const document = (await nextJobDocument(cloud.brokerUrl, "signed-1")) as AfrOta;
    const file = document.afr_ota.files[0];
    const served = await download(String(file.update_data_url));
    assert.deepEqual(Buffer.from(served), fs.readFileSync(imageFile));
    assert.equal(file.filesize, served.length);
    assertDetachedSignature(String(file["sig-sha256-ecdsa"]), served, publicKey);
  });

  it("AWS plain: the image is served with its signature sector, and size and SHA-256 cover both", async () => {
    const cloud = await startLocalCloud("aws");
    clouds.push(cloud);
    const summary = await cloud.deploy(imageFile, { thing: "signed-2" }, { signingKey: keyPem });
    assert.match(summary, /Secure Boot V2 signature sector appended/);
    const document = await nextJobDocument(cloud.brokerUrl, "signed-2");
    const served = await download(String(document.url));
    assertSignedWith(served, new Uint8Array(fs.readFileSync(imageFile)), publicKey);
    assert.equal(document.size, served.length);
    assert.equal(document.sha256, crypto.createHash("sha256").update(served).digest("hex"));
  });

  it("ThingsBoard: the chunks a device fetches are the image and its signature sector", async () => {
    const cloud = await startLocalCloud("thingsboard");
    clouds.push(cloud);
    const token = "SIGNED_TOKEN";
    cloud.register({ token });
    await cloud.deploy(imageFile, { token }, { signingKey: keyPem });
    const client = await mqtt.connectAsync(cloud.brokerUrl, {
      clientId: "signed-tb",
      username: token,
      reconnectPeriod: 0,
    });
    try {
      await client.subscribeAsync([
        "v1/devices/me/attributes/response/+",
        "v2/fw/response/+/chunk/+",
      ]);
      const messages: { topic: string; payload: Buffer }[] = [];
      client.on("message", (topic, payload) => messages.push({ topic, payload }));
      const next = async (prefix: string) => {
        for (let i = 0; i < 300; i++) {
          const found = messages.find((m) => m.topic.startsWith(prefix));
          if (found) return found.payload;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`nothing on ${prefix}`);
      };
      await client.publishAsync(
        "v1/devices/me/attributes/request/1",
        JSON.stringify({ sharedKeys: "fw_size,fw_checksum,fw_checksum_algorithm" }),
      );
      const attributes = JSON.parse(String(await next("v1/devices/me/attributes/response/1")));
      // An empty chunk size asks for the whole package in one chunk.
      await client.publishAsync("v2/fw/request/1/chunk/0", "");
      const served = new Uint8Array(await next("v2/fw/response/1/chunk/0"));
      assertSignedWith(served, new Uint8Array(fs.readFileSync(imageFile)), publicKey);
      assert.equal(attributes.shared.fw_size, served.length);
      assert.equal(attributes.shared.fw_checksum_algorithm, "SHA256");
      assert.equal(
        attributes.shared.fw_checksum,
        crypto.createHash("sha256").update(served).digest("hex"),
      );
    } finally {
      await client.endAsync();
    }
  });

  it("otaflow cloud and otaflow deploy --sign-key --form afr_ota", async () => {
    const child = spawn(
      process.execPath,
      [CLI, "cloud", "--backend", "aws", "--port", "0", "--http-port", "0", "--admin-port", "0"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("otaflow cloud did not start")), 20_000);
        child.once("exit", (code) => reject(new Error(`otaflow cloud exited with ${code}`)));
        readline.createInterface({ input: child.stdout }).on("line", (line) => {
          const match = /broker (\S+), firmware \S+, admin (\S+)$/.exec(line);
          if (!match) return;
          clearTimeout(timer);
          resolve(match);
        });
      });
      const [, brokerUrl, adminUrl] = ready;
      const deploy = ["deploy", "--backend", "aws", "--thing", "cli-1", "--image", imageFile];
      const admin = ["--admin", adminUrl];
      const badForm = await cli([...deploy, "--form", "afr", ...admin]);
      assert.equal(badForm.code, 2);
      assert.match(
        badForm.stderr,
        /--form is for --backend aws, one of plain, nrf, zerynth, afr_ota/,
      );
      const badKey = await cli([...deploy, "--sign-key", imageFile, ...admin]);
      assert.equal(badKey.code, 1);
      assert.match(badKey.stderr, /signing key .*app\.bin: not a PEM private key/);

      const keyFile = path.join(dir, "key.pem");
      const done = await cli([...deploy, "--sign-key", keyFile, "--form", "afr_ota", ...admin]);
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /job \S+ for cli-1: otaflow-sim 1\.4\.0 .*detached signature/);
      const document = (await nextJobDocument(brokerUrl, "cli-1")) as AfrOta;
      const file = document.afr_ota.files[0];
      const served = await download(String(file.update_data_url));
      assertDetachedSignature(String(file["sig-sha256-ecdsa"]), served, publicKey);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
