// The agent as an Espruino application. The bundle (build/espruino/otaflow.js) puts `otaflow` on
// the global object; an application image is that bundle followed by the application's own code,
// which calls otaflow.start({ selfTest }) (see README.md). Settings come from Storage
// "otaflow.json": the backend, the broker and the device's identity.
import { createAwsBackend, mqttIdentity as awsIdentity } from "../../src/backends/aws/index";
import {
  createTencentBackend,
  mqttIdentity as tencentIdentity,
} from "../../src/backends/tencent/index";
import {
  createThingsBoardBackend,
  mqttIdentity as thingsBoardIdentity,
} from "../../src/backends/thingsboard/index";
import {
  Agent,
  describeNotice,
  type AgentConfig,
  type AgentNotice,
  type SelfTest,
} from "../../src/core/agent/agent";
import type { Backend } from "../../src/core/backend";
import { trustedKey } from "../../src/core/signature/keys";
import { withoutPrefix } from "../../src/core/util/chars";
import type {
  Clock,
  HostPorts,
  LogLevel,
  Logger,
  MqttClient,
  RunningImage,
} from "../../src/core/ports";
import { slotDigests } from "./digests";
import { espruinoHttpClient } from "./http";
import { SETTINGS_FILE } from "./layout";
import { httpModule, netModule, storageModule } from "./modules";
import { connectMqtt, type MqttIdentity } from "./mqtt";
import { slotsOf, storageBootControl, storageSlot } from "./slot";
import { storageStore } from "./store";

export interface Settings {
  backend: "aws" | "thingsboard" | "tencent";
  /** `tls`: options for require("tls").connect (ca, key, cert as PEM text); absent for plain MQTT. */
  broker: { host: string; port: number; tls?: Record<string, unknown> };
  thing?: string;
  token?: string;
  title?: string;
  product?: string;
  device?: string;
  secret?: string;
  /** Allows plain MQTT (no `broker.tls`) and http:// image URLs: development only. */
  insecurePlaintext?: boolean;
  /**
   * The keys an image must be signed with: each a Secure Boot V2 key digest (hex, as `otaflow
   * keygen` prints it), a PEM public key, or the hex of a P-256 point. Required, unless
   * `insecureUnsigned`.
   */
  publicKeys?: string[];
  /** Installs unsigned images when there is no `publicKeys`: development only. */
  insecureUnsigned?: boolean;
  /** Least level printed on the console ("info" by default). */
  log?: LogLevel;
  /** Bytes each application slot may take (192 KiB by default). */
  slotSize?: number;
}

export interface StartOptions {
  /** The application's check of a new image before it confirms itself (default: cloud reachable). */
  selfTest?: SelfTest;
  /** Instead of Storage "otaflow.json". */
  settings?: Settings;
  config?: Partial<AgentConfig>;
  onNotice?: (notice: AgentNotice) => void;
}

export interface App {
  agent: Agent;
  mqtt: MqttClient;
  running: RunningImage;
}

const LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];
const DEFAULT_SLOT_SIZE = 192 * 1024;

const clock: Clock = {
  now: () => getTime() * 1000,
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
  random: () => Math.random(),
};

function consoleLogger(least: LogLevel): Logger {
  const threshold = LEVELS.indexOf(least);
  return {
    log(level, message, fields) {
      if (LEVELS.indexOf(level) < threshold) return;
      console.log(`otaflow ${level}: ${message}` + (fields ? " " + JSON.stringify(fields) : ""));
    },
  };
}

function cloudOf(
  settings: Settings,
  running: RunningImage,
): { identity: () => MqttIdentity; backend: (deps: BackendDeps) => Backend } {
  const required = (value: string | undefined, name: string): string => {
    if (value === undefined) throw new Error(`${SETTINGS_FILE}: "${name}" is required`);
    return value;
  };
  if (settings.backend === "aws") {
    const config = { thingName: required(settings.thing, "thing") };
    return {
      identity: () => awsIdentity(config),
      backend: (deps) => createAwsBackend(config, deps),
    };
  }
  if (settings.backend === "thingsboard") {
    const config = {
      accessToken: required(settings.token, "token"),
      title: settings.title || running.project,
      currentVersion: running.version,
    };
    return {
      identity: () => thingsBoardIdentity(config),
      backend: (deps) => createThingsBoardBackend(config, deps),
    };
  }
  const config = {
    productId: required(settings.product, "product"),
    deviceName: required(settings.device, "device"),
    deviceSecret: settings.secret,
    currentVersion: running.version,
  };
  return {
    // A new connection id (and signature) for every connection, as the C SDKs do.
    identity: () => tencentIdentity(config, undefined, () => clock.random()),
    backend: (deps) => createTencentBackend(config, deps),
  };
}

/** "publicKeys", each checked, so that a mistyped key stops the start with its reason. */
function trustedKeysOf(settings: Settings): string[] {
  const keys = settings.publicKeys || [];
  if (!Array.isArray(keys))
    throw new Error(`${SETTINGS_FILE}: "publicKeys" must be a list of keys, as ["04ab..."]`);
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] !== "string")
      throw new Error(`${SETTINGS_FILE}: "publicKeys"[${i}] must be a string`);
    try {
      trustedKey(keys[i]);
    } catch (error) {
      // The parser's error, with the setting named: it says what is wrong with the key.
      const problem = error as Error;
      problem.message = `${SETTINGS_FILE}: "publicKeys"[${i}] is not a key digest or P-256 public key: ${withoutPrefix(problem.message, "key: ")}`;
      throw problem;
    }
  }
  if (keys.length === 0 && settings.insecureUnsigned !== true)
    throw new Error(
      `${SETTINGS_FILE}: no "publicKeys": give the release signing key's Secure Boot V2 digest ` +
        `(\`otaflow keygen\` prints it) so that only images it signed are installed, or set ` +
        `"insecureUnsigned": true to install unsigned images (development only)`,
    );
  return keys;
}

interface BackendDeps {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
}

function start(options?: StartOptions): Promise<App> {
  const opts = options || {};
  const storage = storageModule();
  const settings = opts.settings || (storage.readJSON(SETTINGS_FILE, true) as Settings | undefined);
  if (!settings) return Promise.reject(new Error(`no settings: write Storage "${SETTINGS_FILE}"`));
  if (!settings.broker.tls && settings.insecurePlaintext !== true)
    return Promise.reject(
      new Error(
        `${SETTINGS_FILE}: "broker" has no "tls": give its CA (and the device's certificate where ` +
          `the cloud asks for one), or set "insecurePlaintext": true for plain MQTT and HTTP (development only)`,
      ),
    );
  let trustedKeys: string[];
  try {
    trustedKeys = trustedKeysOf(settings);
  } catch (error) {
    return Promise.reject(error);
  }
  const logger = consoleLogger(settings.log || "info");
  const slot = storageSlot(storage, slotsOf().inactive, settings.slotSize || DEFAULT_SLOT_SIZE);
  const boot = storageBootControl(storage, () => E.reboot());
  return boot.running().then((running) => {
    logger.log(
      "info",
      `running ${running.project} ${running.version} from ${running.slot} (${running.state})`,
    );
    const cloud = cloudOf(settings, running);
    const mqtt = connectMqtt({
      host: settings.broker.host,
      port: settings.broker.port,
      net: netModule(settings.broker.tls !== undefined),
      tls: settings.broker.tls,
      identity: cloud.identity,
      clock,
      logger,
    });
    const ports: HostPorts = {
      slot,
      boot,
      http: espruinoHttpClient(httpModule()),
      store: storageStore(storage),
      clock,
      logger,
      nativeDigests: slotDigests(storage, () => slot.name),
    };
    const agent = new Agent({
      ports,
      backend: cloud.backend({ mqtt, clock, logger }),
      selfTest: opts.selfTest,
      config: { allowPlaintext: settings.insecurePlaintext === true, trustedKeys, ...opts.config },
      onNotice: (notice) => {
        if (opts.onNotice) opts.onNotice(notice);
        logger.log(levelOf(notice), describeNotice(notice));
      },
    });
    return agent.start().then(() => ({ agent, mqtt, running }));
  });
}

function levelOf(notice: AgentNotice): LogLevel {
  if (notice.event === "state" || notice.event === "progress") return "debug";
  if (notice.event === "rollback") return "warn";
  return notice.event === "error" ? "error" : "info";
}

(global as unknown as { otaflow: { start: typeof start } }).otaflow = { start };
