// The local cloud's admin API and fleet dashboard, on loopback: what `otaflow status`, `jobs`,
// `cancel` and `deploy` ask, and the page a browser opens. JSON in and out; the dashboard's live
// updates are Server-Sent Events carrying the whole fleet view whenever it changes.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { FirmwareForm } from "../clouds/aws/index";
import { BoardRegistry, type BoardTelemetry, type FleetView } from "../clouds/fleet";
import type { LocalCloud, LocalTarget, Outcome } from "../clouds/local";
import { dashboardAssets } from "./assets";

/** POST /api/deploy: an image file on this machine (`image`) or its bytes (`imageBase64`). */
export interface DeployRequest {
  image?: string;
  imageBase64?: string;
  /** One device, or several; none means every device the fleet view knows. */
  target?: LocalTarget;
  targets?: LocalTarget[];
  /** A PEM file to sign with; the cloud's --sign-key when absent. */
  signKey?: string;
  form?: FirmwareForm;
  /** AWS plain documents: a patch from this base image file goes with the image. */
  deltaFrom?: string;
  /** The document carries the patch alone. */
  deltaOnly?: boolean;
  waitSeconds?: number;
}

export interface DeployResponse {
  summaries: string[];
  outcomes?: Outcome[];
}

export const ROUTES = {
  "GET /": "this dashboard (text/html), or this index (application/json)",
  "GET /api/fleet": "devices: version, slots, job in flight with progress, report history",
  "GET /api/jobs": "jobs and assignments, newest first",
  "GET /api/events":
    "Server-Sent Events: a `fleet` event with GET /api/fleet's body at each change",
  "POST /api/deploy":
    '{"image": FILE | "imageBase64": BYTES, "target": {...} | "targets": [...] (default: every device), "signKey"?, "form"?, "deltaFrom"?, "deltaOnly"?, "waitSeconds"?}',
  "POST /api/jobs/ID/cancel": "withdraws a job that has not ended",
  "POST /api/boards": "a simulated board's slots and connection (otaflow device --admin)",
};

export interface AdminServer {
  url: string;
  boards: BoardRegistry;
  close(): Promise<void>;
}

export interface AdminOptions {
  port: number;
  /** The signing key (PEM text) for deployments that name none. */
  signingKey?: string;
  log: (line: string) => void;
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
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

async function readJson<T>(request: http.IncomingMessage): Promise<T> {
  const text = await readBody(request);
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new RequestError(400, `the body must be JSON: ${(error as Error).message}`);
  }
}

/** Listens on 127.0.0.1:port; rejects (EADDRINUSE...) without leaving anything open. */
export async function startAdminServer(
  cloud: LocalCloud,
  options: AdminOptions,
): Promise<AdminServer> {
  const boards = new BoardRegistry();
  const fleet = (): FleetView => cloud.fleet(boards);
  const streams = new Set<http.ServerResponse>();
  let last = "";
  // The clouds keep records, not listeners: the view is compared a few times a second.
  const ticker = setInterval(() => {
    if (streams.size === 0) return;
    const text = JSON.stringify(fleet());
    if (text === last) return;
    last = text;
    for (const stream of streams) stream.write(`event: fleet\ndata: ${text}\n\n`);
  }, 250);

  const deploy = async (body: DeployRequest): Promise<DeployResponse> => {
    if (!body.image && !body.imageBase64)
      throw new RequestError(400, "give image (a file path) or imageBase64 (its bytes)");
    let file = body.image;
    let scratch: string | undefined;
    if (!file) {
      scratch = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-upload-"));
      file = path.join(scratch, "image.bin");
      fs.writeFileSync(file, Buffer.from(body.imageBase64!, "base64"));
    }
    try {
      const targets =
        body.targets ?? (body.target ? [body.target] : fleet().devices.map((d) => d.target));
      if (targets.length === 0)
        throw new RequestError(400, "no device to deploy to: none is known yet");
      const signingKey =
        body.signKey === undefined ? options.signingKey : fs.readFileSync(body.signKey, "utf8");
      const summaries: string[] = [];
      for (const target of targets) {
        const summary = await cloud.deploy(file, target, {
          signingKey,
          form: body.form,
          deltaFrom: body.deltaFrom,
          deltaOnly: body.deltaOnly,
        });
        options.log(`deployed: ${summary}`);
        summaries.push(summary);
      }
      if (!body.waitSeconds) return { summaries };
      const outcomes = await Promise.all(
        targets.map((target) => cloud.outcome(target, body.waitSeconds! * 1000)),
      );
      for (const outcome of outcomes) options.log(`outcome: ${outcome.status}`);
      return { summaries, outcomes };
    } finally {
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    }
  };

  const route = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://admin");
    const key = `${request.method} ${url.pathname}`;
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body, null, 2) + "\n");
    };
    if (key === "GET /") {
      if ((request.headers.accept ?? "").includes("text/html")) {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return response.end((await dashboardAssets()).html);
      }
      return json(200, { backend: cloud.backend, routes: ROUTES });
    }
    if (key === "GET /app.js" || key === "GET /app.css") {
      const assets = await dashboardAssets();
      const css = key.endsWith(".css");
      response.writeHead(200, {
        "content-type": css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
      });
      return response.end(css ? assets.css : assets.js);
    }
    if (key === "GET /api/fleet") return json(200, fleet());
    if (key === "GET /api/jobs") return json(200, fleet().jobs);
    if (key === "GET /api/events") {
      response.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      response.write(`event: fleet\ndata: ${JSON.stringify(fleet())}\n\n`);
      streams.add(response);
      request.on("close", () => streams.delete(response));
      return;
    }
    if (key === "POST /api/deploy") return json(200, await deploy(await readJson(request)));
    if (key === "POST /api/boards") {
      boards.post(await readJson<BoardTelemetry>(request));
      return json(200, {});
    }
    const cancel = /^\/api\/jobs\/([^/]+)\/cancel$/.exec(url.pathname);
    if (cancel && request.method === "POST") {
      const summary = await cloud.cancel(decodeURIComponent(cancel[1]));
      options.log(summary);
      return json(200, { summary });
    }
    json(404, { error: `no ${key}`, routes: ROUTES });
  };

  const server = http.createServer((request, response) => {
    route(request, response).catch((error: Error) => {
      const status = error instanceof RequestError ? error.status : 400;
      if (!response.headersSent) response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: error.message }) + "\n");
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, "127.0.0.1", () => resolve());
    });
  } catch (error) {
    clearInterval(ticker);
    throw error;
  }
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    boards,
    async close() {
      clearInterval(ticker);
      for (const stream of streams) stream.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
