// `cloud` runs a local cloud in the foreground; `deploy` asks a running one, over its small admin
// HTTP API on loopback, to publish an image and offer it to a device.
import * as http from "node:http";
import * as path from "node:path";
import { startLocalCloud, type LocalTarget } from "../clouds/local";
import { backendName } from "./backends";
import { integer, parse, required, UsageError } from "./args";

const TARGET_USAGE = `Device options:
  aws          --thing NAME
  thingsboard  --token TOKEN [--title TITLE]
  tencent      --product ID --device NAME`;

export const CLOUD_USAGE = `Usage: otaflow cloud --backend aws|thingsboard|tencent [--port 1883] [--http-port 8070] [--admin-port 8071] [device options]

Runs, on loopback, an MQTT broker, a firmware HTTP server with Range support, and an emulation of the
cloud's device API (AWS IoT Jobs, ThingsBoard, Tencent IoT Hub OTA), until SIGINT/SIGTERM.
ThingsBoard and Tencent check device credentials: name the device here (--token, or --product and
--device; Tencent prints the device secret to give the device with --secret).
${TARGET_USAGE}`;

export const DEPLOY_USAGE = `Usage: otaflow deploy --backend aws|thingsboard|tencent --image FILE [device options] [--admin URL] [--wait SECONDS]

Publishes FILE on the running local cloud's firmware server and offers it to the device: an AWS job,
a ThingsBoard firmware assignment, or a Tencent update task. --wait prints the outcome once the
device has reported it (exit 1 if the update failed).
  --admin URL   the cloud's admin API (default http://127.0.0.1:8071)
${TARGET_USAGE}`;

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
      ...TARGET_OPTIONS,
    },
    CLOUD_USAGE,
  );
  if (values.help) return console.log(CLOUD_USAGE);
  const backend = backendName(values.backend, CLOUD_USAGE);
  const cloud = await startLocalCloud(backend, {
    port: integer(values.port, "port") ?? 1883,
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
        waitSeconds?: number;
      };
      if (request.url === "/deploy" && request.method === "POST") {
        const summary = await cloud.deploy(body.image, body.target);
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
    `${backend} cloud: broker ${cloud.brokerUrl}, firmware ${cloud.firmwareUrl}, admin http://127.0.0.1:${adminPort}`,
  );
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
      ...TARGET_OPTIONS,
    },
    DEPLOY_USAGE,
  );
  if (values.help) return console.log(DEPLOY_USAGE);
  backendName(values.backend, DEPLOY_USAGE);
  const image = path.resolve(required(values, "image", DEPLOY_USAGE));
  const adminUrl = (values.admin as string | undefined) ?? "http://127.0.0.1:8071";
  const waitSeconds = integer(values.wait, "wait");
  const response = await fetch(`${adminUrl}/deploy`, {
    method: "POST",
    body: JSON.stringify({ image, target: targetOf(values), waitSeconds }),
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
