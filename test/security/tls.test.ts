// TLS by default. The device updates over mqtts:// (with its client certificate where the cloud
// requires one, as AWS IoT does) and downloads over https://, trusting only the CA it is given:
// through the command line against `otaflow cloud --tls`, and against mosquitto and nginx. A
// server whose certificate another CA signed (a man in the middle) is refused, broker and
// firmware server alike, with an error that says so; plain mqtt:// and http:// need an explicit
// --insecure-plaintext, loopback included.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { after, before, describe, it } from "node:test";
import { createAwsBackend, mqttIdentity } from "../../src/backends/aws/index";
import { runDevice, type DeviceEvent } from "../../hosts/node/device";
import { startEmbeddedBroker } from "../../tools/broker/index";
import { firmwareJobDocument, startAwsCloud } from "../../tools/clouds/aws/index";
import { buildAppImage, writeImageFile } from "../../tools/image/build";
import { makePki, type Pki } from "../support/certs";
import { mosquittoSkip, startMosquitto } from "../support/mosquitto";
import { nginxUnavailable, startNginx } from "../support/nginx";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, boots, offerOf } from "../support/sim";

const CLI = path.join(import.meta.dirname, "..", "..", "tools", "otaflow.mjs");

let dir: string;
let pki: Pki;
/** Signs certificates for the man in the middle: valid ones, from a CA the device does not trust. */
let attacker: Pki;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-tls-"));
  pki = makePki();
  attacker = makePki("attacker CA");
});

after(() => {
  for (const d of [dir, pki.dir, attacker.dir]) fs.rmSync(d, { recursive: true, force: true });
});

/** Starts the command line; `lines` sees stdout line by line. */
function cli(args: string[], lines: (line: string) => void = () => {}) {
  let stderr = "";
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  readline.createInterface({ input: child.stdout! }).on("line", lines);
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, stderr })),
  );
  return { child, exited };
}

async function stop(run: ReturnType<typeof cli>): Promise<void> {
  if (run.child.exitCode === null) run.child.kill("SIGTERM");
  await run.exited;
}

const finalReport = (e: DeviceEvent) =>
  e.event === "report" && e.delivered && ["succeeded", "failed", "rejected"].includes(e.status);

describe("otaflow device and otaflow cloud --tls", () => {
  it("update over mqtts with the device's client certificate (AWS) and https, trusting the CA", async () => {
    const pkiDir = path.join(dir, "cloud-pki");
    let announce!: (urls: string[]) => void;
    const announced = new Promise<string[]>((resolve) => (announce = resolve));
    const seen: string[] = [];
    const cloud = cli(
      ["cloud", "--backend", "aws", "--tls", pkiDir, "--port", "0", "--http-port", "0"].concat([
        "--admin-port",
        "0",
      ]),
      (line) => {
        seen.push(line);
        const options = /^device TLS options: (.*)$/.exec(line);
        const urls = /^aws cloud: broker (\S+), firmware (\S+), admin (\S+)$/.exec(
          seen[seen.length - 2] ?? "",
        );
        if (options && urls) announce([urls[1], urls[2], urls[3], options[1]]);
      },
    );
    const device = { run: undefined as ReturnType<typeof cli> | undefined };
    try {
      const [broker, firmware, admin, tlsOptions] = await Promise.race([
        announced,
        cloud.exited.then(({ stderr }) => assert.fail(`the cloud exited: ${stderr}`)),
      ]);
      assert.match(broker, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      assert.match(firmware, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = path.join(pkiDir, "ca.pem");
      assert.equal(
        tlsOptions,
        `--ca ${ca} --cert ${path.join(pkiDir, "device.pem")} --key ${path.join(pkiDir, "device.key")}`,
      );

      const factory = path.join(dir, "cli-100.bin");
      const update = path.join(dir, "cli-110.bin");
      writeImageFile(factory, { version: "1.0.0", size: 64 * 1024 });
      writeImageFile(update, { version: "1.1.0", size: 256 * 1024, seed: 4 });
      const events: DeviceEvent[] = [];
      let booted!: () => void;
      const firstBoot = new Promise<void>((resolve) => (booted = resolve));
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      device.run = cli(
        ["device", "--backend", "aws", "--broker", broker, "--thing", "tls-1"]
          .concat(["--flash", path.join(dir, "cli.flash"), "--factory", factory, "--json"])
          .concat(tlsOptions.split(" ")),
        (line) => {
          const event = JSON.parse(line) as DeviceEvent;
          events.push(event);
          if (event.event === "boot") booted();
          if (finalReport(event)) done();
        },
      );
      await firstBoot;
      const deploy = cli(
        ["deploy", "--backend", "aws", "--thing", "tls-1", "--image", update].concat([
          "--admin",
          admin,
        ]),
      );
      assert.equal((await deploy.exited).code, 0);
      await Promise.race([
        finished,
        device.run.exited.then(({ stderr }) => assert.fail(`the device exited: ${stderr}`)),
      ]);
      assert.deepEqual(
        boots(events).map((b) => b.version),
        ["1.0.0", "1.1.0"],
      );
      const last = events.filter(finalReport).pop();
      assert.equal(last?.event === "report" && last.status, "succeeded");
      assert.ok(!events.some((e) => e.event === "log" && e.level === "error"));
    } finally {
      if (device.run) await stop(device.run);
      await stop(cloud);
    }
  });

  it("plain mqtt:// needs --insecure-plaintext, loopback included, and says how to fix it", async () => {
    const base = [
      "device",
      "--backend",
      "aws",
      "--thing",
      "t",
      "--flash",
      path.join(dir, "x.flash"),
    ];
    const refused = await cli(base.concat(["--broker", "mqtt://127.0.0.1:1883"])).exited;
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--broker mqtt:\/\/127\.0\.0\.1:1883 is plain MQTT/);
    assert.match(refused.stderr, /Use mqtts:\/\/ with --ca .* or pass --insecure-plaintext/);
    const pattern = await cli(
      base.concat(["--broker", "mqtts://127.0.0.1:8883", "--allow-host", "https://fw.example.com"]),
    ).exited;
    assert.equal(pattern.code, 2);
    assert.match(pattern.stderr, /--allow-host https:\/\/fw\.example\.com: give a host name/);
  });
});

describe("against mosquitto and nginx", { skip: mosquittoSkip ?? nginxUnavailable() }, () => {
  it("AWS over mqtts with client certificates required, the image from nginx over https", async () => {
    const root = fs.mkdtempSync(path.join(dir, "nginx-"));
    const image = buildAppImage({ version: "1.1.0", size: 200 * 1024, seed: 6 });
    fs.writeFileSync(path.join(root, "fw-1.1.0.bin"), image);
    const nginx = await startNginx(root, {
      tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey },
    });
    const mosquitto = await startMosquitto({ pki });
    const aws = await startAwsCloud({
      brokerUrl: mosquitto.url,
      tls: { ca: pki.ca, ...pki.client("aws-cloud") },
    });
    try {
      assert.match(nginx.url, /^https:/);
      const thingName = "tls-mosquitto";
      const jobId = await aws.deploy({
        thingName,
        document: firmwareJobDocument("plain", {
          url: `${nginx.url}/fw-1.1.0.bin`,
          size: image.length,
          version: "1.1.0",
          sha256: createHash("sha256").update(image).digest("hex"),
        }),
      });
      const factory = path.join(dir, "mosquitto-100.bin");
      writeImageFile(factory, { version: "1.0.0", size: 64 * 1024 });
      const events: DeviceEvent[] = [];
      let powerOff!: () => void;
      const off = new Promise<void>((resolve) => (powerOff = resolve));
      const timer = setTimeout(powerOff, 30_000);
      await runDevice({
        flashPath: path.join(dir, "mosquitto.flash"),
        factoryImagePath: factory,
        cloud: {
          brokerUrl: mosquitto.url,
          identity: mqttIdentity({ thingName }),
          tls: { ca: pki.ca, ...pki.client(thingName) },
          createBackend: (deps) => createAwsBackend({ thingName }, deps),
        },
        agent: { backoff: { baseMs: 10, maxMs: 50 }, allowedHosts: ["127.0.0.1"] },
        powerOff: off,
        onEvent: (event) => {
          events.push(event);
          if (finalReport(event)) powerOff();
        },
      });
      clearTimeout(timer);
      assert.deepEqual(
        boots(events).map((b) => b.version),
        ["1.0.0", "1.1.0"],
      );
      assert.equal(aws.execution(thingName, jobId)?.status, "SUCCEEDED");
    } finally {
      await aws.close();
      await mosquitto.close();
      await nginx.stop();
    }
  });
});

describe("a man in the middle", () => {
  it("a broker whose certificate another CA signed is refused, and the device says why", async () => {
    const broker = await startEmbeddedBroker({
      tls: { cert: attacker.serverCert, key: attacker.serverKey },
    });
    let connects = 0;
    broker.aedes.on("client", () => connects++);
    const events: DeviceEvent[] = [];
    let powerOff!: () => void;
    const off = new Promise<void>((resolve) => (powerOff = resolve));
    const timer = setTimeout(powerOff, 10_000);
    try {
      await runDevice({
        flashPath: path.join(dir, "mitm-mqtt.flash"),
        factoryImagePath: writeFactory("mitm-mqtt-100.bin"),
        cloud: {
          brokerUrl: broker.url,
          identity: mqttIdentity({ thingName: "mitm-1" }),
          tls: { ca: pki.ca, ...pki.client("mitm-1") },
          createBackend: (deps) => createAwsBackend({ thingName: "mitm-1" }, deps),
        },
        powerOff: off,
        onEvent: (event) => {
          events.push(event);
          if (event.event === "log" && event.level === "error") powerOff();
        },
      });
    } finally {
      clearTimeout(timer);
      await broker.close();
    }
    const errors = events.flatMap((e) => (e.event === "log" && e.level === "error" ? [e] : []));
    // Each attempt says why (the backoff between attempts keeps them few).
    assert.ok(errors.length >= 1);
    for (const error of errors)
      assert.match(
        error.message,
        new RegExp(
          `^MQTT connection to ${broker.url} failed: the server's certificate is not trusted \\(.+\\): ` +
            "a man in the middle, or a server whose CA was not given with --ca; trying again in \\d+ ms$",
        ),
      );
    assert.equal(connects, 0);
  });

  describe("the firmware server", () => {
    let bench: SimBench;
    before(async () => {
      bench = await SimBench.start({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    });
    after(() => bench.close());

    function httpsOffer(name: string, version: string) {
      const image = bench.image(name, { version, size: 96 * 1024, seed: 9 });
      assert.match(image.url, /^https:/);
      return offerOf(image, version, { hashes: { sha256: image.sha256 } });
    }

    it("is trusted through the CA it was given, without plaintext", async () => {
      fs.rmSync(bench.flashPath, { force: true });
      const cloud = new ScriptedCloud();
      cloud.offer = httpsOffer("trusted.bin", "1.1.0");
      const events = await bench.run({
        factory: bench.image("f100.bin", { version: "1.0.0", size: 64 * 1024 }),
        backend: () => cloud.backend(),
        tls: { ca: pki.ca },
        agent: { allowPlaintext: false },
        until: finalReport,
      });
      assert.deepEqual(
        boots(events).map((b) => b.version),
        ["1.0.0", "1.1.0"],
      );
      assert.equal(cloud.reports[cloud.reports.length - 1].status, "succeeded");
    });

    it("is refused when its certificate does not chain to the device's CA", async () => {
      fs.rmSync(bench.flashPath, { force: true });
      const served = bench.server.requests.length;
      const cloud = new ScriptedCloud();
      cloud.offer = httpsOffer("intercepted.bin", "1.2.0");
      const events = await bench.run({
        factory: bench.image("f100.bin", { version: "1.0.0", size: 64 * 1024 }),
        backend: () => cloud.backend(),
        tls: { ca: attacker.ca },
        agent: { maxAttempts: 2 },
        until: finalReport,
      });
      assert.equal(boots(events).length, 1);
      assert.deepEqual(cloud.statuses(), ["downloading", "failed"]);
      const failure = cloud.reports[cloud.reports.length - 1].failure!;
      // No retry cures a certificate: it fails at the first attempt, with its own code.
      assert.equal(failure.code, "tls-untrusted");
      assert.match(
        failure.message,
        /^the server's certificate is not trusted \(.+\): a man in the middle/,
      );
      assert.equal(bench.server.requests.length, served, "no request got through");
    });

    it("serving plain http:// is refused unless plaintext is allowed, before a byte is fetched", async () => {
      const plain = await SimBench.start();
      try {
        const cloud = new ScriptedCloud();
        const image = plain.image("plain.bin", { version: "1.3.0", size: 32 * 1024 });
        cloud.offer = {
          backend: "scripted",
          id: "job-plain",
          version: "1.3.0",
          size: image.size,
          source: { kind: "http", url: `${image.url}?X-Amz-Signature=secret` },
          hashes: { sha256: image.sha256 },
          context: {},
        };
        const events = await plain.run({
          factory: plain.image("f100.bin", { version: "1.0.0", size: 64 * 1024 }),
          backend: () => cloud.backend(),
          agent: { allowPlaintext: false },
          until: finalReport,
        });
        assert.equal(boots(events).length, 1);
        const last = cloud.reports[cloud.reports.length - 1];
        assert.equal(last.status, "rejected");
        assert.equal(last.failure?.code, "offer-untrusted");
        assert.equal(
          last.failure?.message,
          `the image URL ${plain.server.url} is plain http://, refused because allowPlaintext is off: serve the image over https:// (or allow plaintext for development)`,
        );
        assert.equal(plain.server.requests.length, 0);
      } finally {
        await plain.close();
      }
    });
  });
});

function writeFactory(name: string): string {
  const file = path.join(dir, name);
  writeImageFile(file, { version: "1.0.0", size: 64 * 1024 });
  return file;
}
