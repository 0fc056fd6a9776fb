// The application's settings, from the manifest's "config" section (and mcconfig's key=value
// arguments), checked once at boot so that a typo is a clear message on the console rather than
// a failure deep inside a connection.
import { otaError } from "../../src/core/errors";
import type { LogLevel } from "../../src/core/ports";

export type BackendName = "aws" | "thingsboard" | "tencent";

export interface Settings {
  backend: BackendName;
  broker: { secure: boolean; host: string; port: number };
  /** AWS: the thing name. */
  thing?: string;
  /** ThingsBoard: the device access token, and the firmware title (default: the image's project). */
  token?: string;
  title?: string;
  /** Tencent: product id, device name, and the device secret of a key-authenticated device. */
  product?: string;
  device?: string;
  secret?: string;
  /** Resource names of DER files: CA certificate, client certificate, client key. */
  ca?: string;
  cert?: string;
  key?: string;
  /** false skips the server certificate check (development only). */
  verify: boolean;
  /** NVS namespace of the agent's records. */
  nvs: string;
  log: LogLevel;
  /** ESP-IDF chip id images must be built for (0 = ESP32); absent skips the check. */
  chip?: number;
}

const BACKENDS: BackendName[] = ["aws", "thingsboard", "tencent"];
const LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];

function bad(message: string): Error {
  return otaError("internal", "config: " + message);
}

function text(config: Record<string, unknown>, name: string): string | undefined {
  const value = config[name];
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw bad(`"${name}" must be a string`);
  return value;
}

function needed(config: Record<string, unknown>, name: string, backend: string): string {
  const value = text(config, name);
  if (value === undefined) throw bad(`the ${backend} backend needs "${name}"`);
  return value;
}

export function parseBroker(url: string): Settings["broker"] {
  const match = /^(mqtts?):\/\/([^/:]+)(?::(\d+))?\/?$/.exec(url);
  if (!match) throw bad(`"broker" must be mqtt://host[:port] or mqtts://host[:port], not "${url}"`);
  const secure = match[1] === "mqtts";
  return {
    secure,
    host: match[2],
    port: match[3] ? parseInt(match[3], 10) : secure ? 8883 : 1883,
  };
}

export function readSettings(config: Record<string, unknown>): Settings {
  const backend = text(config, "backend") as BackendName | undefined;
  if (!backend || BACKENDS.indexOf(backend) < 0)
    throw bad(`"backend" must be one of ${BACKENDS.join(", ")}`);
  const broker = parseBroker(needed(config, "broker", backend));
  const log = (text(config, "log") || "info") as LogLevel;
  if (LEVELS.indexOf(log) < 0) throw bad(`"log" must be one of ${LEVELS.join(", ")}`);
  const chip = config.chip;
  if (chip !== undefined && chip !== "" && typeof chip !== "number")
    throw bad(`"chip" must be a number`);
  const settings: Settings = {
    backend,
    broker,
    ca: text(config, "ca"),
    cert: text(config, "cert"),
    key: text(config, "key"),
    verify: config.verify !== false && config.verify !== "false",
    nvs: text(config, "nvs") || "otaflow",
    log,
    chip: typeof chip === "number" ? chip : undefined,
  };
  if (backend === "aws") settings.thing = needed(config, "thing", backend);
  if (backend === "thingsboard") {
    settings.token = needed(config, "token", backend);
    settings.title = text(config, "title");
  }
  if (backend === "tencent") {
    settings.product = needed(config, "product", backend);
    settings.device = needed(config, "device", backend);
    settings.secret = text(config, "secret");
  }
  if ((settings.cert === undefined) !== (settings.key === undefined))
    throw bad(`"cert" and "key" go together (the client certificate and its key)`);
  return settings;
}
