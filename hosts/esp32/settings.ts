// The application's settings, from the manifest's "config" section (and mcconfig's key=value
// arguments), checked once at boot so that a typo is a clear message on the console rather than
// a failure deep inside a connection.
import { otaError } from "../../src/core/errors";
import type { LogLevel } from "../../src/core/ports";
import { trustedKey } from "../../src/core/signature/keys";
import { isSpace, splitWords, withoutPrefix } from "../../src/core/util/chars";
import { brokerParts } from "../../src/core/util/url-parts";

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
  /** Allows plain mqtt:// to the broker and http:// image URLs (development only; default false). */
  insecurePlaintext: boolean;
  /**
   * The keys an image must be signed with, by SBv2 digest or P-256 point: "publicKeys". Empty only with
   * "insecureUnsigned" (development only), when images are installed unsigned.
   */
  trustedKeys: string[];
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

/** A boolean setting: true, or "true" as mcconfig's key=value arguments give it; false otherwise. */
function flag(config: Record<string, unknown>, name: string): boolean {
  const value = config[name];
  if (value === undefined || value === "" || value === false || value === "false") return false;
  if (value === true || value === "true") return true;
  throw bad(`"${name}" must be true or false`);
}

export function parseBroker(url: string): Settings["broker"] {
  const parts = brokerParts(url);
  if (!parts) throw bad(`"broker" must be mqtt://host[:port] or mqtts://host[:port], not "${url}"`);
  const secure = parts.secure;
  return {
    secure,
    host: parts.host,
    port: parts.port ? parseInt(parts.port, 10) : secure ? 8883 : 1883,
  };
}

/**
 * "publicKeys": Secure Boot V2 key digests (64 hex digits, as `otaflow keygen` and espsecure
 * digest_sbv2_public_key print them) or P-256 points in hex, separated by commas or whitespace (one
 * string, as mcconfig's key=value arguments carry it), each checked here so that a mistyped key
 * stops the boot with its reason.
 */
function publicKeys(config: Record<string, unknown>, insecureUnsigned: boolean): string[] {
  const value = text(config, "publicKeys");
  const keys = value === undefined ? [] : splitWords(value, (code) => code === 44 || isSpace(code));
  for (let i = 0; i < keys.length; i++) {
    try {
      trustedKey(keys[i]);
    } catch (error) {
      const which = keys.length > 1 ? ` (key ${i + 1} of ${keys.length})` : "";
      const reason = withoutPrefix((error as Error).message, "key: ");
      throw bad(`"publicKeys"${which} is not a key digest or P-256 point: ${reason}`);
    }
  }
  if (keys.length === 0 && !insecureUnsigned)
    throw bad(
      `no "publicKeys": give the release signing key's Secure Boot V2 digest (\`otaflow keygen\` ` +
        `prints it) so that only images it signed are installed, or set "insecureUnsigned" to true ` +
        `to install unsigned images (development only)`,
    );
  return keys;
}

export function readSettings(config: Record<string, unknown>): Settings {
  const backend = text(config, "backend") as BackendName | undefined;
  if (!backend || BACKENDS.indexOf(backend) < 0)
    throw bad(`"backend" must be one of ${BACKENDS.join(", ")}`);
  const broker = parseBroker(needed(config, "broker", backend));
  const insecurePlaintext = flag(config, "insecurePlaintext");
  if (!broker.secure && !insecurePlaintext)
    throw bad(
      `"broker" is plain mqtt://: use mqtts:// with "ca" (and "cert"/"key" where the cloud asks ` +
        `for a client certificate), or set "insecurePlaintext" to true (development only)`,
    );
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
    insecurePlaintext,
    trustedKeys: publicKeys(config, flag(config, "insecureUnsigned")),
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
