// npm start: a whole update on one laptop, with nothing to install or configure. It starts a local
// cloud (broker, firmware server, service emulation), a simulated board on 1.0.0 as a separate
// process through the public command line, deploys 1.1.0, and narrates what happens until the
// cloud has the final report. Exits 0 when the outcome is the expected one.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { DeviceEvent } from "../hosts/node/device";
import { startLocalCloud, type LocalBackend, type LocalTarget } from "./clouds/local";
import { writeImageFile } from "./image/build";
import { humanRenderer } from "./commands/render";
import { generateSigningKey } from "./sign/index";

const USAGE = `Usage: npm start [-- --backend aws|thingsboard|tencent] [--rollback] [--size BYTES]

  --backend   the cloud to update through (default aws)
  --rollback  the new image fails its self-test: watch the bootloader return to 1.0.0 and the old
              image report the failure
  --size      size of the new image in bytes (default 1 MiB)`;

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      backend: { type: "string", default: "aws" },
      rollback: { type: "boolean", default: false },
      size: { type: "string", default: String(1024 * 1024) },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const backend = values.backend as LocalBackend;
  if (!["aws", "thingsboard", "tencent"].includes(backend)) {
    console.error(`unknown backend ${backend}\n\n${USAGE}`);
    return 2;
  }
  const say = (text: string) => console.log(`demo   | ${text}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-demo-"));
  const factory = path.join(dir, "app-1.0.0.bin");
  const update = path.join(dir, "app-1.1.0.bin");
  writeImageFile(factory, { version: "1.0.0", size: 256 * 1024 });
  writeImageFile(update, {
    version: "1.1.0",
    size: Math.ceil(Number(values.size) / 16) * 16,
    selfTest: values.rollback ? "fail" : "pass",
    seed: 11,
  });

  // A release key made for this run: the device trusts it, and the cloud signs the update with it.
  const releaseKey = generateSigningKey();
  const publicKey = path.join(dir, "release.pub.pem");
  fs.writeFileSync(publicKey, releaseKey.publicKeyPem);

  const cloud = await startLocalCloud(backend, { log: (line) => console.log(`cloud  | ${line}`) });
  say(`${backend} cloud on ${cloud.brokerUrl}, firmware server on ${cloud.firmwareUrl}`);
  const target: LocalTarget = {
    thing: "demo-1",
    token: "demo-token-1",
    product: "DEMOPRODUCT",
    device: "demo-1",
  };
  const { secret } = cloud.register(target);
  const identity =
    backend === "aws"
      ? ["--thing", "demo-1"]
      : backend === "thingsboard"
        ? ["--token", "demo-token-1"]
        : ["--product", "DEMOPRODUCT", "--device", "demo-1", "--secret", secret!];
  const args = [
    path.join(HERE, "otaflow.mjs"),
    "device",
    "--backend",
    backend,
    "--broker",
    cloud.brokerUrl,
    ...identity,
    "--flash",
    path.join(dir, "demo-1.flash"),
    "--factory",
    factory,
    "--public-key",
    publicKey,
    "--insecure-plaintext",
    "--json",
  ];
  say(
    "plain mqtt:// and http:// on loopback, allowed with --insecure-plaintext (otaflow cloud --tls DIR serves TLS)",
  );
  say(
    `images are signed with a release key made for this run (key digest ${releaseKey.digestHex})`,
  );
  say(`device: otaflow ${args.slice(1).join(" ")}`);
  const device = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const render = humanRenderer({ tty: Boolean(process.stdout.isTTY), prefix: "device | " });
  const boots: string[] = [];
  let finalDelivered!: () => void;
  const delivered = new Promise<void>((resolve) => (finalDelivered = resolve));
  let firstBoot!: () => void;
  const booted = new Promise<void>((resolve) => (firstBoot = resolve));
  readline.createInterface({ input: device.stdout }).on("line", (line) => {
    const event = JSON.parse(line) as DeviceEvent;
    render(event);
    if (
      event.event === "report" &&
      event.delivered &&
      ["succeeded", "failed"].includes(event.status)
    ) {
      finalDelivered();
    }
    if (event.event === "boot") {
      boots.push(event.version);
      firstBoot();
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    device.once("exit", (code) => resolve(code)),
  );

  let ok: boolean;
  try {
    await Promise.race([booted, exited.then(() => Promise.reject(new Error("the device exited")))]);
    say(`deploying 1.1.0${values.rollback ? " (an image whose self-test fails)" : ""}`);
    say(await cloud.deploy(update, target, { signingKey: releaseKey.privateKeyPem }));
    const outcome = await cloud.outcome(target, 120_000);
    // The device hears the cloud's acknowledgement a moment after the cloud records the status.
    await delivered;
    say(`the cloud's final status: ${outcome.status}`);
    const running = boots[boots.length - 1];
    ok = values.rollback
      ? !outcome.succeeded && running === "1.0.0"
      : outcome.succeeded && running === "1.1.0";
    say(
      ok
        ? values.rollback
          ? "the update failed its self-test, the board rolled back to 1.0.0, and the old image reported it"
          : "the board runs 1.1.0, confirmed, and the cloud was told only after the confirmation"
        : `unexpected outcome: the board runs ${running}`,
    );
  } finally {
    device.kill("SIGTERM");
    await exited;
    await cloud.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

process.exitCode = await main();
