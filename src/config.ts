// One configuration for a device: who it is, which cloud it talks to and with what credentials,
// and the update policy. checkConfig() is meant to run once at start, so that a typo in a fork's
// settings is one clear message naming the field and what it accepts, not a failure deep inside a
// connection. agentConfigOf() and backendConfigOf() map it onto what the agent and each backend take.
import { createAwsBackend, mqttIdentity as awsIdentity } from "./backends/aws/index";
import type { AwsConfig } from "./backends/aws/index";
import { createTencentBackend, mqttIdentity as tencentIdentity } from "./backends/tencent/index";
import type { TencentConfig } from "./backends/tencent/index";
import { isThingName } from "./backends/aws/topics";
import {
  MAX_CHUNK_SIZE,
  createThingsBoardBackend,
  mqttIdentity as thingsBoardIdentity,
} from "./backends/thingsboard/index";
import type { PackageKind, ThingsBoardConfig } from "./backends/thingsboard/index";
import type { AgentConfig } from "./core/agent/agent";
import { DEFAULT_CONFIG } from "./core/agent/agent";
import type { Backend } from "./core/backend";
import { otaError, type OtaError } from "./core/errors";
import { isHostPattern } from "./core/policy";
import type { Clock, Logger, MqttClient } from "./core/ports";
import { trustedKey } from "./core/signature/keys";
import {
  allCharsIn,
  isAlphanumericText,
  isPaddedBase64,
  isPrintableAscii,
  isSpace,
  someChar,
} from "./core/util/chars";
import { brokerParts } from "./core/util/url-parts";

/** The board itself. The device's identity in its cloud is part of {@link BackendSettings}. */
export interface DeviceSettings {
  /**
   * ESP-IDF chip id an image must be built for (0 ESP32, 2 ESP32-S2, 5 ESP32-C3, 9 ESP32-S3...),
   * 0-65535. Absent (the default): the chip is not checked.
   */
  chipId?: number;
}

/** AWS IoT Jobs. */
export interface AwsSettings {
  /** The thing name, also the MQTT client id: 1-128 of [a-zA-Z0-9:_-]. */
  thingName: string;
  /** Prepended to the thing name to make the client id (default ""); the two make at most 128. */
  clientIdPrefix: string;
  /** stepTimeoutInMinutes sent with IN_PROGRESS updates, 1-10080; absent (default): none. */
  stepTimeoutMinutes?: number;
}

/** ThingsBoard's firmware (fw_*) or software (sw_*) attributes. */
export interface ThingsBoardSettings {
  /** The device access token, the MQTT user name: 1-256 printable ASCII characters, no space. */
  accessToken: string;
  /**
   * The package title the device accepts, 1-31 characters (the app descriptor's project name).
   * Absent (the default): the running image's project name.
   */
  title?: string;
  /** "firmware" (the default) or "software". */
  kind: PackageKind;
}

/** Tencent IoT Hub. */
export interface TencentSettings {
  /** The product id: 1-32 of [A-Za-z0-9] (the console shows ten, e.g. S3EUVBRJLB). */
  productId: string;
  /** The device name: 1-48 of [a-zA-Z0-9:_@.-]. */
  deviceName: string;
  /** Base64 device secret of a key-authenticated device; absent for a certificate device. */
  deviceSecret?: string;
  /** "hmacsha256" (the default) or "hmacsha1". */
  signMethod: "hmacsha256" | "hmacsha1";
}

/** The cloud: exactly one of these keys. */
export type BackendSettings =
  { aws: AwsSettings } | { thingsboard: ThingsBoardSettings } | { tencent: TencentSettings };

export type BackendName = "aws" | "thingsboard" | "tencent";

/** How the host reaches the broker. The file names are the host's (Moddable: DER resources). */
export interface ConnectionSettings {
  /** "mqtts://host[:port]" (8883 by default), or "mqtt://host[:port]" (1883) with insecure.allowPlaintext. */
  broker: string;
  /** The server's CA certificate. */
  ca?: string;
  /** The device certificate; goes with `key`. */
  cert?: string;
  /** The device certificate's private key; goes with `cert`. */
  key?: string;
}

/** Everything the agent decides by. Defaults: {@link DEFAULT_POLICY}. */
export interface PolicySettings {
  /** Bytes per ThingsBoard chunk request: 1-65536, default 4096. */
  chunkSize: number;
  /** ThingsBoard chunk requests in flight at once: 1-64, default 8. */
  chunkWindow: number;
  /**
   * Bytes of ThingsBoard chunks requested or held at once up to which the window and then the
   * chunk size grow while the download waits on the network: 0 (off, the default) or 4096-1048576.
   */
  chunkBytesInFlight: number;
  /** Transient failures in a row, without a byte of progress, before a download fails: 1-1000, default 8. */
  maxAttempts: number;
  /** Retry delays, exponential with full jitter: base 1-3600000 ms (1000), max base-86400000 ms (60000). */
  backoff: { baseMs: number; maxMs: number };
  /** Bytes between two journal writes: 4096-16777216, default 65536 (flash wear against bytes fetched again). */
  journalIntervalBytes: number;
  /** How long the new image's self-test may take: 1000-3600000 ms, default 60000. */
  selfTestTimeoutMs: number;
  /** Accept a lower version when the offer is marked as a rollback: default false. */
  allowDowngrade: boolean;
  /** Reboot into a staged image at once (default true); otherwise the application calls agent.reboot(). */
  autoReboot: boolean;
  /**
   * Hosts image URLs (and their redirects) may name: "fw.example.com", "*.example.com" for its
   * subdomains, or an IP address; case-insensitive. Default []: any host.
   */
  allowedHosts: string[];
}

/** What the firmware trusts. */
export interface SecuritySettings {
  /**
   * Keys built into the firmware, one of which must have signed every image: PEM public keys or
   * certificates (ECDSA P-256 or RSA-3072), the hex of a Secure Boot V2 key digest (`otaflow
   * keygen` and `espsecure digest_sbv2_public_key` print it), or the hex of a 65-byte P-256 point.
   * Required, unless insecure.allowUnsigned.
   */
  trustedKeys: string[];
}

/** Options that weaken security, all off by default: for development only. */
export interface InsecureSettings {
  /** Accept images without a signature check (no trusted key): default false. */
  allowUnsigned: boolean;
  /** Allow plain mqtt:// to the broker and http:// image URLs, loopback included: default false. */
  allowPlaintext: boolean;
  /** Skip the server certificate check: default false. */
  skipServerVerification: boolean;
}

/** The whole configuration, normalised: every default filled in. */
export interface OtaflowConfig {
  device: DeviceSettings;
  backend: BackendSettings;
  connection: ConnectionSettings;
  policy: PolicySettings;
  security: SecuritySettings;
  insecure: InsecureSettings;
}

/** What checkConfig() accepts: the same shape, with every defaulted field optional. */
export interface OtaflowConfigInput {
  device?: Partial<DeviceSettings>;
  backend:
    | { aws: Pick<AwsSettings, "thingName"> & Partial<AwsSettings> }
    | { thingsboard: Pick<ThingsBoardSettings, "accessToken"> & Partial<ThingsBoardSettings> }
    | {
        tencent: Pick<TencentSettings, "productId" | "deviceName"> & Partial<TencentSettings>;
      };
  connection: ConnectionSettings;
  policy?: Partial<Omit<PolicySettings, "backoff">> & {
    backoff?: Partial<PolicySettings["backoff"]>;
  };
  security?: Partial<SecuritySettings>;
  insecure?: Partial<InsecureSettings>;
}

export const DEFAULT_POLICY: PolicySettings = {
  chunkSize: 4096,
  chunkWindow: 8,
  chunkBytesInFlight: 0,
  maxAttempts: DEFAULT_CONFIG.maxAttempts,
  backoff: { baseMs: DEFAULT_CONFIG.backoff.baseMs, maxMs: DEFAULT_CONFIG.backoff.maxMs },
  journalIntervalBytes: DEFAULT_CONFIG.journalIntervalBytes,
  selfTestTimeoutMs: DEFAULT_CONFIG.selfTestTimeoutMs,
  allowDowngrade: DEFAULT_CONFIG.allowDowngrade,
  autoReboot: DEFAULT_CONFIG.autoReboot,
  allowedHosts: [],
};

/** A configuration error: `field` is the dotted path of the bad field ("policy.chunkSize"). */
export interface ConfigError extends OtaError {
  field: string;
}

export function isConfigError(value: unknown): value is ConfigError {
  return value instanceof Error && typeof (value as ConfigError).field === "string";
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

function fail(field: string, accepted: string, value: unknown): ConfigError {
  const error = otaError(
    "internal",
    `${field}: must be ${accepted}, got ${describe(value)}`,
  ) as ConfigError;
  error.field = field;
  return error;
}

type Fields = Record<string, unknown>;

/** An object whose keys are all among `known`; an absent optional section reads as {}. */
function section(field: string, value: unknown, known: string[], optional: boolean): Fields {
  if (value === undefined && optional) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw fail(field, `an object with ${known.join(", ")}`, value);
  const fields = value as Fields;
  const keys = Object.keys(fields);
  for (let i = 0; i < keys.length; i++) {
    if (known.indexOf(keys[i]) < 0)
      throw fail(
        `${field}.${keys[i]}`,
        `absent (the known fields are ${known.join(", ")})`,
        fields[keys[i]],
      );
  }
  return fields;
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || value % 1 !== 0 || value < min || value > max)
    throw fail(field, `an integer from ${min} to ${max}`, value);
  return value;
}

function integerOr(field: string, value: unknown, min: number, max: number, fallback: number) {
  return value === undefined ? fallback : integer(field, value, min, max);
}

function boolOr(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw fail(field, "true or false", value);
  return value;
}

function matching(
  field: string,
  value: unknown,
  valid: (text: string) => boolean,
  accepted: string,
): string {
  if (typeof value !== "string" || !valid(value)) throw fail(field, accepted, value);
  return value;
}

function oneOf<T extends string>(field: string, value: unknown, values: T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (values.indexOf(value as T) < 0)
    throw fail(field, `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`, value);
  return value as T;
}

const AWS_NAME = "1-128 of [a-zA-Z0-9:_-]";
const BACKENDS: BackendName[] = ["aws", "thingsboard", "tencent"];

function checkAws(field: string, value: unknown): AwsSettings {
  const fields = section(
    field,
    value,
    ["thingName", "clientIdPrefix", "stepTimeoutMinutes"],
    false,
  );
  const thingName = matching(`${field}.thingName`, fields.thingName, isThingName, AWS_NAME);
  const prefix = fields.clientIdPrefix === undefined ? "" : fields.clientIdPrefix;
  const room = 128 - thingName.length;
  const clientIdPrefix = matching(
    `${field}.clientIdPrefix`,
    prefix,
    (text) => isAlphanumericText(text, 0, room, ":_-"),
    `0-${room} of [a-zA-Z0-9:_-] (with the thing name, a client id of at most 128)`,
  );
  const settings: AwsSettings = { thingName, clientIdPrefix };
  if (fields.stepTimeoutMinutes !== undefined)
    settings.stepTimeoutMinutes = integer(
      `${field}.stepTimeoutMinutes`,
      fields.stepTimeoutMinutes,
      1,
      10080,
    );
  return settings;
}

function checkThingsBoard(field: string, value: unknown): ThingsBoardSettings {
  const fields = section(field, value, ["accessToken", "title", "kind"], false);
  const settings: ThingsBoardSettings = {
    accessToken: matching(
      `${field}.accessToken`,
      fields.accessToken,
      (text) => allCharsIn(text, 1, 256, isPrintableAscii),
      "1-256 printable ASCII characters without spaces",
    ),
    kind: oneOf<PackageKind>(`${field}.kind`, fields.kind, ["firmware", "software"], "firmware"),
  };
  if (fields.title !== undefined)
    settings.title = matching(
      `${field}.title`,
      fields.title,
      (text) => allCharsIn(text, 1, 31, (code) => code !== 0),
      "1-31 characters",
    );
  return settings;
}

function checkTencent(field: string, value: unknown): TencentSettings {
  const fields = section(
    field,
    value,
    ["productId", "deviceName", "deviceSecret", "signMethod"],
    false,
  );
  const settings: TencentSettings = {
    productId: matching(
      `${field}.productId`,
      fields.productId,
      (text) => isAlphanumericText(text, 1, 32),
      "1-32 of [A-Za-z0-9]",
    ),
    deviceName: matching(
      `${field}.deviceName`,
      fields.deviceName,
      (text) => isAlphanumericText(text, 1, 48, ":_@.-"),
      "1-48 of [a-zA-Z0-9:_@.-]",
    ),
    signMethod: oneOf<TencentSettings["signMethod"]>(
      `${field}.signMethod`,
      fields.signMethod,
      ["hmacsha256", "hmacsha1"],
      "hmacsha256",
    ),
  };
  if (fields.deviceSecret !== undefined) {
    settings.deviceSecret = matching(
      `${field}.deviceSecret`,
      fields.deviceSecret,
      isPaddedBase64,
      "base64 (as the console shows it)",
    );
    if (settings.deviceSecret === "")
      throw fail(`${field}.deviceSecret`, "base64 (as the console shows it)", "");
  }
  return settings;
}

function checkBackend(value: unknown): BackendSettings {
  const fields = section("backend", value, BACKENDS, false);
  const names = Object.keys(fields);
  if (names.length !== 1) throw fail("backend", `exactly one of ${BACKENDS.join(", ")}`, value);
  const field = `backend.${names[0]}`;
  if (names[0] === "aws") return { aws: checkAws(field, fields.aws) };
  if (names[0] === "thingsboard")
    return { thingsboard: checkThingsBoard(field, fields.thingsboard) };
  return { tencent: checkTencent(field, fields.tencent) };
}

/** The broker URL in parts: mqtts?://host[:port][/], a host without spaces, a port of 1-5 digits. */
export function parseBroker(url: string): { secure: boolean; host: string; port: number } {
  const parts = brokerParts(url);
  if (!parts || someChar(parts.host, isSpace) || parts.port.length > 5)
    throw fail("connection.broker", "mqtt://host[:port] or mqtts://host[:port]", url);
  const secure = parts.secure;
  const port = parts.port ? parseInt(parts.port, 10) : secure ? 8883 : 1883;
  if (port < 1 || port > 65535) throw fail("connection.broker", "a port from 1 to 65535", url);
  return { secure, host: parts.host, port };
}

function optionalName(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return matching(
    field,
    value,
    (text) => text.length > 0 && !isSpace(text.charCodeAt(0)),
    "a non-empty name",
  );
}

function checkConnection(value: unknown, insecure: InsecureSettings): ConnectionSettings {
  const fields = section("connection", value, ["broker", "ca", "cert", "key"], false);
  if (typeof fields.broker !== "string")
    throw fail("connection.broker", "mqtt://host[:port] or mqtts://host[:port]", fields.broker);
  const broker = parseBroker(fields.broker);
  if (!broker.secure && !insecure.allowPlaintext)
    throw fail(
      "connection.broker",
      "mqtts:// (plain mqtt://, even to loopback, needs insecure.allowPlaintext)",
      fields.broker,
    );
  const settings: ConnectionSettings = { broker: fields.broker };
  const ca = optionalName("connection.ca", fields.ca);
  const cert = optionalName("connection.cert", fields.cert);
  const key = optionalName("connection.key", fields.key);
  if ((cert === undefined) !== (key === undefined))
    throw fail(
      cert === undefined ? "connection.cert" : "connection.key",
      "set with its partner (cert and key go together)",
      undefined,
    );
  if (ca !== undefined) settings.ca = ca;
  if (cert !== undefined) settings.cert = cert;
  if (key !== undefined) settings.key = key;
  return settings;
}

/** 0 (no adaptation) or a budget of at least one 4 KiB chunk and at most 1 MiB. */
function bytesInFlight(value: unknown, fallback: number): number {
  const field = "policy.chunkBytesInFlight";
  const bytes = integerOr(field, value, 0, 1048576, fallback);
  if (bytes !== 0 && bytes < 4096)
    throw fail(field, "0 (off) or an integer from 4096 to 1048576", value);
  return bytes;
}

function checkPolicy(value: unknown): PolicySettings {
  const d = DEFAULT_POLICY;
  const known = Object.keys(d);
  const fields = section("policy", value, known, true);
  const backoff = section("policy.backoff", fields.backoff, ["baseMs", "maxMs"], true);
  const baseMs = integerOr("policy.backoff.baseMs", backoff.baseMs, 1, 3600000, d.backoff.baseMs);
  return {
    chunkSize: integerOr("policy.chunkSize", fields.chunkSize, 1, MAX_CHUNK_SIZE, d.chunkSize),
    chunkWindow: integerOr("policy.chunkWindow", fields.chunkWindow, 1, 64, d.chunkWindow),
    chunkBytesInFlight: bytesInFlight(fields.chunkBytesInFlight, d.chunkBytesInFlight),
    maxAttempts: integerOr("policy.maxAttempts", fields.maxAttempts, 1, 1000, d.maxAttempts),
    backoff: {
      baseMs,
      maxMs: integerOr(
        "policy.backoff.maxMs",
        backoff.maxMs,
        baseMs,
        86400000,
        Math.max(baseMs, d.backoff.maxMs),
      ),
    },
    journalIntervalBytes: integerOr(
      "policy.journalIntervalBytes",
      fields.journalIntervalBytes,
      4096,
      16777216,
      d.journalIntervalBytes,
    ),
    selfTestTimeoutMs: integerOr(
      "policy.selfTestTimeoutMs",
      fields.selfTestTimeoutMs,
      1000,
      3600000,
      d.selfTestTimeoutMs,
    ),
    allowDowngrade: boolOr("policy.allowDowngrade", fields.allowDowngrade, d.allowDowngrade),
    autoReboot: boolOr("policy.autoReboot", fields.autoReboot, d.autoReboot),
    allowedHosts: hostPatterns("policy.allowedHosts", fields.allowedHosts),
  };
}

function hostPatterns(field: string, value: unknown): string[] {
  if (value === undefined) return [];
  const accepted = 'an array of host names ("fw.example.com", "*.example.com" or an IP address)';
  if (!Array.isArray(value)) throw fail(field, accepted, value);
  const hosts: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const host: unknown = value[i];
    if (typeof host !== "string" || !isHostPattern(host))
      throw fail(
        `${field}[${i}]`,
        'a host name ("fw.example.com"), "*.example.com" or an IP address',
        host,
      );
    hosts.push(host);
  }
  return hosts;
}

function checkSecurity(value: unknown, insecure: InsecureSettings): SecuritySettings {
  const fields = section("security", value, ["trustedKeys"], true);
  const keys = fields.trustedKeys === undefined ? [] : fields.trustedKeys;
  const accepted =
    "a list of public keys (PEM, a certificate, a Secure Boot V2 key digest or a P-256 point)";
  if (!Array.isArray(keys)) throw fail("security.trustedKeys", accepted, keys);
  if (keys.length === 0 && !insecure.allowUnsigned)
    throw fail(
      "security.trustedKeys",
      "at least one public key, so that only signed images are installed (or set insecure.allowUnsigned)",
      keys,
    );
  const trusted: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key: unknown = keys[i];
    if (typeof key !== "string") throw fail(`security.trustedKeys[${i}]`, "a string", key);
    try {
      trustedKey(key);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw fail(`security.trustedKeys[${i}]`, `a public key or key digest (${reason})`, key);
    }
    trusted.push(key);
  }
  return { trustedKeys: trusted };
}

/**
 * Checks a configuration (parsed JSON, mc/config, a literal) and fills in the defaults. Throws a
 * {@link ConfigError} naming the first bad field and what it accepts, e.g.
 * `backend.aws.thingName: must be 1-128 of [a-zA-Z0-9:_-], got ""`.
 */
export function checkConfig(input: unknown): OtaflowConfig {
  const fields = section(
    "config",
    input,
    ["device", "backend", "connection", "policy", "security", "insecure"],
    false,
  );
  const device = section("device", fields.device, ["chipId"], true);
  const flags = section(
    "insecure",
    fields.insecure,
    ["allowUnsigned", "allowPlaintext", "skipServerVerification"],
    true,
  );
  const insecure: InsecureSettings = {
    allowUnsigned: boolOr("insecure.allowUnsigned", flags.allowUnsigned, false),
    allowPlaintext: boolOr("insecure.allowPlaintext", flags.allowPlaintext, false),
    skipServerVerification: boolOr(
      "insecure.skipServerVerification",
      flags.skipServerVerification,
      false,
    ),
  };
  const config: OtaflowConfig = {
    device: {},
    backend: checkBackend(fields.backend),
    connection: checkConnection(fields.connection, insecure),
    policy: checkPolicy(fields.policy),
    security: checkSecurity(fields.security, insecure),
    insecure,
  };
  if (device.chipId !== undefined)
    config.device.chipId = integer("device.chipId", device.chipId, 0, 65535);
  return config;
}

/** The name of the configured backend. */
export function backendNameOf(config: OtaflowConfig): BackendName {
  const backend = config.backend;
  return "aws" in backend ? "aws" : "thingsboard" in backend ? "thingsboard" : "tencent";
}

/** The agent's part of the configuration; what it does not set keeps {@link DEFAULT_CONFIG}. */
export function agentConfigOf(config: OtaflowConfig): AgentConfig {
  const policy = config.policy;
  return {
    ...DEFAULT_CONFIG,
    journalIntervalBytes: policy.journalIntervalBytes,
    maxAttempts: policy.maxAttempts,
    backoff: { baseMs: policy.backoff.baseMs, maxMs: policy.backoff.maxMs },
    selfTestTimeoutMs: policy.selfTestTimeoutMs,
    allowDowngrade: policy.allowDowngrade,
    autoReboot: policy.autoReboot,
    chipId: config.device.chipId,
    allowPlaintext: config.insecure.allowPlaintext,
    allowedHosts: policy.allowedHosts.slice(),
    trustedKeys: config.security.trustedKeys.slice(),
  };
}

/** The image that booted: ThingsBoard and Tencent report its version, ThingsBoard takes its title. */
export interface RunningIdentity {
  version: string;
  project: string;
}

/** A backend's own configuration, tagged with its name. */
export type BackendConfig =
  | { name: "aws"; config: AwsConfig }
  | { name: "thingsboard"; config: ThingsBoardConfig }
  | { name: "tencent"; config: TencentConfig };

/** The configured backend's own configuration (add AwsConfig.onJob to it for non-firmware jobs). */
export function backendConfigOf(config: OtaflowConfig, running: RunningIdentity): BackendConfig {
  const backend = config.backend;
  if ("aws" in backend) {
    const aws: AwsConfig = {
      thingName: backend.aws.thingName,
      clientIdPrefix: backend.aws.clientIdPrefix,
    };
    if (backend.aws.stepTimeoutMinutes !== undefined)
      aws.stepTimeoutMinutes = backend.aws.stepTimeoutMinutes;
    return { name: "aws", config: aws };
  }
  if ("thingsboard" in backend) {
    const tb = backend.thingsboard;
    return {
      name: "thingsboard",
      config: {
        accessToken: tb.accessToken,
        title: tb.title === undefined ? running.project : tb.title,
        kind: tb.kind,
        chunkSize: config.policy.chunkSize,
        window: config.policy.chunkWindow,
        maxBytesInFlight: config.policy.chunkBytesInFlight,
        currentVersion: running.version,
      },
    };
  }
  const tencent: TencentConfig = {
    productId: backend.tencent.productId,
    deviceName: backend.tencent.deviceName,
    signMethod: backend.tencent.signMethod,
    currentVersion: running.version,
  };
  if (backend.tencent.deviceSecret !== undefined)
    tencent.deviceSecret = backend.tencent.deviceSecret;
  return { name: "tencent", config: tencent };
}

/** The MQTT CONNECT fields of the configured device; Tencent's change with every connection. */
export function mqttIdentityOf(
  config: OtaflowConfig,
  random: () => number,
): { clientId: string; username?: string; password?: string } {
  const made = backendConfigOf(config, { version: "", project: "" });
  if (made.name === "aws") return awsIdentity(made.config);
  if (made.name === "thingsboard") return thingsBoardIdentity(made.config);
  return tencentIdentity(made.config, undefined, random);
}

export interface BackendDeps {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
}

/** The configured backend, over the host's MQTT connection. */
export function createBackend(backend: BackendConfig, deps: BackendDeps): Backend {
  if (backend.name === "aws") return createAwsBackend(backend.config, deps);
  if (backend.name === "thingsboard") return createThingsBoardBackend(backend.config, deps);
  return createTencentBackend(backend.config, deps);
}
