// One face for the three local clouds, as the `cloud` and `deploy` commands and the demo use them:
// a broker, a firmware HTTP server with Range support, and the cloud's own service logic.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseImageHeader, IMAGE_PREFIX_SIZE } from "../../src/core/image/esp-image";
import { startEmbeddedBroker, type RunningBroker } from "../broker/index";
import { startFirmwareServer, type FirmwareServer, type RequestRecord } from "../fwserver/index";
import { loadSigningKey, signAppended, signDetached, type SigningKey } from "../sign/index";
import { firmwareJobDocument, startAwsCloud, type AwsCloud, type FirmwareForm } from "./aws/index";
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
  /** Tencent product id and device name. */
  product?: string;
  device?: string;
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
  close(): Promise<void>;
}

export interface LocalCloudOptions {
  /** MQTT port on loopback (ephemeral when absent). */
  port?: number;
  /** Firmware HTTP port on loopback (ephemeral when absent). */
  httpPort?: number;
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
}

interface PublishedImage {
  name: string;
  bytes: Uint8Array;
  url: string;
  version: string;
  project: string;
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
  const server: FirmwareServer = await startFirmwareServer({
    root: dir,
    port: options.httpPort,
    tls: serverTls,
  });
  const closers: (() => Promise<void>)[] = [];

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
      url: `${server.url}/${name}`,
      version: header.version,
      project: header.project,
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
      presign: server.presign,
    });
    closers.push(
      () => aws.close(),
      () => broker.close(),
    );
    const jobs = new Map<string, string>();
    face = {
      brokerUrl: broker.url,
      register: () => ({}),
      async deploy(imageFile, target, deployment = {}) {
        const thingName = need(target.thing, "a thing name");
        const form = deployment.form ?? "plain";
        const image = publish(imageFile, {
          key: deployment.signingKey,
          detached: form === "afr_ota",
        });
        const document = firmwareJobDocument(form, {
          url: image.url,
          size: image.bytes.length,
          version: image.version,
          md5: image.md5,
          sha256: image.sha256,
          signature: image.signature,
        });
        const jobId = await aws.deploy({ thingName, document });
        jobs.set(thingName, jobId);
        return `job ${jobId} for ${thingName}: ${image.project} ${image.version} (${image.bytes.length} bytes${image.signed})`;
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
    face = {
      brokerUrl: tb.brokerUrl,
      register(target) {
        tb.addDevice(need(target.token, "an access token"));
        return {};
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
    face = {
      brokerUrl: tencent.brokerUrl,
      register(target) {
        const device = tencent.registerDevice({
          productId: need(target.product, "a product id"),
          deviceName: need(target.device, "a device name"),
        });
        return { secret: device.secret };
      },
      async deploy(imageFile, target, deployment = {}) {
        const image = publish(imageFile, { key: deployment.signingKey });
        const task = tencent.deploy({
          productId: need(target.product, "a product id"),
          deviceName: need(target.device, "a device name"),
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
    firmwareUrl: server.url,
    firmwareRequests: () => server.requests,
    ...face,
    async close() {
      for (const close of closers) await close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
