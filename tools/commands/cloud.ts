// `cloud` runs a local cloud in the foreground; `deploy` asks a running one, over its small admin
// HTTP API on loopback, to publish an image and offer it to a device.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { startLocalCloud, type LocalTarget } from "../clouds/local";
import { ensurePki, PKI_FILES } from "../clouds/pki";
import type { FirmwareForm } from "../clouds/aws/index";
import { readSigningKeyFile } from "../sign/index";
import { backendName } from "./backends";
import { integer, parse, required, UsageError } from "./args";

const TARGET_USAGE = `Device options:
  aws          --thing NAME
  thingsboard  --token TOKEN [--title TITLE]
  tencent      --product ID --device NAME`;

export const CLOUD_USAGE = `Usage: otaflow cloud --backend aws|thingsboard|tencent [--tls DIR] [--port 1883] [--http-port 8070] [--admin-port 8071] [device options]

Runs, on loopback, an MQTT broker, a firmware HTTP server with Range support, and an emulation of the
cloud's device API (AWS IoT Jobs, ThingsBoard, Tencent IoT Hub OTA), until SIGINT/SIGTERM.
ThingsBoard and Tencent check device credentials: name the device here (--token, or --product and
--device; Tencent prints the device secret to give the device with --secret).
  --tls DIR     serve mqtts:// (port 8883 by default) and https:// with the PKI in DIR: ca.pem,
                server.pem/.key, device.pem/.key (the device's client certificate, which the AWS
                broker requires) and service.pem/.key; those missing are made with openssl
${TARGET_USAGE}`;

export const DEPLOY_USAGE = `Usage: otaflow deploy --backend aws|thingsboard|tencent --image FILE [device options] [--sign-key KEY.pem] [--form FORM] [--admin URL] [--wait SECONDS]

Publishes FILE on the running local cloud's firmware server and offers it to the device: an AWS job,
a ThingsBoard firmware assignment, or a Tencent update task. --wait prints the outcome once the
device has reported it (exit 1 if the update failed).
  --sign-key KEY.pem  signs FILE with this ECDSA P-256 or RSA-3072 key (otaflow keygen,
                      espsecure): an AWS afr_ota job carries the detached signature (ECDSA);
                      every other form and cloud serves FILE with its Secure Boot V2 sector
  --form FORM         the AWS job document: plain (default), nrf, zerynth or afr_ota
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

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (text += chunk));
    request.on("end", () => resolve(text));
    request.on("error", reject);
  });
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
      ...TARGET_OPTIONS,
    },
    CLOUD_USAGE,
  );
  if (values.help) return console.log(CLOUD_USAGE);
  const backend = backendName(values.backend, CLOUD_USAGE);
  const pkiDir = typeof values.tls === "string" ? path.resolve(values.tls) : undefined;
  const cloud = await startLocalCloud(backend, {
    tls: pkiDir === undefined ? undefined : ensurePki(pkiDir),
    port: integer(values.port, "port") ?? (pkiDir === undefined ? 1883 : 8883),
    httpPort: integer(values["http-port"], "http-port") ?? 8070,
    log: (line) => console.log(`[${backend}] ${line}`),
  });
  const target = targetOf(values);
  if (target.token || target.device) {
    const { secret } = cloud.register(target);
    if (secret) console.log(`device ${target.product}/${target.device} secret: ${secret}`);
  }
  const admin = http.createServer(async (request, response) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    try {
      const body = JSON.parse(await readBody(request)) as {
        image: string;
        target: LocalTarget;
        signKey?: string;
        form?: FirmwareForm;
        waitSeconds?: number;
      };
      if (request.url === "/deploy" && request.method === "POST") {
        const summary = await cloud.deploy(body.image, body.target, {
          signingKey:
            body.signKey === undefined ? undefined : fs.readFileSync(body.signKey, "utf8"),
          form: body.form,
        });
        console.log(`deployed: ${summary}`);
        const outcome = body.waitSeconds
          ? await cloud.outcome(body.target, body.waitSeconds * 1000)
          : undefined;
        if (outcome) console.log(`outcome: ${outcome.status}`);
        return reply(200, { summary, outcome });
      }
      reply(404, { error: "POST /deploy" });
    } catch (error) {
      reply(400, { error: (error as Error).message });
    }
  });
  const adminPort = integer(values["admin-port"], "admin-port") ?? 8071;
  await new Promise<void>((resolve) => admin.listen(adminPort, "127.0.0.1", resolve));
  console.log(
    `${backend} cloud: broker ${cloud.brokerUrl}, firmware ${cloud.firmwareUrl}, admin http://127.0.0.1:${(admin.address() as AddressInfo).port}`,
  );
  console.log(deviceTransport(backend, pkiDir));
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  admin.close();
  await cloud.close();
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
  const image = path.resolve(required(values, "image", DEPLOY_USAGE));
  const adminUrl = (values.admin as string | undefined) ?? "http://127.0.0.1:8071";
  const waitSeconds = integer(values.wait, "wait");
  const response = await fetch(`${adminUrl}/deploy`, {
    method: "POST",
    body: JSON.stringify({ image, target: targetOf(values), waitSeconds, signKey, form }),
  }).catch((error: Error) => {
    throw new UsageError(
      `no local cloud answers at ${adminUrl} (${error.message}): start one with otaflow cloud`,
    );
  });
  const result = (await response.json()) as {
    summary?: string;
    outcome?: { succeeded: boolean; status: string };
    error?: string;
  };
  if (result.error) throw new Error(result.error);
  console.log(result.summary);
  if (result.outcome) {
    console.log(`outcome: ${result.outcome.status}`);
    if (!result.outcome.succeeded) process.exitCode = 1;
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
