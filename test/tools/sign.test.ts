// Image signing as devices will check it: the appended otaflow block and AWS's detached DER
// signature, verified with Node's crypto (an implementation independent of the signer's framing);
// keys from otaflow keygen and from openssl; the commands run through the bin; and the local
// clouds serving what was signed to a device that asks over MQTT and HTTP.
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
import { keyId, parseSignatureBlock, SIGNATURE_BLOCK_SIZE } from "../../src/core/signature/block";
import { startLocalCloud, type LocalCloud } from "../../tools/clouds/local";
import { buildAppImage, writeImageFile } from "../../tools/image/build";
import {
  generateSigningKey,
  loadSigningKey,
  publicPoint,
  readSigningKeyFile,
  signAppended,
  signDetached,
} from "../../tools/sign/index";

const CLI = path.join(import.meta.dirname, "..", "..", "tools", "otaflow.mjs");
const run = promisify(execFile);
const OPENSSL = spawnSync("openssl", ["version"]).status === 0;
const opensslSkip = OPENSSL ? false : "openssl is not installed";

/** The point as the SPKI encoding of the public key ends with it, independently of the JWK. */
function spkiPoint(publicKey: crypto.KeyObject): Buffer {
  const der = publicKey.export({ type: "spki", format: "der" });
  return der.subarray(der.length - 65);
}

function independentKeyId(point: Uint8Array): string {
  return crypto.createHash("sha256").update(point).digest().subarray(0, 8).toString("hex");
}

/** Checks image||block: the block parses and Node's crypto accepts its signature over the image. */
function assertSignedWith(signed: Uint8Array, image: Uint8Array, publicKey: crypto.KeyObject) {
  assert.equal(signed.length, image.length + SIGNATURE_BLOCK_SIZE);
  assert.deepEqual(Buffer.from(signed.subarray(0, image.length)), Buffer.from(image));
  const block = parseSignatureBlock(signed.subarray(image.length));
  assert.equal(
    Buffer.from(block.digest).toString("hex"),
    crypto.createHash("sha256").update(image).digest("hex"),
  );
  const point = spkiPoint(publicKey);
  assert.equal(Buffer.from(block.keyId).toString("hex"), independentKeyId(point));
  assert.deepEqual(block.keyId, keyId(point));
  assert.equal(block.signature.length, 64);
  assert.ok(
    crypto.verify("sha256", image, { key: publicKey, dsaEncoding: "ieee-p1363" }, block.signature),
    "Node's crypto rejects the block's signature",
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

const image = buildAppImage({ version: "2.0.0", size: 8 * 1024, seed: 7 });

describe("signing library", () => {
  const generated = generateSigningKey();
  const key = loadSigningKey(generated.privateKeyPem);
  const publicKey = crypto.createPublicKey(generated.publicKeyPem);

  it("generates a P-256 key whose point and id are those of its public key", () => {
    const point = spkiPoint(publicKey);
    assert.equal(generated.publicKeyHex, point.toString("hex"));
    assert.deepEqual(Buffer.from(publicPoint(key)), point);
    assert.equal(generated.keyIdHex, independentKeyId(point));
    assert.equal(crypto.createPrivateKey(generated.privateKeyPem).type, "private");
    assert.match(generated.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  it("appends a block that parses and verifies over the image", () => {
    assertSignedWith(signAppended(image, key), image, publicKey);
  });

  it("refuses to sign an image that already ends with a block", () => {
    assert.throws(
      () => signAppended(signAppended(image, key), key),
      /already ends with an otaflow signature block/,
    );
  });

  it("makes a detached base64 DER signature over the whole image", () => {
    assertDetachedSignature(signDetached(image, key), image, publicKey);
  });

  it("loads openssl's SEC1 and PKCS#8 P-256 keys", { skip: opensslSkip }, () => {
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
      assert.deepEqual(Buffer.from(publicPoint(loaded)), spkiPoint(pub), form);
      assertSignedWith(signAppended(image, loaded), image, pub);
    }
  });

  it("refuses RSA and P-384 keys, public keys, encrypted keys and text that is no key", () => {
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 });
    const p384 = crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    const pem = (k: crypto.KeyObject) => k.export({ type: "pkcs8", format: "pem" }) as string;
    assert.throws(
      () => loadSigningKey(pem(rsa.privateKey)),
      /the key is RSA, not EC: otaflow signs with ECDSA P-256/,
    );
    assert.throws(
      () => loadSigningKey(pem(p384.privateKey)),
      /the key is on curve secp384r1, not prime256v1: otaflow signs with ECDSA P-256/,
    );
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

  it("refuses openssl's RSA and P-384 keys", { skip: opensslSkip }, () => {
    const rsa = openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
    const p384 = openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout"]);
    assert.throws(() => loadSigningKey(rsa), /the key is RSA, not EC/);
    assert.throws(() => loadSigningKey(p384), /on curve secp384r1/);
  });

  it("names the key file it cannot read", (t) => {
    const missing = path.join(tempDir(t), "absent.pem");
    assert.throws(() => readSigningKeyFile(missing), /cannot read the signing key .*absent\.pem/);
  });
});

describe("otaflow keygen and sign", () => {
  it("lists the commands in its help", async () => {
    const help = await cli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^ {2}keygen /m);
    assert.match(help.stdout, /^ {2}sign /m);
    const sign = await cli(["sign", "--help"]);
    assert.match(sign.stdout, /^Usage: otaflow sign --key KEY\.pem/);
  });

  it("makes a key, signs appended and detached, and Node's crypto verifies both", async (t) => {
    const dir = tempDir(t);
    const prefix = path.join(dir, "release");
    const made = await cli(["keygen", "--out", prefix]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(fs.statSync(`${prefix}.pem`).mode & 0o777, 0o600);
    const publicKey = crypto.createPublicKey(fs.readFileSync(`${prefix}.pub.pem`, "utf8"));
    const point = spkiPoint(publicKey);
    assert.match(made.stdout, new RegExp(`key id +${independentKeyId(point)}$`, "m"));
    assert.match(made.stdout, new RegExp(`public key +${point.toString("hex")}$`, "m"));

    const again = await cli(["keygen", "--out", prefix]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /release\.pem exists: keygen never overwrites a key/);

    const unsigned = path.join(dir, "app.bin");
    const signedFile = path.join(dir, "app.signed.bin");
    writeImageFile(unsigned, { version: "3.1.0", size: 16 * 1024 });
    const bytes = new Uint8Array(fs.readFileSync(unsigned));
    const key = ["--key", `${prefix}.pem`];
    const signed = await cli(["sign", ...key, "--image", unsigned, "--out", signedFile]);
    assert.equal(signed.code, 0, signed.stderr);
    assertSignedWith(new Uint8Array(fs.readFileSync(signedFile)), bytes, publicKey);

    const detached = await cli(["sign", ...key, "--image", unsigned, "--detached"]);
    assert.equal(detached.code, 0, detached.stderr);
    assertDetachedSignature(detached.stdout.trim(), bytes, publicKey);

    const twice = await cli(["sign", ...key, "--image", signedFile, "--out", path.join(dir, "x")]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /app\.signed\.bin already ends with an otaflow signature block/);
    assert.ok(!fs.existsSync(path.join(dir, "x")));
  });

  it("names an unusable key", async (t) => {
    const dir = tempDir(t);
    const unsigned = path.join(dir, "app.bin");
    writeImageFile(unsigned, { version: "3.1.0", size: 16 * 1024 });
    const rsaFile = path.join(dir, "rsa.pem");
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    fs.writeFileSync(rsaFile, rsa.export({ type: "pkcs1", format: "pem" }));
    const out = path.join(dir, "out.bin");
    const withRsa = await cli(["sign", "--key", rsaFile, "--image", unsigned, "--out", out]);
    assert.equal(withRsa.code, 1);
    assert.match(withRsa.stderr, /signing key .*rsa\.pem: the key is RSA, not EC/);
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

  it("AWS plain: the image is served with its block, and size and SHA-256 cover both", async () => {
    const cloud = await startLocalCloud("aws");
    clouds.push(cloud);
    const summary = await cloud.deploy(imageFile, { thing: "signed-2" }, { signingKey: keyPem });
    assert.match(summary, /signature block appended/);
    const document = await nextJobDocument(cloud.brokerUrl, "signed-2");
    const served = await download(String(document.url));
    assertSignedWith(served, new Uint8Array(fs.readFileSync(imageFile)), publicKey);
    assert.equal(document.size, served.length);
    assert.equal(document.sha256, crypto.createHash("sha256").update(served).digest("hex"));
  });

  it("ThingsBoard: the chunks a device fetches are the image and its block", async () => {
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
