// A local ThingsBoard: the device-facing half of its MQTT transport and OTA service, as read in
// thingsboard/thingsboard (MqttTransportHandler, DefaultOtaPackageStateService, JsonConverter,
// BaseOtaPackageService). See shared/reference/protocols-and-peers.md section 4 and its Addendum.
//
// The real ThingsBoard IS the MQTT server: chunk requests and responses carry no device id, and
// the server answers on the requester's own connection, keeping the chunk size and the package
// per request id for the life of that connection. An emulator that were only a client of some
// broker could not tell which device asked. So by default this cloud embeds its own MQTT server
// (aedes, as tools/broker) and, like ThingsBoard, authenticates devices by access token (the MQTT
// user name), accepts only ThingsBoard's subscribe filters, and writes responses straight to the
// requesting connection whether it subscribed or not.
//
// Given `brokerUrl` instead (mosquitto in the tests), it runs the same server logic as a client of
// that broker for exactly one device, whose every publish it takes as that device's. What a broker
// client cannot do is left out there: checking the token, refusing filters, pushing chunks to a
// device that did not subscribe. It ends the device's connection as the server would by taking
// over its client id, and it starts a new server-side session on each such drop.

import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type * as net from "node:net";
import { crc32 } from "node:zlib";
import mqtt from "mqtt";
import type { AuthenticateError, Client as AedesClient, PublishPacket } from "aedes";
import { startEmbeddedBroker, type RunningBroker } from "../../broker/index";

export type PackageType = "firmware" | "software";

/** ThingsBoard's ChecksumAlgorithm. */
export type ChecksumAlgorithm =
  "MD5" | "SHA256" | "SHA384" | "SHA512" | "CRC32" | "MURMUR3_32" | "MURMUR3_128";

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = [
  "MD5",
  "SHA256",
  "SHA384",
  "SHA512",
  "CRC32",
  "MURMUR3_32",
  "MURMUR3_128",
];

const murmur = createRequire(import.meta.url)("murmurhash3js-revisited") as {
  x86: { hash32(bytes: Uint8Array, seed?: number): number };
  x64: { hash128(bytes: Uint8Array, seed?: number): string };
};

/** Guava's HashCode.fromInt(x).toString(): the int's 4 bytes little-endian, in hex. */
function intHashCode(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0);
  return bytes.toString("hex");
}

function reverseHexBytes(hex: string): string {
  return (hex.match(/../g) ?? []).reverse().join("");
}

/**
 * The checksum as ThingsBoard's server writes it when the user gives none
 * (`Hashing.xxx().hashBytes(data).toString()`, lower-case hex of `HashCode.asBytes()`):
 * - MD5, SHA256, SHA384, SHA512: the digest bytes in order;
 * - CRC32, MURMUR3_32 (seed 0): the 32-bit value little-endian, CRC32("123456789") = "2639f4cb";
 * - MURMUR3_128 (x64, seed 0): h1 little-endian then h2 little-endian.
 */
export function thingsBoardChecksum(algorithm: ChecksumAlgorithm, data: Uint8Array): string {
  switch (algorithm) {
    case "MD5":
    case "SHA256":
    case "SHA384":
    case "SHA512":
      return createHash(algorithm.toLowerCase()).update(data).digest("hex");
    case "CRC32":
      return intHashCode(crc32(data));
    case "MURMUR3_32":
      return intHashCode(murmur.x86.hash32(data));
    case "MURMUR3_128": {
      // The reference library prints h1 and h2 big-endian.
      const hex = murmur.x64.hash128(data);
      return reverseHexBytes(hex.slice(0, 16)) + reverseHexBytes(hex.slice(16));
    }
  }
}

const PREFIX: Record<PackageType, string> = { firmware: "fw", software: "sw" };

/** Every filter MqttTransportHandler.processSubscribe accepts; any other gets SUBACK 0x80. */
export const ACCEPTED_FILTERS: readonly string[] = [
  "v1/devices/me/attributes",
  "v2/a",
  "v2/a/j",
  "v2/a/p",
  "v1/devices/me/rpc/request/+",
  "v2/r/req/+",
  "v2/r/req/j/+",
  "v2/r/req/p/+",
  "v1/devices/me/rpc/response/+",
  "v2/r/res/+",
  "v2/r/res/j/+",
  "v2/r/res/p/+",
  "v1/devices/me/attributes/response/+",
  "v2/a/res/+",
  "v2/a/res/j/+",
  "v2/a/res/p/+",
  "v1/gateway/attributes",
  "v1/gateway/rpc",
  "v1/gateway/attributes/response",
  "/provision/response",
  "v2/fw/response/+/chunk/+",
  "v2/fw/error",
  "v2/sw/response/+/chunk/+",
  "v2/sw/error",
];

const ATTRIBUTES = "v1/devices/me/attributes";
const ATTRIBUTES_REQUEST = "v1/devices/me/attributes/request/";
const TELEMETRY = "v1/devices/me/telemetry";
const RPC_REQUEST = "v1/devices/me/rpc/request/";
const CHUNK_REQUEST = /^v2\/(fw|sw)\/request\/(\d+)\/chunk\/(\d+)$/;
/** Where device publishes go after the cloud consumed them: nobody subscribes to it. */
const CONSUMED = "$tb/consumed";

/** Assigning a package to a device, as an administrator does in ThingsBoard. */
export interface AssignOptions {
  /** Access token of the device. */
  token: string;
  type?: PackageType;
  title: string;
  version: string;
  tag?: string;
  /** A binary package (served over MQTT chunks). With `url`, only used to compute size and checksum. */
  data?: Uint8Array;
  /** A URL package: the device downloads it itself. */
  url?: string;
  /** Size in bytes; taken from `data` when absent. */
  size?: number;
  /** SHA256 by default. */
  algorithm?: ChecksumAlgorithm;
  /** A checksum typed by hand, in any notation; otherwise computed from `data` as the server does. */
  checksum?: string;
  /** false: change the attributes without notifying the device (a notification still in flight). */
  notify?: boolean;
}

export interface OtaPackageInfo {
  id: number;
  type: PackageType;
  title: string;
  version: string;
  tag?: string;
  url?: string;
  size?: number;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksum?: string;
}

interface OtaPackage extends OtaPackageInfo {
  data?: Buffer;
}

/** One time series entry: what the device sent, or what the server recorded on assignment. */
export interface TelemetryEntry {
  token: string;
  ts: number;
  source: "device" | "server";
  values: Record<string, unknown>;
}

/** Latest telemetry of one package type, as ThingsBoard's dashboard shows it. */
export interface PackageStatus {
  state?: string;
  error?: string;
  currentTitle?: string;
  currentVersion?: string;
  targetTitle?: string;
  targetVersion?: string;
}

export interface ChunkRequestRecord {
  token: string;
  type: PackageType;
  requestId: string;
  chunk: number;
  /** The payload as sent: the chunk size in ASCII, or empty. */
  payload: string;
  /** Chunk size the server used (remembered per request id; 0 = the whole file). */
  chunkSize: number;
  ts: number;
}

/** What to do with a chunk response (fault injection for tests and demos). */
export interface ChunkAction {
  /** Send nothing: the device's request times out. */
  drop?: boolean;
  /** Send it this much later: responses then arrive out of order. */
  delayMs?: number;
  /** Send it this many times (duplicates). */
  copies?: number;
}

export interface ThingsBoardCloudOptions {
  /** Embedded server: where to listen (127.0.0.1, an ephemeral port by default). */
  host?: string;
  port?: number;
  /** Embedded server: TLS, with client certificates when `ca` is given. */
  tls?: { cert: string; key: string; ca?: string };
  /** Run over this external broker instead, for the single `device`. */
  brokerUrl?: string;
  /** PEM texts for the connection to the external broker. */
  brokerTls?: { ca?: string; cert?: string; key?: string };
  /** The one device served over an external broker: its token and its MQTT client id. */
  device?: { token: string; clientId: string };
  /** Largest chunk the server sends (NETTY_MAX_PAYLOAD_SIZE, 65536 by default). */
  maxPayloadSize?: number;
  log?: (line: string) => void;
}

export interface ThingsBoardCloud {
  /** Where devices connect (user name = access token). */
  readonly brokerUrl: string;
  readonly mode: "embedded" | "external";
  /** Registers a device; connections with an unknown token are refused (embedded mode). */
  addDevice(token: string): void;
  /** Assigns a package: sets the fw_ (sw_) shared attributes and notifies the device. */
  assign(options: AssignOptions): OtaPackageInfo;
  /** The CLI's name for assign. */
  deploy(options: AssignOptions): OtaPackageInfo;
  /** Removes the assignment: every fw_ (sw_) attribute is deleted. */
  unassign(token: string, type?: PackageType, options?: { notify?: boolean }): void;
  attributes(token: string): { shared: Record<string, unknown>; client: Record<string, unknown> };
  /** Every telemetry entry of the device, oldest first. */
  telemetry(token: string): TelemetryEntry[];
  status(token: string, type?: PackageType): PackageStatus;
  /** The first entry, past or future, that matches; rejects after `timeoutMs`. */
  waitFor(
    predicate: (entry: TelemetryEntry) => boolean,
    timeoutMs?: number,
  ): Promise<TelemetryEntry>;
  /** Every chunk request received, oldest first. */
  chunkRequests(token?: string): ChunkRequestRecord[];
  /** Decides the fate of each chunk response from now on; undefined restores normal service. */
  onChunkRequest(hook: ((request: ChunkRequestRecord) => ChunkAction | void) | undefined): void;
  /** Closes the device's connections from the server side. */
  dropDevice(token: string): Promise<void>;
  close(): Promise<void>;
}

interface Device {
  token: string;
  shared: Record<string, unknown>;
  client: Record<string, unknown>;
  telemetry: TelemetryEntry[];
  packages: Partial<Record<PackageType, OtaPackage>>;
}

/** One MQTT connection of a device, with the maps ThingsBoard keeps per connection. */
interface Session {
  device: Device;
  /** Accepted subscriptions and their QoS (the server's mqttQoSMap). */
  filters: Map<string, 0 | 1>;
  chunkSizes: Map<string, number>;
  packages: Map<string, OtaPackage>;
  open: boolean;
  /** Whether attribute changes are pushed (the device subscribed to them). */
  wantsAttributes(): boolean;
  send(topic: string, payload: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** A package without its bytes. */
function info(pkg: OtaPackage): OtaPackageInfo {
  const copy: OtaPackage = { ...pkg };
  delete copy.data;
  return copy;
}

function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/** OtaPackageUtil.getAttributeKeys: every OtaPackageKey, in the enum's order. */
function attributeKeys(type: PackageType): string[] {
  const keys = [
    "title",
    "version",
    "ts",
    "state",
    "size",
    "checksum",
    "checksum_algorithm",
    "url",
    "tag",
  ];
  return keys.map((k) => `${PREFIX[type]}_${k}`);
}

/**
 * Starts a local ThingsBoard. Devices connect to `brokerUrl` with their access token as the MQTT
 * user name; `assign()` gives one a firmware or software package; `telemetry()`, `status()` and
 * `waitFor()` show what the device reported.
 */
export async function startThingsBoardCloud(
  options: ThingsBoardCloudOptions = {},
): Promise<ThingsBoardCloud> {
  const log = options.log ?? (() => {});
  const maxPayloadSize = options.maxPayloadSize ?? 65536;
  const devices = new Map<string, Device>();
  const sessions = new Set<Session>();
  const requests: ChunkRequestRecord[] = [];
  const waiters: { predicate: (e: TelemetryEntry) => boolean; resolve(e: TelemetryEntry): void }[] =
    [];
  let hook: ((request: ChunkRequestRecord) => ChunkAction | void) | undefined;
  let nextPackageId = 1;
  const timers = new Set<NodeJS.Timeout>();

  function addDevice(token: string): Device {
    let device = devices.get(token);
    if (!device) {
      device = { token, shared: {}, client: {}, telemetry: [], packages: {} };
      devices.set(token, device);
    }
    return device;
  }

  function deviceOf(token: string): Device {
    const device = devices.get(token);
    if (!device) throw new Error(`no device with token ${token}`);
    return device;
  }

  function record(
    device: Device,
    source: TelemetryEntry["source"],
    values: Record<string, unknown>,
    ts = Date.now(),
  ) {
    const entry: TelemetryEntry = { token: device.token, ts, source, values };
    device.telemetry.push(entry);
    log(`telemetry ${device.token} (${source}): ${JSON.stringify(values)}`);
    for (const waiter of waiters.slice()) {
      if (waiter.predicate(entry)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(entry);
      }
    }
  }

  function sessionsOf(device: Device): Session[] {
    return [...sessions].filter((s) => s.device === device && s.open);
  }

  function pushAttributes(device: Device, body: Record<string, unknown>) {
    const payload = Buffer.from(JSON.stringify(body));
    for (const session of sessionsOf(device)) {
      if (session.wantsAttributes()) session.send(ATTRIBUTES, payload).catch(() => {});
    }
  }

  function deleteAttributes(device: Device, keys: string[], notify: boolean) {
    for (const key of keys) delete device.shared[key];
    // The server notifies the keys it was asked to delete, present or not.
    if (notify) pushAttributes(device, { deleted: keys });
  }

  function assign(o: AssignOptions): OtaPackageInfo {
    const device = deviceOf(o.token);
    const type = o.type ?? "firmware";
    const p = PREFIX[type];
    if (o.data === undefined && o.url === undefined) throw new Error("assign needs data or a url");
    const data = o.data ? Buffer.from(o.data) : undefined;
    // The server computes a checksum only from a file it holds; a URL package has what was typed.
    const computed = o.checksum === undefined && data !== undefined;
    const algorithm = computed || o.url === undefined ? (o.algorithm ?? "SHA256") : o.algorithm;
    const checksum = computed ? thingsBoardChecksum(algorithm!, data) : o.checksum;
    const pkg: OtaPackage = {
      id: nextPackageId++,
      type,
      title: o.title,
      version: o.version,
      tag: o.tag,
      url: o.url,
      size: o.size ?? data?.length,
      checksumAlgorithm: algorithm,
      checksum,
      data: o.url ? undefined : data,
    };
    device.packages[type] = pkg;
    const now = Date.now();
    const notify = o.notify !== false;
    // DefaultOtaPackageStateService.send, update and updateAttributes: server telemetry, then the
    // keys the package lacks are deleted and its attributes saved, each notified to the device.
    const target: Record<string, unknown> = {
      [`target_${p}_title`]: pkg.title,
      [`target_${p}_version`]: pkg.version,
      [`target_${p}_ts`]: now,
      [`${p}_state`]: "QUEUED",
    };
    if (pkg.tag) target[`target_${p}_tag`] = pkg.tag;
    record(device, "server", target, now);
    record(device, "server", { [`${p}_state`]: "INITIATED" });
    const attributes: Record<string, unknown> = {
      [`${p}_title`]: pkg.title,
      [`${p}_version`]: pkg.version,
    };
    const removed: string[] = [];
    if (pkg.tag) attributes[`${p}_tag`] = pkg.tag;
    else removed.push(`${p}_tag`);
    if (pkg.url !== undefined) {
      attributes[`${p}_url`] = pkg.url;
      for (const [key, value] of [
        ["size", pkg.size],
        ["checksum_algorithm", pkg.checksumAlgorithm],
        ["checksum", pkg.checksum],
      ] as const) {
        if (value === undefined) removed.push(`${p}_${key}`);
        else attributes[`${p}_${key}`] = value;
      }
    } else {
      attributes[`${p}_size`] = pkg.size;
      attributes[`${p}_checksum_algorithm`] = pkg.checksumAlgorithm;
      attributes[`${p}_checksum`] = pkg.checksum;
      removed.push(`${p}_url`);
    }
    if (removed.length > 0) deleteAttributes(device, removed, notify);
    Object.assign(device.shared, attributes);
    if (notify) pushAttributes(device, attributes);
    log(`assigned ${type} ${pkg.title} ${pkg.version} to ${device.token}`);
    return info(pkg);
  }

  function unassign(token: string, type: PackageType = "firmware", o: { notify?: boolean } = {}) {
    const device = deviceOf(token);
    delete device.packages[type];
    deleteAttributes(device, attributeKeys(type), o.notify !== false);
    log(`unassigned ${type} from ${token}`);
  }

  function sendError(session: Session, error: string) {
    log(`chunk error ${error} for ${session.device.token}; closing its connection`);
    // MqttTransportHandler.sendOtaPackageError: always the firmware error topic, then close.
    session
      .send("v2/fw/error", Buffer.from(error))
      .catch(() => {})
      .then(() => session.close());
  }

  function sendChunk(session: Session, topic: string, data: Buffer, action: ChunkAction) {
    const copies = action.copies ?? 1;
    const send = () => {
      for (let i = 0; i < copies && session.open; i++) session.send(topic, data).catch(() => {});
    };
    if (action.delayMs) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, action.delayMs);
      timers.add(timer);
    } else send();
  }

  /** MqttTransportHandler.getOtaPackageCallback, OtaPackageCallback and sendOtaPackage. */
  function onChunkRequest(session: Session, match: RegExpExecArray, payload: string) {
    const type: PackageType = match[1] === "sw" ? "software" : "firmware";
    const requestId = match[2];
    const chunk = Number(match[3]);
    // Integer.parseInt: anything else throws, and the server drops the connection.
    if (payload !== "" && !/^[+-]?\d{1,10}$/.test(payload)) {
      log(`unparsable chunk size ${JSON.stringify(payload)}; closing the connection`);
      session.close();
      return;
    }
    let chunkSize = payload === "" ? 0 : parseInt(payload, 10);
    if (chunkSize > 0) session.chunkSizes.set(requestId, chunkSize);
    else chunkSize = session.chunkSizes.get(requestId) ?? 0;
    const entry: ChunkRequestRecord = {
      token: session.device.token,
      type,
      requestId,
      chunk,
      payload,
      chunkSize,
      ts: Date.now(),
    };
    requests.push(entry);
    if (chunkSize > maxPayloadSize) return sendError(session, "PAYLOAD_TOO_LARGE");
    let pkg = session.packages.get(requestId);
    if (!pkg) {
      // The first request of an id looks up what is assigned now; the id keeps it afterwards.
      const assigned = session.device.packages[type];
      if (!assigned) return sendError(session, "NOT_FOUND");
      if (!assigned.data) return sendError(session, "FAILURE");
      pkg = assigned;
      session.packages.set(requestId, pkg);
    }
    const data = pkg.data!;
    const start = chunkSize * chunk;
    // CaffeineOtaPackageCache.get: size 0 is the whole file; past the end, an empty array.
    const bytes =
      chunkSize < 1
        ? data
        : start >= data.length
          ? Buffer.alloc(0)
          : data.subarray(start, Math.min(data.length, start + chunkSize));
    const action = (hook && hook(entry)) || {};
    if (action.drop) return;
    sendChunk(session, `v2/${match[1]}/response/${requestId}/chunk/${chunk}`, bytes, action);
  }

  function onAttributesRequest(session: Session, requestId: string, payload: string) {
    let body: { clientKeys?: unknown; sharedKeys?: unknown };
    try {
      body = JSON.parse(payload);
    } catch {
      log(`unreadable attributes request ${JSON.stringify(payload)}; closing the connection`);
      session.close();
      return;
    }
    const keys = (value: unknown) =>
      typeof value === "string" ? value.split(",").map((k) => k.trim()) : undefined;
    const clientKeys = keys(body.clientKeys);
    const sharedKeys = keys(body.sharedKeys);
    const all = clientKeys === undefined && sharedKeys === undefined;
    const pick = (from: Record<string, unknown>, wanted: string[] | undefined) => {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(from)) {
        if (all || (wanted && wanted.includes(key))) out[key] = from[key];
      }
      return out;
    };
    // JsonConverter.toJson(GetAttributeResponseMsg): only the sections that have values.
    const response: Record<string, unknown> = {};
    const client = pick(session.device.client, clientKeys);
    const shared = pick(session.device.shared, sharedKeys);
    if (Object.keys(client).length > 0) response.client = client;
    if (Object.keys(shared).length > 0) response.shared = shared;
    session
      .send(`v1/devices/me/attributes/response/${requestId}`, Buffer.from(JSON.stringify(response)))
      .catch(() => {});
  }

  function onTelemetry(session: Session, payload: string) {
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      log(`unreadable telemetry ${JSON.stringify(payload)}`);
      return;
    }
    for (const item of Array.isArray(body) ? body : [body]) {
      if (!item || typeof item !== "object") continue;
      const { ts, values } = item as { ts?: unknown; values?: unknown };
      if (typeof ts === "number" && values && typeof values === "object") {
        record(session.device, "device", values as Record<string, unknown>, ts);
      } else record(session.device, "device", item as Record<string, unknown>);
    }
  }

  /** A publish from a device (MqttTransportHandler.processDevicePublish, the parts OTA uses). */
  function onDevicePublish(session: Session, topic: string, payload: Buffer) {
    const body = payload.toString("utf8");
    const chunk = CHUNK_REQUEST.exec(topic);
    if (chunk) onChunkRequest(session, chunk, body);
    else if (topic.startsWith(ATTRIBUTES_REQUEST)) {
      onAttributesRequest(session, topic.slice(ATTRIBUTES_REQUEST.length), body);
    } else if (topic === TELEMETRY) onTelemetry(session, body);
    else if (topic.startsWith(RPC_REQUEST))
      onRpcRequest(session, topic.slice(RPC_REQUEST.length), body);
    else if (topic === ATTRIBUTES) {
      try {
        Object.assign(session.device.client, JSON.parse(body));
      } catch {
        log(`unreadable client attributes ${JSON.stringify(body)}`);
      }
    }
  }

  /**
   * Client-side RPC. getSessionLimits is the one ThingsBoard answers itself (the Python SDK asks
   * for it at every connection and publishes nothing before the answer); no rate limit is set here.
   */
  function onRpcRequest(session: Session, requestId: string, body: string) {
    let method: unknown;
    try {
      method = (JSON.parse(body) as { method?: unknown }).method;
    } catch {
      log(`unreadable RPC request ${JSON.stringify(body)}`);
      return;
    }
    if (method !== "getSessionLimits") return log(`RPC ${String(method)} not served`);
    const limits = {
      maxPayloadSize: options.maxPayloadSize ?? 65536,
      maxInflightMessages: 100,
      rateLimits: { messages: "0:0,", telemetryMessages: "0:0,", telemetryDataPoints: "0:0," },
    };
    void session
      .send(`v1/devices/me/rpc/response/${requestId}`, Buffer.from(JSON.stringify(limits)))
      .catch(() => undefined);
  }

  function newSession(device: Device, parts: Pick<Session, "wantsAttributes" | "send" | "close">) {
    const session: Session = {
      device,
      filters: new Map(),
      chunkSizes: new Map(),
      packages: new Map(),
      open: true,
      ...parts,
    };
    sessions.add(session);
    return session;
  }

  function endSession(session: Session) {
    session.open = false;
    sessions.delete(session);
  }

  let transport: { url: string; close(): Promise<void>; drop(device: Device): Promise<void> };
  if (options.brokerUrl === undefined) {
    transport = await embedded();
  } else {
    transport = await external(options.brokerUrl);
  }

  async function embedded() {
    const byClient = new Map<AedesClient, Session>();
    const broker: RunningBroker = await startEmbeddedBroker({
      host: options.host,
      port: options.port,
      tls: options.tls,
      // ThingsBoard's MQTT transport takes MQTT 3.1, 3.1.1 and 5 clients (its Python SDK uses 5).
      mqtt5: true,
      authenticate(client, username, _password, done) {
        const device = username === undefined ? undefined : devices.get(username);
        if (!device) {
          log(`refused connection with unknown token ${JSON.stringify(username)}`);
          const error = new Error("unknown access token") as AuthenticateError;
          error.returnCode = 5 as AuthenticateError["returnCode"];
          return done(error, false);
        }
        const session: Session = newSession(device, {
          wantsAttributes: () => session.filters.has(ATTRIBUTES),
          send: (topic, payload) =>
            new Promise<void>((resolve, reject) => {
              let qos: 0 | 1 = 0;
              for (const [filter, granted] of session.filters) {
                if (topicMatches(filter, topic)) qos = Math.max(qos, granted) as 0 | 1;
              }
              const packet = { cmd: "publish", topic, payload, qos, retain: false, dup: false };
              client.publish(packet as PublishPacket, (error) =>
                error ? reject(error) : resolve(),
              );
            }),
          close: () => new Promise<void>((resolve) => client.close(() => resolve())),
        });
        byClient.set(client, session);
        // Netty's sockets, ThingsBoard's included, default to TCP_NODELAY: without it, a window of
        // chunk responses would wait on Nagle for the device's acknowledgements.
        (client.conn as net.Socket).setNoDelay?.(true);
        done(null, true);
      },
      authorizeSubscribe(client, subscription, done) {
        const session = byClient.get(client);
        if (!session || !ACCEPTED_FILTERS.includes(subscription.topic)) {
          log(`refused subscription to ${subscription.topic}`);
          return done(null, null);
        }
        // ThingsBoard grants at most QoS 1; aedes puts the requested QoS in the SUBACK regardless,
        // but deliveries here never exceed 1.
        const qos = Math.min(subscription.qos, 1) as 0 | 1;
        session.filters.set(subscription.topic, qos);
        done(null, { ...subscription, qos });
      },
      authorizePublish(client, packet, done) {
        const session = client ? byClient.get(client) : undefined;
        if (session) onDevicePublish(session, packet.topic, packet.payload as Buffer);
        // The server consumes what devices publish; nothing is routed between devices.
        packet.topic = CONSUMED;
        packet.retain = false;
        done(null);
      },
    });
    broker.aedes.on("unsubscribe", (topics, client) => {
      const session = byClient.get(client);
      for (const topic of topics) session?.filters.delete(topic);
    });
    broker.aedes.on("clientDisconnect", (client) => {
      const session = byClient.get(client);
      if (session) endSession(session);
      byClient.delete(client);
    });
    return {
      url: broker.url,
      close: () => broker.close(),
      async drop(device: Device) {
        await Promise.all(sessionsOf(device).map((s) => s.close()));
      },
    };
  }

  async function external(url: string) {
    if (!options.device)
      throw new Error("an external broker needs options.device (token and clientId)");
    const one = addDevice(options.device.token);
    const clientId = options.device.clientId;
    const tlsOptions = options.brokerTls ?? {};
    const client = mqtt.connect(url, {
      clientId: `tb-cloud-${randomBytes(4).toString("hex")}`,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 200,
      ...tlsOptions,
    });
    client.on("error", (error) => log(`cloud client: ${error.message}`));
    let session: Session | undefined;
    const startSession = () => {
      if (session) endSession(session);
      const current: Session = newSession(one, {
        wantsAttributes: () => true,
        send: (topic, payload) =>
          new Promise<void>((resolve, reject) => {
            if (!current.open) return reject(new Error("session closed"));
            client.publish(topic, payload, { qos: 1 }, (error) =>
              error ? reject(error) : resolve(),
            );
          }),
        close: async () => {
          if (!current.open) return;
          endSession(current);
          // Give the broker a moment to pass on what was published, then take over the client id.
          await new Promise((r) => setTimeout(r, 50));
          const kicker = mqtt.connect(url, {
            clientId,
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 0,
            ...tlsOptions,
          });
          await new Promise<void>((resolve) => {
            kicker.once("connect", () => resolve());
            kicker.once("error", () => resolve());
            kicker.once("close", () => resolve());
          });
          await kicker.endAsync(true);
          if (session === current) startSession();
        },
      });
      session = current;
    };
    // A new connection of the cloud means the broker restarted: the device's session is new too.
    client.on("connect", () => startSession());
    client.on("message", (topic, payload) => {
      if (session) onDevicePublish(session, topic, payload);
    });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    await client.subscribeAsync(
      [
        ATTRIBUTES,
        TELEMETRY,
        `${ATTRIBUTES_REQUEST}+`,
        "v2/fw/request/+/chunk/+",
        "v2/sw/request/+/chunk/+",
      ],
      // No local: the cloud does not hear its own attribute pushes.
      { qos: 1, nl: true },
    );
    return {
      url,
      close: () => client.endAsync(true),
      async drop() {
        if (session) await session.close();
      },
    };
  }

  return {
    brokerUrl: transport.url,
    mode: options.brokerUrl === undefined ? "embedded" : "external",
    addDevice(token) {
      addDevice(token);
    },
    assign,
    deploy: assign,
    unassign,
    attributes(token) {
      const device = deviceOf(token);
      return { shared: { ...device.shared }, client: { ...device.client } };
    },
    telemetry(token) {
      return deviceOf(token).telemetry.slice();
    },
    status(token, type = "firmware") {
      const p = PREFIX[type];
      const latest: Record<string, unknown> = {};
      for (const entry of deviceOf(token).telemetry) Object.assign(latest, entry.values);
      const str = (v: unknown) => (v === undefined ? undefined : String(v));
      return {
        state: str(latest[`${p}_state`]),
        error: str(latest[`${p}_error`]),
        currentTitle: str(latest[`current_${p}_title`]),
        currentVersion: str(latest[`current_${p}_version`]),
        targetTitle: str(latest[`target_${p}_title`]),
        targetVersion: str(latest[`target_${p}_version`]),
      };
    },
    waitFor(predicate, timeoutMs = 10_000) {
      for (const device of devices.values()) {
        const found = device.telemetry.find(predicate);
        if (found) return Promise.resolve(found);
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (entry: TelemetryEntry) => {
            clearTimeout(timer);
            timers.delete(timer);
            resolve(entry);
          },
        };
        const timer = setTimeout(() => {
          timers.delete(timer);
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no matching telemetry within ${timeoutMs} ms`));
        }, timeoutMs);
        timers.add(timer);
        waiters.push(waiter);
      });
    },
    chunkRequests(token) {
      return requests.filter((r) => token === undefined || r.token === token);
    },
    onChunkRequest(next) {
      hook = next;
    },
    async dropDevice(token) {
      await transport.drop(deviceOf(token));
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const session of [...sessions]) endSession(session);
      await transport.close();
    },
  };
}
