// The ports: everything the portable core needs from a host. A host (node, esp32, lin, espruino)
// implements these over its platform; the core never imports a platform module.
//
// Every operation that may touch flash or the network returns a Promise so that one core serves
// hosts whose primitives are synchronous (Moddable, Espruino) and asynchronous (Node) alike.

/** The inactive firmware slot, written as the bytes arrive. */
export interface SlotWriter {
  /** Partition name, e.g. "ota_1". */
  readonly name: string;
  /** Capacity of the slot in bytes. An image larger than this is refused before any erase. */
  readonly size: number;
  /** Flash erase unit; resume offsets are aligned down to it. */
  readonly sectorSize: number;
  /**
   * Prepares to write `totalSize` bytes starting at `offset` (0 for a fresh image, or a durable
   * resume offset aligned to `sectorSize`). Bytes before `offset` are kept as they are.
   */
  begin(offset: number, totalSize: number): Promise<void>;
  /** Appends bytes at the current position. */
  write(data: Uint8Array): Promise<void>;
  /**
   * finish() validates the ESP-IDF app image in the slot as esp_ota_end does (structure, checksum
   * byte and appended SHA-256, read back from the flash) and refuses it with image-invalid. The
   * core then checks only the image header as the bytes stream, and leaves the rest to finish()
   * rather than hash the image twice.
   */
  readonly verifiesImage?: boolean;
  /** Makes everything written durable (the image is complete, not yet bootable). */
  finish(): Promise<void>;
  /** Abandons the write. The slot's content is undefined afterwards; it is never booted. */
  abort(): Promise<void>;
  /** Reads back bytes already written: the prefix is re-hashed on resume. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** ESP-IDF's esp_ota_img_states_t, in words. "undefined" is what a bootloader without rollback gives. */
export type ImageState = "new" | "pending-verify" | "valid" | "invalid" | "aborted" | "undefined";

export interface RunningImage {
  /** Partition the running image was booted from, e.g. "ota_0". */
  slot: string;
  /** Version string from the image's app descriptor. */
  version: string;
  /** Project name from the app descriptor. */
  project: string;
  /** Anti-rollback counter from the app descriptor. */
  secureVersion: number;
  state: ImageState;
}

/** Boot control: the otadata side of an update. */
export interface BootControl {
  running(): Promise<RunningImage>;
  /** Makes the freshly written slot the next boot, in test mode (ESP-IDF state NEW). */
  setNextBoot(slot: string): Promise<void>;
  /** esp_ota_mark_app_valid_cancel_rollback: the running image stays. */
  markValid(): Promise<void>;
  /** esp_ota_mark_app_invalid_rollback_and_reboot: never returns on a board. */
  markInvalidAndReboot(): Promise<void>;
  /** esp_restart. */
  reboot(): Promise<void>;
  /**
   * esp_efuse_read_secure_version, on a host whose bootloader checks it
   * (CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK): an image below it never boots. Absent or undefined: none.
   */
  efuseSecureVersion?(): Promise<number | undefined>;
}

/** A streamed HTTP GET. Header names are lower case. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** Next piece of the body, or null at its end. Rejects on a transport error. */
  read(): Promise<Uint8Array | null>;
  /** Drops the connection; a pending read() rejects or resolves null. */
  close(): void;
}

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
}

export interface HttpClient {
  /** Sends a GET and resolves once the status line and headers have arrived. Redirects are not followed. */
  get(request: HttpRequest): Promise<HttpResponse>;
}

export type QoS = 0 | 1;

export interface MqttMessage {
  topic: string;
  payload: Uint8Array;
}

/** A connected MQTT session. The host owns reconnection; the core is told through onConnect. */
export interface MqttClient {
  /** Resolves when the broker acknowledges (PUBACK for QoS 1), or at once for QoS 0. */
  publish(topic: string, payload: string | Uint8Array, qos: QoS): Promise<void>;
  /** Resolves with the granted QoS of each filter (128 means refused). */
  subscribe(filters: string[], qos: QoS): Promise<number[]>;
  unsubscribe(filters: string[]): Promise<void>;
  onMessage(handler: (message: MqttMessage) => void): void;
  /** Called on every (re)connection; `sessionPresent` as in CONNACK. */
  onConnect(handler: (sessionPresent: boolean) => void): void;
  onDisconnect(handler: (reason: string) => void): void;
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * A small persistent store (NVS on ESP32). Keys are at most 15 characters and values at most
 * 4000 bytes of UTF-8, the limits of Moddable's Preference over NVS.
 */
export interface KeyValueStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds, monotonic within one boot. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Uniform in [0, 1): jitter for backoff. */
  random(): number;
}

/** Incremental digest. */
export interface Digest {
  update(data: Uint8Array): void;
  /** Final value; the digest cannot be updated afterwards. */
  digest(): Uint8Array;
}

export type HashAlgorithm =
  "md5" | "sha256" | "sha384" | "sha512" | "crc32" | "murmur3_32" | "murmur3_128";

/** A host's native digests; it returns undefined for an algorithm it lacks. */
export type NativeDigests = (algorithm: HashAlgorithm) => Digest | undefined;

/** A streaming signature check over the host's own crypto. */
export interface SignatureStream {
  update(data: Uint8Array): void;
  /** Whether `signature` (r and s, 32 bytes each) signs the bytes fed so far. */
  verify(signature: Uint8Array): boolean;
}

/**
 * A host's native ECDSA P-256 with SHA-256, for a public key given as its 65-byte uncompressed SEC1
 * point; undefined where the host has none (the portable verifier is used then).
 */
export type NativeSignatures = (publicKey: Uint8Array) => SignatureStream | undefined;

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** Everything a host gives the agent. */
export interface HostPorts {
  slot: SlotWriter;
  boot: BootControl;
  http: HttpClient;
  store: KeyValueStore;
  clock: Clock;
  logger: Logger;
  nativeDigests?: NativeDigests;
  nativeSignatures?: NativeSignatures;
}
