// One face for the three local clouds, as the `cloud` and `deploy` commands and the demo use them:
// a broker, a firmware HTTP server with Range support, and the cloud's own service logic.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createPatch } from "../delta/create";
import { parseImageHeader, IMAGE_PREFIX_SIZE } from "../../src/core/image/esp-image";
import { startEmbeddedBroker, type RunningBroker } from "../broker/index";
import { startFirmwareServer, type FirmwareServer, type RequestRecord } from "../fwserver/index";
import { loadSigningKey, signAppended, signDetached, type SigningKey } from "../sign/index";
import { firmwareJobDocument, startAwsCloud, type AwsCloud, type FirmwareForm } from "./aws/index";
import {
  deviceId,
  fleetView,
  parseProgress,
  percentOf,
  type BoardRegistry,
  type FleetView,
  type JobView,
  type ReportView,
} from "./fleet";
import type { LocalTls } from "./pki";
import { startThingsBoardCloud, type ThingsBoardCloud } from "./thingsboard/index";
import { startTencentCloud, type TencentCloud } from "./tencent/index";

export type LocalBackend = "aws" | "thingsboard" | "tencent";

/** Which device a deployment is for, in each cloud's terms. */
export interface LocalTarget {
  /** AWS thing name. */
  thing?: string;
  /** ThingsBoard access token, and the firmware title (default: the image's project name). */
  token?: string;
  title?: string;
  /** Tencent product id and device name, and the device secret (a random one when absent). */
  product?: string;
  device?: string;
  secret?: string;
}

export interface Outcome {
  succeeded: boolean;
  /** The cloud's own words: "SUCCEEDED", "FAILED: rolled-back: ...", "UPDATED", "fail -5 ...". */
  status: string;
}

export interface LocalCloud {
  readonly backend: LocalBackend;
  readonly brokerUrl: string;
  readonly firmwareUrl: string;
  /** Every request the firmware server answered, oldest first (with its Range header). */
  firmwareRequests(): RequestRecord[];
  /** Registers a device with clouds that authenticate (ThingsBoard tokens, Tencent secrets). */
  register(target: LocalTarget): { secret?: string };
  /** Publishes an image file on the firmware server and offers it to the target device. */
  deploy(imageFile: string, target: LocalTarget, options?: LocalDeployOptions): Promise<string>;
  /** Resolves once the target's latest deployment has ended, either way. */
  outcome(target: LocalTarget, timeoutMs: number): Promise<Outcome>;
  /** Devices and jobs as the cloud records them, joined with what the simulated boards posted. */
  fleet(boards: BoardRegistry): FleetView;
  /** Withdraws a job that has not ended (AWS CancelJob with force, ThingsBoard unassignment). */
  cancel(jobId: string): Promise<string>;
  close(): Promise<void>;
}

export interface LocalCloudOptions {
  /** MQTT port on loopback (ephemeral when absent). */
  port?: number;
  /** Firmware HTTP port on loopback (ephemeral when absent). */
  httpPort?: number;
  /** The firmware server's speed limit per download (unlimited when absent). */
  bytesPerSecond?: number;
  log?: (line: string) => void;
  /**
   * Serve mqtts:// and https:// (tools/clouds/pki.ts). The AWS broker requires a client
   * certificate signed by `ca`, as AWS IoT does; ThingsBoard and Tencent authenticate devices by
   * token or signed password over one-way TLS.
   */
  tls?: LocalTls;
}

export interface LocalDeployOptions {
  /**
   * PEM of an ECDSA P-256 or RSA-3072 private key to sign the image with: an AWS afr_ota document
   * carries the detached signature (sig-sha256-ecdsa, ECDSA only) and the image is published
   * unchanged; every other form and cloud publishes the image with its Secure Boot V2 signature
   * sector, as espsecure signs it.
   */
  signingKey?: string;
  /** The AWS job document's form (default "plain"). */
  form?: FirmwareForm;
  /**
   * The image the device runs now: a heatshrink patch from it (esp_delta_ota container) is
   * published too and offered with the full image (AWS plain job documents only).
   */
  deltaFrom?: string;
  /** Offer the patch alone, without the full image to fall back to. */
  deltaOnly?: boolean;
}

interface PublishedImage {
  name: string;
  bytes: Uint8Array;
  url: string;
  version: string;
  project: string;
  /** The app descriptor's anti-rollback secure_version. */
  secureVersion: number;
  md5: string;
  sha256: string;
  /** The detached signature, when one was asked for. */
  signature?: string;
  /** How it was signed, for the deployment's summary ("" when unsigned). */
  signed: string;
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new Error(`the deployment needs ${what}`);
  return value;
}

export async function startLocalCloud(
  backend: LocalBackend,
  options: LocalCloudOptions = {},
): Promise<LocalCloud> {
  const log = options.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-firmware-"));
  const tls = options.tls;
  const serverTls = tls && { cert: tls.serverCert, key: tls.serverKey };
  const closers: (() => Promise<void>)[] = [];
  let server: FirmwareServer | undefined;
  try {
    const firmware = await startFirmwareServer({
      root: dir,
      port: options.httpPort,
      tls: serverTls,
      bytesPerSecond: options.bytesPerSecond,
    });
    server = firmware;

    const publish = (
      imageFile: string,
      signing: { key?: string; detached?: boolean } = {},
    ): PublishedImage => {
      const image = new Uint8Array(fs.readFileSync(imageFile));
      const header = parseImageHeader(image.subarray(0, IMAGE_PREFIX_SIZE));
      const key: SigningKey | undefined =
        signing.key === undefined ? undefined : loadSigningKey(signing.key);
      const detached = key !== undefined && signing.detached === true;
      const bytes = key && !detached ? signAppended(image, key) : image;
      const name = `${header.project}-${header.version}-${Date.now()}.bin`;
      fs.writeFileSync(path.join(dir, name), bytes);
      return {
        name,
        bytes,
        url: `${firmware.url}/${name}`,
        version: header.version,
        project: header.project,
        secureVersion: header.secureVersion,
        md5: createHash("md5").update(bytes).digest("hex"),
        sha256: createHash("sha256").update(bytes).digest("hex"),
        signature: detached ? signDetached(image, key) : undefined,
        signed: !key
          ? ""
          : detached
            ? ", detached signature"
            : ", Secure Boot V2 signature sector appended",
      };
    };

    /** A patch from the base image file to a published image, published beside it. */
    const publishDelta = async (baseFile: string, image: PublishedImage) => {
      const base = new Uint8Array(fs.readFileSync(baseFile));
      const patch = await createPatch(base, image.bytes, {
        compression: "heatshrink",
        container: "esp_delta_ota",
      });
      const name = image.name.replace(/\.bin$/, ".patch");
      fs.writeFileSync(path.join(dir, name), patch);
      return {
        url: `${firmware.url}/${name}`,
        size: patch.length,
        sha256: createHash("sha256").update(patch).digest("hex"),
        baseSha256: Buffer.from(patch.subarray(4, 36)).toString("hex"),
      };
    };

    let face: Omit<LocalCloud, "backend" | "firmwareUrl" | "firmwareRequests" | "close">;
    if (backend === "aws") {
      const broker: RunningBroker = await startEmbeddedBroker({
        port: options.port,
        tls: tls && { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca },
      });
      const aws: AwsCloud = await startAwsCloud({
        brokerUrl: broker.url,
        tls: tls && { ca: tls.ca, ...tls.service },
        log,
        presign: firmware.presign,
      });
      closers.push(
        () => aws.close(),
        () => broker.close(),
      );
      const jobs = new Map<string, string>();
      const versions = new Map<string, string>();
      const things = new Set<string>();
      const FINAL = ["SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"];
      const awsJobs = (): JobView[] =>
        aws.executions().map((e) => {
          const progress = parseProgress(e.statusDetails.progress);
          const final = FINAL.includes(e.status);
          return {
            id: e.jobId,
            device: e.thingName,
            version: versions.get(e.jobId) ?? e.statusDetails.version ?? "",
            // The device's own step while it works ("IN_PROGRESS (downloading)"); the end alone.
            status:
              e.statusDetails.state && !final ? `${e.status} (${e.statusDetails.state})` : e.status,
            final,
            succeeded: final ? e.status === "SUCCEEDED" : undefined,
            bytes: progress?.bytes,
            total: progress?.total,
            percent: percentOf(progress?.bytes, progress?.total),
            detail: e.statusDetails.reason,
            createdAt: e.queuedAt,
            updatedAt: e.lastUpdatedAt,
            cancellable: !final,
          };
        });
      face = {
        brokerUrl: broker.url,
        register(target) {
          things.add(need(target.thing, "a thing name"));
          return {};
        },
        fleet(boards) {
          const list = awsJobs();
          for (const job of list) things.add(job.device);
          const known = [...things].map((thing) => {
            const history: ReportView[] = aws.updates
              .filter((u) => u.thingName === thing)
              .map((u) => {
                const details = (u.request.statusDetails ?? {}) as Record<string, string>;
                return {
                  at: u.at,
                  job: u.jobId,
                  status: `${String(u.request.status)}${details.state ? ` (${details.state})` : ""}`,
                  detail:
                    u.outcome === "accepted"
                      ? (details.reason ?? details.progress)
                      : `refused: ${u.outcome}`,
                };
              });
            const done = list.filter((j) => j.device === thing && j.succeeded);
            return { target: { thing }, version: done[done.length - 1]?.version, history };
          });
          return fleetView(backend, known, list, boards);
        },
        async cancel(jobId) {
          const status = aws.jobStatus(jobId);
          if (status === undefined) throw new Error(`no job ${jobId}`);
          if (status !== "IN_PROGRESS")
            throw new Error(`job ${jobId} is ${status}: nothing to cancel`);
          await aws.cancel(jobId, { force: true });
          return `job ${jobId} canceled`;
        },
        async deploy(imageFile, target, deployment = {}) {
          const thingName = need(target.thing, "a thing name");
          const form = deployment.form ?? "plain";
          const image = publish(imageFile, {
            key: deployment.signingKey,
            detached: form === "afr_ota",
          });
          const delta = deployment.deltaFrom
            ? await publishDelta(deployment.deltaFrom, image)
            : undefined;
          const document = firmwareJobDocument(form, {
            url: image.url,
            size: image.bytes.length,
            version: image.version,
            md5: image.md5,
            sha256: image.sha256,
            signature: image.signature,
            delta,
            deltaOnly: deployment.deltaOnly,
            secureVersion: image.secureVersion,
          });
          const jobId = await aws.deploy({ thingName, document });
          jobs.set(thingName, jobId);
          versions.set(jobId, image.version);
          things.add(thingName);
          const patch = delta
            ? `, patch of ${delta.size} bytes${deployment.deltaOnly ? " alone" : ""}`
            : "";
          return `job ${jobId} for ${thingName}: ${image.project} ${image.version} (${image.bytes.length} bytes${image.signed}${patch})`;
        },
        async outcome(target, timeoutMs) {
          const thingName = need(target.thing, "a thing name");
          const jobId = need(jobs.get(thingName), `a job deployed to ${thingName}`);
          const end = await aws.waitForStatus(
            thingName,
            jobId,
            ["SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"],
            timeoutMs,
          );
          const reason = end.statusDetails.reason;
          return {
            succeeded: end.status === "SUCCEEDED",
            status: reason ? `${end.status}: ${reason}` : end.status,
          };
        },
      };
    } else if (backend === "thingsboard") {
      // ThingsBoard is the MQTT server itself: chunk requests carry no device id.
      const tb: ThingsBoardCloud = await startThingsBoardCloud({
        port: options.port,
        tls: serverTls,
        log,
      });
      closers.push(() => tb.close());
      const since = new Map<string, number>();
      const tokens = new Set<string>();
      /** Assignments made here: ThingsBoard's own view of one is its device's fw_ attributes. */
      const assignments = new Map<
        string,
        { token: string; version: string; size: number; at: number; canceled?: number }
      >();
      const tbJob = (id: string): JobView => {
        const a = assignments.get(id)!;
        const states = tb
          .telemetry(a.token)
          .filter((e) => e.source === "device" && e.ts >= a.at && e.values.fw_state !== undefined);
        const last = states[states.length - 1];
        const state = last ? String(last.values.fw_state) : "ASSIGNED";
        const final = a.canceled !== undefined || state === "UPDATED" || state === "FAILED";
        // Binary packages come in chunks: the highest chunk asked for is the progress.
        const chunks = tb.chunkRequests(a.token).filter((c) => c.ts >= a.at);
        const got = chunks.reduce((most, c) => Math.max(most, (c.chunk + 1) * c.chunkSize), 0);
        const bytes = state === "UPDATED" ? a.size : Math.min(got, a.size);
        return {
          id,
          device: a.token,
          version: a.version,
          status: a.canceled !== undefined ? "UNASSIGNED" : state,
          final,
          succeeded: final ? state === "UPDATED" : undefined,
          bytes,
          total: a.size,
          percent: percentOf(bytes, a.size),
          detail: last?.values.fw_error === undefined ? undefined : String(last.values.fw_error),
          createdAt: a.at,
          updatedAt: a.canceled ?? last?.ts ?? a.at,
          cancellable: !final,
        };
      };
      face = {
        brokerUrl: tb.brokerUrl,
        register(target) {
          const token = need(target.token, "an access token");
          tb.addDevice(token);
          tokens.add(token);
          return {};
        },
        fleet(boards) {
          const known = [...tokens].map((token) => {
            const entries = tb.telemetry(token).filter((e) => e.source === "device");
            const history: ReportView[] = entries
              .filter((e) => e.values.fw_state !== undefined)
              .map((e) => ({
                at: e.ts,
                job: String(e.values.fw_version ?? e.values.target_fw_version ?? ""),
                status: String(e.values.fw_state),
                detail: e.values.fw_error === undefined ? undefined : String(e.values.fw_error),
              }));
            const versions = entries.filter((e) => e.values.current_fw_version !== undefined);
            const version = versions[versions.length - 1]?.values.current_fw_version;
            return {
              target: { token },
              version: version === undefined ? undefined : String(version),
              history,
            };
          });
          return fleetView(backend, known, [...assignments.keys()].map(tbJob), boards);
        },
        async cancel(jobId) {
          const a = assignments.get(jobId);
          if (!a) throw new Error(`no assignment ${jobId}`);
          if (tbJob(jobId).final) throw new Error(`assignment ${jobId} has ended`);
          tb.unassign(a.token);
          a.canceled = Date.now();
          return `assignment ${jobId} (${a.version} to ${a.token}) removed`;
        },
        async deploy(imageFile, target, deployment = {}) {
          const token = need(target.token, "an access token");
          const image = publish(imageFile, { key: deployment.signingKey });
          since.set(token, Date.now());
          const info = tb.deploy({
            token,
            title: target.title ?? image.project,
            version: image.version,
            data: image.bytes,
            algorithm: "SHA256",
          });
          tokens.add(token);
          assignments.set(String(info.id), {
            token,
            version: info.version,
            size: image.bytes.length,
            at: Date.now(),
          });
          return `package ${info.title} ${info.version} (${image.bytes.length} bytes, ${info.checksumAlgorithm} ${info.checksum}${image.signed}) assigned to ${token}`;
        },
        async outcome(target, timeoutMs) {
          const token = need(target.token, "an access token");
          const after = since.get(token) ?? 0;
          const entry = await tb.waitFor(
            (e) =>
              e.token === token &&
              e.source === "device" &&
              e.ts >= after &&
              (e.values.fw_state === "UPDATED" || e.values.fw_state === "FAILED"),
            timeoutMs,
          );
          const state = String(entry.values.fw_state);
          const error = entry.values.fw_error;
          return {
            succeeded: state === "UPDATED",
            status: error ? `${state}: ${String(error)}` : state,
          };
        },
      };
    } else {
      // So does Tencent's: it checks the signed credentials at CONNECT.
      const tencent: TencentCloud = await startTencentCloud({
        broker: { port: options.port, tls: serverTls },
        log,
      });
      closers.push(() => tencent.close());
      const registered = new Map<string, { product: string; device: string }>();
      const started = new Map<string, number>();
      face = {
        brokerUrl: tencent.brokerUrl,
        register(target) {
          const device = tencent.registerDevice({
            productId: need(target.product, "a product id"),
            deviceName: need(target.device, "a device name"),
            secret: target.secret,
          });
          registered.set(deviceId(target), {
            product: device.productId,
            device: device.deviceName,
          });
          return { secret: device.secret };
        },
        fleet(boards) {
          const jobs: JobView[] = [];
          const known = [...registered.values()].map(({ product, device }) => {
            const record = tencent.device(product, device);
            const id = `${product}/${device}`;
            const task = record.task;
            if (task) {
              const final = task.status === "done" || task.status === "fail";
              const last = record.progress[record.progress.length - 1];
              const percent = task.status === "done" ? 100 : task.percent;
              jobs.push({
                id: `${id}@${task.version}`,
                device: id,
                version: task.version,
                status: task.status,
                final,
                succeeded: final ? task.status === "done" : undefined,
                percent,
                bytes: percent === undefined ? undefined : Math.floor((task.size * percent) / 100),
                total: task.size,
                detail: task.resultMsg,
                createdAt: started.get(`${id}@${task.version}`) ?? 0,
                updatedAt: last?.at ?? started.get(`${id}@${task.version}`) ?? 0,
                cancellable: false,
              });
            }
            const history: ReportView[] = record.progress.map((p) => ({
              at: p.at,
              job: p.version,
              status: p.state,
              detail: p.resultMsg ?? (p.percent === undefined ? undefined : `${p.percent}%`),
            }));
            return { target: { product, device }, version: record.version, history };
          });
          return fleetView(backend, known, jobs, boards);
        },
        async cancel() {
          throw new Error(
            "Tencent IoT Hub's device protocol has no cancel: a task ends when the device reports it",
          );
        },
        async deploy(imageFile, target, deployment = {}) {
          const image = publish(imageFile, { key: deployment.signingKey });
          const productId = need(target.product, "a product id");
          const deviceName = need(target.device, "a device name");
          started.set(`${productId}/${deviceName}@${image.version}`, Date.now());
          const task = tencent.deploy({
            productId,
            deviceName,
            version: image.version,
            url: image.url,
            md5: image.md5,
            size: image.bytes.length,
          });
          return `task ${task.version} for ${task.productId}/${task.deviceName} (${task.size} bytes, MD5 ${task.md5}${image.signed})`;
        },
        async outcome(target, timeoutMs) {
          const task = await tencent.waitForFinal(
            need(target.product, "a product id"),
            need(target.device, "a device name"),
            timeoutMs,
          );
          return {
            succeeded: task.status === "done",
            status:
              task.status === "fail" ? `fail ${task.resultCode}: ${task.resultMsg}` : task.status,
          };
        },
      };
    }
    return {
      backend,
      firmwareUrl: firmware.url,
      firmwareRequests: () => firmware.requests,
      ...face,
      async close() {
        for (const close of closers) await close();
        await firmware.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    // Nothing half-started is left: what listens is closed, the scratch folder removed.
    for (const close of closers.reverse()) await close().catch(() => {});
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
