// A local Tencent Cloud IoT Hub, for the simulator, the demo and the tests: a device registry with
// secrets, the platform's check of the signed MQTT credentials, firmware update tasks, the answer
// to report_version, the re-send of update_firmware while a device reports another version than
// the target (what drives "resume from the break point"), and a record of every report.
//
// On Tencent the platform is the broker, so by default this cloud runs its own (aedes) and checks
// every CONNECT the way the platform does. Given an external broker (mosquitto) it can only be one
// more client there: devices are then not authenticated by it, and are taken on their word.
//
// Inferences, where Tencent documents nothing: the result_code of a refused report_version (the
// device SDK only tests for 0), that a task ended by "done" or "fail" is not re-sent, and that a
// certificate device's certificate has its client id as common name.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { AedesPublishPacket, AuthenticateError, Client } from "aedes";
import { startEmbeddedBroker, type RunningBroker } from "../../broker/index";
import mqtt from "mqtt";

export interface TencentDeviceSpec {
  productId: string;
  deviceName: string;
  /** "key" (the default): signed user name and password. "certificate": TLS client certificate. */
  auth?: "key" | "certificate";
  /** Base64 device secret of a key device; a random one (as the console makes) when absent. */
  secret?: string;
}

export interface TencentDevice {
  productId: string;
  deviceName: string;
  auth: "key" | "certificate";
  secret?: string;
}

/** One CONNECT the platform judged. */
export interface ConnectAttempt {
  clientId: string;
  username?: string;
  accepted: boolean;
  reason: string;
}

/** One report_progress as it arrived, and what the platform found wrong with it. */
export interface ProgressRecord {
  /** When it arrived, ms since the epoch. */
  at: number;
  version: string;
  state: string;
  percent?: string;
  resultCode?: string;
  resultMsg?: string;
  /** QoS the device published it with. */
  qos: number;
  /** Departures from the documented message (non-string percent or result_code...). */
  problems: string[];
  raw: unknown;
}

export type TaskStatus = "waiting" | "downloading" | "burning" | "done" | "fail";

/** A firmware update task for one device, as the console shows it. */
export interface TencentTask {
  productId: string;
  deviceName: string;
  version: string;
  md5: string;
  size: number;
  status: TaskStatus;
  percent?: number;
  /** With "fail": the device's result_code ("-1".."-5") and result_msg. */
  resultCode?: string;
  resultMsg?: string;
  /** The URL of each update_firmware sent, in order. */
  sent: string[];
}

export interface DeviceRecord {
  productId: string;
  deviceName: string;
  /** Last version the device reported with report_version. */
  version?: string;
  versionReports: string[];
  /** Every report_progress received, whatever its version. */
  progress: ProgressRecord[];
  task?: TencentTask;
}

export interface TencentDeployment {
  productId: string;
  deviceName: string;
  version: string;
  /** The image URL, or a function that signs a fresh one for each update_firmware sent. */
  url: string | (() => string);
  md5: string;
  size: number;
}

export interface TencentCloudOptions {
  /** An external broker to join. Absent: the cloud runs its own broker and authenticates devices. */
  brokerUrl?: string;
  /** Client TLS material for an external mqtts:// broker. */
  tls?: { ca: string; cert: string; key: string };
  /** Listener of the cloud's own broker; with `tls.ca` every client must show a certificate. */
  broker?: { host?: string; port?: number; tls?: { cert: string; key: string; ca?: string } };
  devices?: TencentDeviceSpec[];
  log?: (line: string) => void;
  /** Wall clock for signature expiry, ms since 1970 (Date.now by default). */
  now?: () => number;
}

export interface TencentCloud {
  /** Where devices connect. */
  brokerUrl: string;
  /** Whether this cloud checks device credentials (only with its own broker). */
  authenticates: boolean;
  /** Adds a device; returns it with its secret. */
  registerDevice(spec: TencentDeviceSpec): TencentDevice;
  /** Every CONNECT judged, in order (own broker only). */
  connections: ConnectAttempt[];
  /** Creates the device's update task (replacing any other) and sends update_firmware. */
  deploy(deployment: TencentDeployment): TencentTask;
  device(productId: string, deviceName: string): DeviceRecord;
  /** Drops the device's connection, as the platform does at times (own broker only). */
  disconnect(productId: string, deviceName: string): boolean;
  /** Makes the next `times` report_version fail with this result_code, as a platform error would. */
  rejectVersionReports(times: number, resultCode?: number, resultMsg?: string): void;
  /** Resolves once `predicate` holds, checked after every message; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs: number, what?: string): Promise<void>;
  /** The device's task once it is done or failed. */
  waitForFinal(productId: string, deviceName: string, timeoutMs: number): Promise<TencentTask>;
  close(): Promise<void>;
}

interface Bus {
  publish(topic: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

const STATES = ["downloading", "burning", "done", "fail"];

/** Topics a device may use: its own ($ota/report/P/D, P/D/event...). */
function ownTopic(device: TencentDevice, topic: string): boolean {
  const path = device.productId + "/" + device.deviceName;
  return topic.startsWith(path + "/") || (topic.startsWith("$") && topic.endsWith("/" + path));
}

function authError(returnCode: 4 | 5, reason: string): AuthenticateError {
  return Object.assign(new Error(reason), { returnCode }) as AuthenticateError;
}

/**
 * Starts the local IoT Hub. Register devices (`devices` or `registerDevice`), point them at
 * `brokerUrl`, then `deploy` an image served by the firmware server and follow `device(...)`.
 */
export async function startTencentCloud(options: TencentCloudOptions = {}): Promise<TencentCloud> {
  const log = options.log ?? (() => {});
  const now = options.now ?? Date.now;
  const devices: Record<string, TencentDevice> = {};
  const records: Record<string, DeviceRecord> = {};
  const connections: ConnectAttempt[] = [];
  const waiters: (() => void)[] = [];
  let versionFaults: { times: number; code: number; msg: string } | undefined;

  const changed = () => {
    for (const check of waiters.slice()) check();
  };

  function registerDevice(spec: TencentDeviceSpec): TencentDevice {
    const auth = spec.auth ?? "key";
    const device: TencentDevice = { productId: spec.productId, deviceName: spec.deviceName, auth };
    if (auth === "key") device.secret = spec.secret ?? randomBytes(18).toString("base64");
    devices[spec.productId + spec.deviceName] = device;
    return device;
  }
  for (const spec of options.devices ?? []) registerDevice(spec);

  function record(productId: string, deviceName: string): DeviceRecord {
    const key = productId + "/" + deviceName;
    records[key] ??= { productId, deviceName, versionReports: [], progress: [] };
    return records[key];
  }

  /** The platform's verdict on a CONNECT (docs: "MQTT access over TCP", signature section). */
  function judge(
    clientId: string,
    username: string | undefined,
    password: string | undefined,
    peerName: string | undefined,
  ): { ok: true } | { ok: false; code: 4 | 5; reason: string } {
    const device = devices[clientId];
    if (!device) return { ok: false, code: 5, reason: "no such device: " + clientId };
    const parts = (username ?? "").split(";");
    if (parts.length !== 4 || parts[0] !== clientId)
      return {
        ok: false,
        code: 4,
        reason: "user name is not <client id>;<sdkappid>;<connid>;<expiry>",
      };
    if (!/^\d+$/.test(parts[1]) || !/^[A-Za-z0-9]+$/.test(parts[2]) || !/^\d+$/.test(parts[3]))
      return {
        ok: false,
        code: 4,
        reason: "malformed sdkappid, connid or expiry in the user name",
      };
    if (Number(parts[3]) * 1000 <= now())
      return { ok: false, code: 4, reason: "signature expired at " + parts[3] };
    if (device.auth === "certificate") {
      if (peerName !== clientId)
        return { ok: false, code: 5, reason: "no client certificate for " + clientId };
      return { ok: true };
    }
    const m = /^([0-9a-fA-F]+);(hmacsha1|hmacsha256)$/.exec(password ?? "");
    if (!m) return { ok: false, code: 4, reason: "password is not <hex>;hmacsha1|hmacsha256" };
    const expected = createHmac(
      m[2] === "hmacsha1" ? "sha1" : "sha256",
      Buffer.from(device.secret!, "base64"),
    )
      .update(username!)
      .digest();
    const given = Buffer.from(m[1], "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, code: 4, reason: "signature does not match the device secret" };
    return { ok: true };
  }

  let bus: Bus;
  const online: Record<string, Client> = {};
  let broker: RunningBroker | undefined;
  const onReport = (topic: string, payload: Buffer, qos: number) =>
    handleReport(topic, payload, qos);

  if (options.brokerUrl === undefined) {
    broker = await startEmbeddedBroker({
      host: options.broker?.host,
      port: options.broker?.port,
      tls: options.broker?.tls,
      authenticate(client: Client, username, password, done) {
        const socket = client.conn as Partial<TLSSocket>;
        const cn =
          typeof socket.getPeerCertificate === "function" && socket.authorized
            ? socket.getPeerCertificate().subject?.CN
            : undefined;
        const peer = Array.isArray(cn) ? cn[0] : cn;
        const verdict = judge(client.id, username, password?.toString(), peer);
        const reason = verdict.ok ? "accepted" : verdict.reason;
        connections.push({ clientId: client.id, username, accepted: verdict.ok, reason });
        log(`tencent: CONNECT ${client.id}: ${reason}`);
        changed();
        if (verdict.ok) done(null, true);
        else done(authError(verdict.code, verdict.reason), false);
      },
      authorizePublish(client, packet, callback) {
        const device = client ? devices[client.id] : undefined;
        if (client && (!device || !ownTopic(device, packet.topic)))
          return callback(new Error(`${client.id} may not publish to ${packet.topic}`));
        callback(null);
      },
      authorizeSubscribe(client, subscription, callback) {
        const device = devices[client.id];
        callback(null, device && ownTopic(device, subscription.topic) ? subscription : null);
      },
    });
    const aedes = broker.aedes;
    aedes.on("client", (client: Client) => (online[client.id] = client));
    await new Promise<void>((resolve) =>
      aedes.subscribe(
        "$ota/report/+/+",
        (packet: AedesPublishPacket, callback: () => void) => {
          onReport(packet.topic, packet.payload as Buffer, packet.qos);
          callback();
        },
        resolve,
      ),
    );
    bus = {
      publish: (topic, payload) =>
        new Promise((resolve, reject) =>
          aedes.publish(
            {
              cmd: "publish",
              topic,
              payload: Buffer.from(payload),
              qos: 1,
              retain: false,
              dup: false,
            },
            (error) => (error ? reject(error) : resolve()),
          ),
        ),
      close: () => broker!.close(),
    };
  } else {
    // mqtt.js directly rather than the device port: the platform records the QoS of each report.
    const client = mqtt.connect(options.brokerUrl, {
      clientId: "tencent-cloud-" + randomBytes(4).toString("hex"),
      ca: options.tls?.ca,
      cert: options.tls?.cert,
      key: options.tls?.key,
      reconnectPeriod: 500,
    });
    client.on("error", (error) => log(`tencent: broker connection: ${error.message}`));
    client.on("message", (topic, payload, packet) => onReport(topic, payload, packet.qos));
    try {
      await new Promise((resolve, reject) => {
        client.once("connect", resolve);
        client.once("error", reject);
      });
      const [grant] = await client.subscribeAsync("$ota/report/+/+", { qos: 1 });
      if (grant.qos === 128) throw new Error("the broker refused $ota/report/+/+ to the cloud");
    } catch (error) {
      await client.endAsync(true);
      throw error;
    }
    bus = {
      publish: (topic, payload) => client.publishAsync(topic, payload, { qos: 1 }).then(() => {}),
      close: () => client.endAsync(true),
    };
  }

  function send(productId: string, deviceName: string, message: Record<string, unknown>) {
    const topic = `$ota/update/${productId}/${deviceName}`;
    const payload = JSON.stringify(message);
    log(`tencent: -> ${topic} ${payload}`);
    bus.publish(topic, payload).catch((error) => log(`tencent: publish failed: ${String(error)}`));
  }

  function sendUpdate(task: TencentTask, url: string) {
    task.sent.push(url);
    // Key order as the platform writes them.
    send(task.productId, task.deviceName, {
      file_size: task.size,
      md5sum: task.md5,
      type: "update_firmware",
      url,
      version: task.version,
    });
  }

  const urls = new WeakMap<TencentTask, string | (() => string)>();
  const urlOf = (task: TencentTask) => {
    const url = urls.get(task)!;
    return typeof url === "function" ? url() : url;
  };

  function onVersion(rec: DeviceRecord, report: Record<string, unknown>) {
    const version = report.version;
    if (typeof version !== "string" || version === "") {
      send(rec.productId, rec.deviceName, {
        result_code: 1,
        result_msg: "report_version without a version",
        type: "report_version_rsp",
      });
      return;
    }
    rec.version = version;
    rec.versionReports.push(version);
    if (versionFaults) {
      const fault = versionFaults;
      if (--fault.times <= 0) versionFaults = undefined;
      send(rec.productId, rec.deviceName, {
        result_code: fault.code,
        result_msg: fault.msg,
        type: "report_version_rsp",
        version,
      });
      return;
    }
    send(rec.productId, rec.deviceName, {
      result_code: 0,
      result_msg: "success",
      type: "report_version_rsp",
      version,
    });
    const task = rec.task;
    if (task && task.status !== "done" && task.status !== "fail" && task.version !== version)
      sendUpdate(task, urlOf(task));
  }

  function onProgress(
    rec: DeviceRecord,
    report: Record<string, unknown>,
    raw: unknown,
    qos: number,
  ) {
    const progress = (report.progress ?? {}) as Record<string, unknown>;
    const problems: string[] = [];
    const text = (name: string): string | undefined => {
      const value = progress[name];
      if (value === undefined) return undefined;
      if (typeof value !== "string") problems.push(`${name} is a ${typeof value}, not a string`);
      return String(value);
    };
    const state = String(progress.state);
    const entry: ProgressRecord = {
      at: Date.now(),
      version: String(report.version),
      state,
      percent: text("percent"),
      resultCode: text("result_code"),
      resultMsg: text("result_msg"),
      qos,
      problems,
      raw,
    };
    if (!STATES.includes(state)) problems.push(`unknown state ${state}`);
    if (typeof report.version !== "string") problems.push("no version");
    if (state === "downloading" && !/^(100|[1-9]?\d)$/.test(entry.percent ?? ""))
      problems.push(`percent ${entry.percent} is not 0..100`);
    if (state === "fail" && !/^-[1-5]$/.test(entry.resultCode ?? ""))
      problems.push(`result_code ${entry.resultCode} is not -1..-5`);
    rec.progress.push(entry);
    const task = rec.task;
    if (!task || task.version !== entry.version || problems.length > 0) return;
    if (task.status === "done" || task.status === "fail") return;
    task.status = state as TaskStatus;
    if (state === "downloading") task.percent = Number(entry.percent);
    if (state === "fail") {
      task.resultCode = entry.resultCode;
      task.resultMsg = entry.resultMsg;
    }
  }

  function handleReport(topic: string, payload: Buffer, qos: number) {
    const m = /^\$ota\/report\/([^/]+)\/([^/]+)$/.exec(topic);
    if (!m) return;
    const text = payload.toString("utf8");
    log(`tencent: <- ${topic} ${text}`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text);
    } catch {
      return;
    }
    // With an external broker nobody authenticated the device: it is taken on its word.
    if (!broker && !devices[m[1] + m[2]]) registerDevice({ productId: m[1], deviceName: m[2] });
    const rec = record(m[1], m[2]);
    const report = (doc.report ?? {}) as Record<string, unknown>;
    if (doc.type === "report_version") onVersion(rec, report);
    else if (doc.type === "report_progress") onProgress(rec, report, doc, qos);
    changed();
  }

  const cloud: TencentCloud = {
    brokerUrl: broker ? broker.url : options.brokerUrl!,
    authenticates: broker !== undefined,
    registerDevice,
    connections,
    deploy(deployment) {
      if (broker && !devices[deployment.productId + deployment.deviceName])
        throw new Error(`no device ${deployment.productId}/${deployment.deviceName}`);
      const task: TencentTask = {
        productId: deployment.productId,
        deviceName: deployment.deviceName,
        version: deployment.version,
        md5: deployment.md5.toLowerCase(),
        size: deployment.size,
        status: "waiting",
        sent: [],
      };
      urls.set(task, deployment.url);
      record(deployment.productId, deployment.deviceName).task = task;
      sendUpdate(task, urlOf(task));
      changed();
      return task;
    },
    device: record,
    disconnect(productId, deviceName) {
      const client = online[productId + deviceName];
      if (!client || client.closed) return false;
      client.close();
      return true;
    },
    rejectVersionReports(times, resultCode = 1, resultMsg = "internal error") {
      versionFaults = times > 0 ? { times, code: resultCode, msg: resultMsg } : undefined;
    },
    waitFor(predicate, timeoutMs, what = "condition") {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`tencent cloud: timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    async waitForFinal(productId, deviceName, timeoutMs) {
      const rec = record(productId, deviceName);
      const final = () => rec.task?.status === "done" || rec.task?.status === "fail";
      await cloud.waitFor(final, timeoutMs, `the final status of ${productId}/${deviceName}`);
      return rec.task!;
    },
    close: () => bus.close(),
  };
  return cloud;
}
