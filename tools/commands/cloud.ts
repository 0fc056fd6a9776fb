// `cloud` runs a local cloud in the foreground; `deploy` asks a running one, over its small admin
// HTTP API on loopback, to publish an image and offer it to a device.
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { startAdminServer, type AdminServer, type DeployResponse } from "../admin/server";
import { startLocalCloud, type LocalTarget } from "../clouds/local";
import { ensurePki, PKI_FILES } from "../clouds/pki";
import type { FirmwareForm } from "../clouds/aws/index";
import { readSigningKeyFile } from "../sign/index";
import { backendName } from "./backends";
import { integer, parse, required, UsageError } from "./args";
import { adminRequest } from "./fleet";
import { stamp } from "./stamp";

const TARGET_USAGE = `Device options:
  aws          --thing NAME
  thingsboard  --token TOKEN [--title TITLE]
  tencent      --product ID --device NAME`;

export const CLOUD_USAGE = `Usage: otaflow cloud --backend aws|thingsboard|tencent [--tls DIR] [--port 1883] [--http-port 8070] [--admin-port 8071] [device options]

Runs, on loopback, an MQTT broker, a firmware HTTP server with Range support, an emulation of the
cloud's device API (AWS IoT Jobs, ThingsBoard, Tencent IoT Hub OTA), and the admin API with the
fleet dashboard (its URL is printed at start), until SIGINT/SIGTERM.
ThingsBoard and Tencent check device credentials: name the device here (--token, or --product and
--device). Tencent prints the device secret to give the device with --secret; it is kept (see
--secret) so that a restarted cloud lets the same devices in.
  --tls DIR       serve mqtts:// (port 8883 by default) and https:// with the PKI in DIR: ca.pem,
                  server.pem/.key, device.pem/.key (the device's client certificate, which the AWS
                  broker requires) and service.pem/.key; those missing are made with openssl
  --count N       register N devices: TOKEN-1..TOKEN-N, or NAME-1..NAME-N for Tencent (as
                  otaflow device --count N names them)
  --secret BASE64 the Tencent device secret; without it, the one kept in
                  ${secretsFile()} from an earlier start, else a new one (kept there)
  --sign-key KEY.pem  signs what the dashboard deploys (otaflow keygen)
  --rate BYTES    the firmware server's speed per download (e.g. 64KiB), to watch progress
${TARGET_USAGE}`;

export const DEPLOY_USAGE = `Usage: otaflow deploy --backend aws|thingsboard|tencent --image FILE [device options] [--sign-key KEY.pem] [--form FORM] [--admin URL] [--wait SECONDS]

Publishes FILE on the running local cloud's firmware server and offers it to the device (to every
device the cloud knows when none is named): an AWS job, a ThingsBoard firmware assignment, or a
Tencent update task. --wait prints the outcome once the
device has reported it (exit 1 if the update failed).
  --sign-key KEY.pem  signs FILE with this ECDSA P-256 or RSA-3072 key (otaflow keygen,
                      espsecure): an AWS afr_ota job carries the detached signature (ECDSA);
                      every other form and cloud serves FILE with its Secure Boot V2 sector
  --form FORM         the AWS job document: plain (default), nrf, zerynth or afr_ota
  --delta-from OLD.bin  AWS plain documents: also publish a heatshrink patch from OLD.bin (the
                      esp_delta_ota container, as otaflow delta makes it) and offer it in the
                      document's "delta"; a device running another image takes the full one
  --delta-only        leave the full image out of the document (a device not running OLD.bin
                      refuses the job)
  --admin URL         the cloud's admin API (default http://127.0.0.1:8071)
${TARGET_USAGE}`;

const FORMS: string[] = ["plain", "nrf", "zerynth", "afr_ota"] satisfies FirmwareForm[];

const TARGET_OPTIONS = {
  thing: { type: "string" },
  token: { type: "string" },
  title: { type: "string" },
  product: { type: "string" },
  device: { type: "string" },
} as const;

/** Where Tencent device secrets made by `otaflow cloud` are kept between starts. */
function secretsFile(): string {
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), ".local", "state");
  return path.join(base, "otaflow", "tencent-secrets.json");
}

/** The secret for product/device: given, kept from an earlier start, or new (then kept). */
function tencentSecret(product: string, device: string, given: string | undefined): string {
  const file = secretsFile();
  let kept: Record<string, string> = {};
  try {
    kept = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
  } catch {
    // No file yet, or an unreadable one: it is written anew below.
  }
  const key = `${product}/${device}`;
  const secret = given ?? kept[key] ?? randomBytes(18).toString("base64");
  if (kept[key] !== secret) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ ...kept, [key]: secret }, null, 2) + "\n", {
      mode: 0o600,
    });
  }
  return secret;
}

function targetOf(values: Record<string, unknown>): LocalTarget {
  const pick = (name: string) =>
    typeof values[name] === "string" ? (values[name] as string) : undefined;
  return {
    thing: pick("thing"),
    token: pick("token"),
    title: pick("title"),
    product: pick("product"),
    device: pick("device"),
  };
}

export async function cloudCommand(argv: string[]): Promise<void> {
  const values = parse(
    argv,
    {
      backend: { type: "string" },
      port: { type: "string" },
      "http-port": { type: "string" },
      "admin-port": { type: "string" },
      tls: { type: "string" },
      count: { type: "string" },
      secret: { type: "string" },
      "sign-key": { type: "string" },
      rate: { type: "string" },
      ...TARGET_OPTIONS,
    },
    CLOUD_USAGE,
  );
  if (values.help) return console.log(CLOUD_USAGE);
  const backend = backendName(values.backend, CLOUD_USAGE);
  const pkiDir = typeof values.tls === "string" ? path.resolve(values.tls) : undefined;
  const signKey = typeof values["sign-key"] === "string" ? values["sign-key"] : undefined;
  const signingKey = signKey === undefined ? undefined : fs.readFileSync(signKey, "utf8");
  if (signKey) readSigningKeyFile(signKey);
  const count = integer(values.count, "count");
  const port = integer(values.port, "port") ?? (pkiDir === undefined ? 1883 : 8883);
  const httpPort = integer(values["http-port"], "http-port") ?? 8070;
  const adminPort = integer(values["admin-port"], "admin-port") ?? 8071;
  const log = (line: string) => console.log(`${stamp()} [${backend}] ${line}`);
  const cloud = await startLocalCloud(backend, {
    tls: pkiDir === undefined ? undefined : ensurePki(pkiDir),
    port,
    httpPort,
    bytesPerSecond: integer(values.rate, "rate"),
    log,
  }).catch((error: unknown) => {
    throw busy(error, "--port or --http-port", `${port} or ${httpPort}`);
  });
  let admin: AdminServer;
  try {
    for (const target of fleetTargets(targetOf(values), count)) {
      if (target.product && target.device)
        target.secret = tencentSecret(target.product, target.device, values.secret as string);
      if (!target.token && !target.device && !target.thing) continue;
      cloud.register(target);
      if (target.secret) log(`device ${target.product}/${target.device} secret: ${target.secret}`);
    }
    admin = await startAdminServer(cloud, { port: adminPort, signingKey, log });
  } catch (error) {
    await cloud.close();
    throw busy(error, "--admin-port", String(adminPort));
  }
  // These two lines keep their form: scripts read the URLs and the device's options from them.
  console.log(
    `${backend} cloud: broker ${cloud.brokerUrl}, firmware ${cloud.firmwareUrl}, admin ${admin.url}`,
  );
  console.log(deviceTransport(backend, pkiDir));
  log(`dashboard: ${admin.url}/`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await admin.close();
  await cloud.close();
}

/** A port already taken, in words that say which option moves it. */
function busy(error: unknown, option: string, port: string): unknown {
  if ((error as { code?: string }).code !== "EADDRINUSE") return error;
  return new UsageError(
    `port ${(error as { port?: number }).port ?? port} on 127.0.0.1 is in use (another otaflow cloud, ` +
      `or a broker?): stop it, or choose another port with ${option}`,
  );
}

/** The target, or with --count its N numbered devices (as otaflow device --count names them). */
function fleetTargets(target: LocalTarget, count: number | undefined): LocalTarget[] {
  if (count === undefined) return [target];
  const numbered = (name: string | undefined, i: number) =>
    name === undefined ? undefined : `${name}-${i}`;
  return Array.from({ length: count }, (_, index) => ({
    ...target,
    thing: numbered(target.thing, index + 1),
    token: numbered(target.token, index + 1),
    device: numbered(target.device, index + 1),
  }));
}

export async function deployCommand(argv: string[]): Promise<void> {
  const values = parse(
    argv,
    {
      backend: { type: "string" },
      image: { type: "string" },
      admin: { type: "string" },
      wait: { type: "string" },
      "sign-key": { type: "string" },
      form: { type: "string" },
      "delta-from": { type: "string" },
      "delta-only": { type: "boolean" },
      ...TARGET_OPTIONS,
    },
    DEPLOY_USAGE,
  );
  if (values.help) return console.log(DEPLOY_USAGE);
  const backend = backendName(values.backend, DEPLOY_USAGE);
  const form = values.form as string | undefined;
  if (form !== undefined && (backend !== "aws" || !FORMS.includes(form)))
    throw new UsageError(`--form is for --backend aws, one of ${FORMS.join(", ")}`);
  const signKey =
    typeof values["sign-key"] === "string" ? path.resolve(values["sign-key"]) : undefined;
  // Checked here so that a bad key is named before the cloud is asked.
  if (signKey) readSigningKeyFile(signKey);
  const deltaFrom =
    typeof values["delta-from"] === "string" ? path.resolve(values["delta-from"]) : undefined;
  const deltaOnly = values["delta-only"] === true;
  if ((deltaFrom || deltaOnly) && (backend !== "aws" || (form ?? "plain") !== "plain"))
    throw new UsageError("--delta-from is for --backend aws with the plain job document");
  if (deltaOnly && !deltaFrom) throw new UsageError("--delta-only needs --delta-from");
  const image = path.resolve(required(values, "image", DEPLOY_USAGE));
  const adminUrl = (values.admin as string | undefined) ?? "http://127.0.0.1:8071";
  const waitSeconds = integer(values.wait, "wait");
  const target = targetOf(values);
  const result = await adminRequest<DeployResponse>(adminUrl, "/api/deploy", {
    image,
    // No device named: every device the cloud knows.
    target: Object.values(target).some((v) => v !== undefined) ? target : undefined,
    waitSeconds,
    signKey,
    form,
    deltaFrom,
    deltaOnly,
  });
  for (const summary of result.summaries) console.log(summary);
  for (const outcome of result.outcomes ?? []) {
    console.log(`outcome: ${outcome.status}`);
    if (!outcome.succeeded) process.exitCode = 1;
  }
}

/** The `otaflow device` options that reach this cloud's broker and firmware server. */
function deviceTransport(backend: string, pkiDir: string | undefined): string {
  if (pkiDir === undefined)
    return "plain mqtt:// and http://: give the device --insecure-plaintext, or start the cloud with --tls DIR";
  const file = (name: string) => path.join(pkiDir, name);
  const client =
    backend === "aws"
      ? ` --cert ${file(PKI_FILES.deviceCert)} --key ${file(PKI_FILES.deviceKey)}`
      : "";
  return `device TLS options: --ca ${file(PKI_FILES.ca)}${client}`;
}
