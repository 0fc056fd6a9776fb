// ThingsBoard's device firmware/software API over MQTT: shared attributes announce the package
// (fw_* or sw_*), the device pulls it in chunks on v2/fw|sw/request/<id>/chunk/<n> (or from fw_url
// over HTTP), and reports fw_state telemetry. The real server is the MQTT broker itself, which
// keeps the chunk size and the package per request id for the life of the MQTT session only.

import type { Backend, BackendListener } from "../../core/backend";
import { otaError } from "../../core/errors";
import type { FailureCode, OtaError } from "../../core/errors";
import type { Offer, Report } from "../../core/offer";
import type {
  Clock,
  HashAlgorithm,
  Logger,
  MqttClient,
  MqttMessage,
  TimerHandle,
} from "../../core/ports";
import type { ByteSource, ByteStream } from "../../core/source";
import { utf8Decode } from "../../core/util/bytes";
import { allCharsIn, isPrintableAscii } from "../../core/util/chars";
import { MAX_REPORT_TEXT, cleanText, quoted } from "../../core/util/text";
import { nameProblem, readHex, readSize, sizeProblem, urlProblem } from "../offer-fields";

export type PackageKind = "firmware" | "software";

export interface ThingsBoardConfig {
  /** The device's access token, sent as the MQTT user name. */
  accessToken: string;
  /** The device's own package title, compared with fw_title (sw_title). */
  title: string;
  /** "firmware" (fw_ keys, v2/fw topics, the default) or "software" (sw_, v2/sw). */
  kind?: PackageKind;
  /** Bytes per chunk request: 4096 by default, at most 65536 (the server's default limit). */
  chunkSize?: number;
  /** Chunk requests in flight at once: 8 by default; 1 is what the Arduino SDK does. */
  window?: number;
  /**
   * Bytes requested or held at once up to which the chunk size and the window double each
   * time the reader has drained every chunk and waits on the network (a round trip longer than
   * the window covers): 0 (the default) keeps chunkSize and window as given. The window stays at
   * most MAX_WINDOW and the chunk size at most MAX_CHUNK_SIZE; a chunk request not answered in
   * time halves the window again, down to `window`.
   */
  maxBytesInFlight?: number;
  /** Wait for one chunk before asking again: 5000 ms by default, as the SDK. */
  chunkTimeoutMs?: number;
  /** Requests of one chunk after the first before the stream fails with "timeout": 5 by default. */
  chunkRetries?: number;
  /** Version the device runs now, reported as current_fw_version (current_sw_version) at start. */
  currentVersion?: string;
  /** MQTT client id; "otaflow-<accessToken>" by default (the server ignores it). */
  clientId?: string;
}

export interface ThingsBoardDeps {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
}

/** Netty's default maximum MQTT payload on the server (NETTY_MAX_PAYLOAD_SIZE). */
export const MAX_CHUNK_SIZE = 65536;

/** Most chunk requests in flight at once, adapted or not. */
export const MAX_WINDOW = 64;

/** Longest title, version and tag: what ThingsBoard's @Length allows an OTA package's. */
export const MAX_NAME_LENGTH = 255;

const BACKEND_NAME = "thingsboard";
const ATTRIBUTES = "v1/devices/me/attributes";
const ATTRIBUTES_RESPONSE = "v1/devices/me/attributes/response/";
const ATTRIBUTES_REQUEST = "v1/devices/me/attributes/request/";
const TELEMETRY = "v1/devices/me/telemetry";
// The server answers errors of both package types on the firmware error topic.
const ERROR_TOPIC = "v2/fw/error";
const SHARED_KEYS = ["title", "version", "size", "checksum", "checksum_algorithm", "url", "tag"];

/** ThingsBoard's ChecksumAlgorithm names onto the core's; SHA256 when the attribute is absent. */
const ALGORITHMS: Record<string, HashAlgorithm> = {
  MD5: "md5",
  SHA256: "sha256",
  SHA384: "sha384",
  SHA512: "sha512",
  CRC32: "crc32",
  MURMUR3_32: "murmur3_32",
  MURMUR3_128: "murmur3_128",
};

/**
 * Hex digits of each algorithm's checksum: the digest's, except that CRC32 and MURMUR3_32 may lose
 * their leading zeros (Long.toHexString, see core/hash).
 */
const CHECKSUM_DIGITS: Record<HashAlgorithm, [number, number]> = {
  md5: [32, 32],
  sha256: [64, 64],
  sha384: [96, 96],
  sha512: [128, 128],
  crc32: [1, 8],
  murmur3_32: [1, 8],
  murmur3_128: [32, 32],
};

/** fw_state / sw_state values the device sends (OtaPackageUpdateStatus). */
const STATES: Partial<Record<Report["status"], string>> = {
  downloading: "DOWNLOADING",
  downloaded: "DOWNLOADED",
  verified: "VERIFIED",
  updating: "UPDATING",
};

type Attributes = Record<string, unknown>;

export function mqttIdentity(config: ThingsBoardConfig): {
  clientId: string;
  username: string;
} {
  return {
    clientId: config.clientId || "otaflow-" + config.accessToken,
    username: config.accessToken,
  };
}

function prefixOf(kind: unknown): string {
  return kind === "software" ? "sw" : "fw";
}

function text(value: unknown): string | undefined {
  if (typeof value === "string") return value.length > 0 ? value : undefined;
  if (typeof value === "number" && isFinite(value)) return String(value);
  return undefined;
}

/** An attribute that may arrive as a JSON number (a version typed as 1.1) as the string it means. */
function asText(value: unknown): unknown {
  return typeof value === "number" && isFinite(value) ? String(value) : value;
}

/** Why the device cannot take an assignment: FAILED with this fw_error. */
interface Refusal {
  code: FailureCode;
  message: string;
}

/** fw_error for a message: cleaned and bounded, with the failure code after it. */
function errorText(message: string, code: string): string {
  return cleanText(message, MAX_REPORT_TEXT - code.length - 3) + " (" + code + ")";
}

/** Startup checks of the configuration: what would be sent as the user name and as telemetry. */
function checkConfig(config: ThingsBoardConfig): void {
  // The token is a credential: the error describes it without showing it.
  if (
    typeof config.accessToken !== "string" ||
    !allCharsIn(config.accessToken, 1, 256, isPrintableAscii)
  )
    throw otaError(
      "internal",
      "the ThingsBoard access token must be 1-256 printable ASCII characters without spaces",
    );
  const title = nameProblem(config.title, MAX_NAME_LENGTH);
  if (title !== undefined) throw otaError("internal", "the ThingsBoard title " + title);
  if (config.currentVersion !== undefined) {
    const version = nameProblem(config.currentVersion, MAX_NAME_LENGTH);
    if (version !== undefined)
      throw otaError("internal", "the ThingsBoard currentVersion " + version);
  }
}

function errorFromServer(payload: string, chunkSize: number, kind: PackageKind): OtaError {
  if (payload === "PAYLOAD_TOO_LARGE") {
    return otaError(
      "chunk-error",
      "ThingsBoard refused chunks of " +
        chunkSize +
        " bytes (PAYLOAD_TOO_LARGE): that is above the server's maximum MQTT payload; configure a smaller chunkSize",
    );
  }
  if (payload === "NOT_FOUND") {
    return otaError(
      "not-found",
      "ThingsBoard has no " + kind + " package assigned to this device (NOT_FOUND)",
    );
  }
  if (payload === "FAILURE") {
    return otaError(
      "chunk-error",
      "ThingsBoard cannot send this " +
        kind +
        " package over MQTT (FAILURE): it is a URL package, to be downloaded from its " +
        prefixOf(kind) +
        "_url",
    );
  }
  return otaError(
    "chunk-error",
    "ThingsBoard reported an error for the chunk transfer: " + payload,
  );
}

interface Waiter {
  resolve(value: Uint8Array | null): void;
  reject(error: OtaError): void;
}

interface ChunkRequest {
  timer: TimerHandle;
  tries: number;
}

interface StreamOptions {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
  kind: PackageKind;
  requestId: number;
  offer: Offer;
  offset: number;
  chunkSize: number;
  window: number;
  maxBytesInFlight: number;
  timeoutMs: number;
  retries: number;
  onEnd(stream: ChunkStream): void;
}

/**
 * One pass over a package in chunks, from `offset`. Up to `window` chunks are requested or held
 * at once (so memory stays within window x chunkSize), and they are handed out in index order
 * whatever order they arrive in; a duplicate or a chunk nobody asked for is dropped. A chunk not
 * answered within the timeout is asked for again, up to `retries` times.
 */
class ChunkStream implements ByteStream {
  readonly offset: number;
  readonly offerId: string;
  readonly requestId: string;
  private next: number;
  private skip: number;
  private requestNext: number;
  /** Index of the chunk expected to end the transfer: short, or empty at an exact multiple. */
  private last: number;
  private ended = false;
  private pending: Record<number, ChunkRequest> = {};
  private held: Record<number, Uint8Array> = {};
  private failure: OtaError | undefined;
  private finished = false;
  private fillTimer: TimerHandle | undefined;
  private waiter: Waiter | undefined;
  private readonly requestTopic: string;
  /** Chunk size and window now: as configured, or grown (see ThingsBoardConfig.maxBytesInFlight). */
  private size: number;
  private window: number;
  private answered = false;

  constructor(private readonly o: StreamOptions) {
    this.offset = o.offset;
    this.offerId = o.offer.id;
    this.requestId = String(o.requestId);
    this.size = o.chunkSize;
    this.window = o.window;
    this.next = Math.floor(o.offset / o.chunkSize);
    this.skip = o.offset - this.next * o.chunkSize;
    this.requestNext = this.next;
    this.last = Math.floor(o.offer.size / o.chunkSize);
    this.requestTopic = "v2/" + prefixOf(o.kind) + "/request/" + o.requestId + "/chunk/";
    this.fill();
  }

  read(): Promise<Uint8Array | null> {
    if (this.failure) return Promise.reject(this.failure);
    const data = this.take();
    if (data !== undefined || this.finished)
      return Promise.resolve(data === undefined ? null : data);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(): void {
    this.finish();
    this.wake();
  }

  /** A response on v2/<kind>/response/<requestId>/chunk/<index>. */
  receive(index: number, data: Uint8Array): void {
    const request = this.pending[index];
    if (this.finished || !request) return;
    this.o.clock.clearTimeout(request.timer);
    delete this.pending[index];
    this.answered = true;
    if (data.length < this.size) {
      this.ended = true;
      this.last = index;
      // Requests past the end only ever get empty chunks.
      for (const key of Object.keys(this.pending)) {
        if (+key > index) this.drop(+key);
      }
    } else if (index >= this.last && !this.ended) {
      // fw_size was short of the package: only the empty chunk tells the end now.
      this.last = Infinity;
    }
    this.held[index] = data;
    this.wake();
  }

  fail(error: OtaError): void {
    if (this.finished) return;
    this.failure = error;
    this.finish();
    this.wake();
  }

  private take(): Uint8Array | null | undefined {
    for (;;) {
      if (this.ended && this.next > this.last) {
        this.finish();
        return null;
      }
      const data = this.held[this.next];
      if (data === undefined) return undefined;
      delete this.held[this.next];
      this.next++;
      this.fill();
      const skip = this.skip;
      this.skip = 0;
      if (data.length > skip) return skip > 0 ? data.subarray(skip) : data;
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
      return;
    }
    const data = this.take();
    if (data === undefined && !this.finished) return;
    this.waiter = undefined;
    waiter.resolve(data === undefined ? null : data);
  }

  /**
   * Requests the free part of the window as one batch, never while a request is pending. With
   * Nagle's algorithm on the device's socket (lwIP's default, and Node's), a request written while
   * an earlier one is unacknowledged waits for that acknowledgement, which the server sends with
   * its response: requests trickled out one per consumed chunk would go out a round trip late, and
   * a window of 8 would do the work of 4. A batch leaves in one segment once the previous one was
   * answered. When the reader has drained every chunk the whole window goes out at once; while it
   * still holds some, the batch waits a turn of the event loop for a fast reader to catch up, and
   * then goes out if half the window (or the rest of the package) is free.
   */
  private fill(): void {
    if (this.finished || Object.keys(this.pending).length > 0) return;
    if (Object.keys(this.held).length === 0) {
      if (this.answered) this.grow();
      this.requestFree(1);
    } else if (this.fillTimer === undefined) {
      this.fillTimer = this.o.clock.setTimeout(() => {
        this.fillTimer = undefined;
        if (!this.finished && Object.keys(this.pending).length === 0) {
          this.requestFree(Math.min(Math.ceil(this.window / 2), this.last - this.requestNext + 1));
        }
      }, 0);
    }
  }

  /**
   * The reader has taken every chunk and nothing is asked for: the network, not the reader, is
   * the bottleneck. Doubles the chunk size (fewer messages for the same bytes) and then the
   * window, each as far as maxBytesInFlight allows, the window only up to the budget's number of
   * 64 KiB chunks: up to four times the bytes per round trip. The chunk size changes only here, where no chunk is pending or held, and only at an offset that is a
   * whole number of new chunks, since the server places chunk n at n x the size asked for.
   */
  private grow(): void {
    const budget = this.o.maxBytesInFlight;
    const size = this.size * 2;
    const at = this.next * this.size;
    if (
      size <= MAX_CHUNK_SIZE &&
      this.window * size <= budget &&
      at % size === 0 &&
      !this.ended &&
      this.last !== Infinity
    ) {
      this.size = size;
      this.next = at / size;
      this.requestNext = this.next;
      this.last = Math.floor(this.o.offer.size / size);
    }
    // The window grows only as far as it leaves room for chunks of the largest size.
    const windowCap = Math.min(MAX_WINDOW, Math.max(1, Math.floor(budget / MAX_CHUNK_SIZE)));
    if (this.window * 2 <= windowCap && this.window * 2 * this.size <= budget) this.window *= 2;
  }

  private requestFree(atLeast: number): void {
    let end = Math.min(this.last, this.next + this.window - 1);
    // Adapting, a batch ends where possible on a whole number of chunks of twice the size, so
    // that the chunk size may double once it is drained.
    if (this.o.maxBytesInFlight > 0 && end % 2 === 0 && end > this.requestNext) end--;
    if (end - this.requestNext + 1 < Math.max(1, atLeast)) return;
    while (this.requestNext <= end) this.request(this.requestNext++, 0);
  }

  private request(index: number, tries: number): void {
    const timer = this.o.clock.setTimeout(() => this.timedOut(index), this.o.timeoutMs);
    this.pending[index] = { timer, tries };
    // QoS 0: the timer is the retry; a refused request (PAYLOAD_TOO_LARGE) is never acknowledged.
    this.o.mqtt.publish(this.requestTopic + index, String(this.size), 0).catch((error) => {
      this.o.logger.log("debug", "chunk request not sent", { index, error: String(error) });
    });
  }

  private timedOut(index: number): void {
    const request = this.pending[index];
    if (this.finished || !request) return;
    if (request.tries >= this.o.retries) {
      this.fail(
        otaError(
          "timeout",
          "chunk " +
            index +
            " of " +
            this.o.offer.id +
            ": no answer to " +
            (request.tries + 1) +
            " requests of " +
            this.o.timeoutMs +
            " ms each",
          true,
        ),
      );
      return;
    }
    this.o.logger.log("debug", "chunk request timed out, asking again", {
      index,
      tries: request.tries + 1,
    });
    this.window = Math.max(this.o.window, Math.floor(this.window / 2));
    this.request(index, request.tries + 1);
  }

  private drop(index: number): void {
    const request = this.pending[index];
    if (!request) return;
    this.o.clock.clearTimeout(request.timer);
    delete this.pending[index];
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.fillTimer !== undefined) this.o.clock.clearTimeout(this.fillTimer);
    for (const key of Object.keys(this.pending)) this.drop(+key);
    this.held = {};
    this.o.onEnd(this);
  }
}

export function createThingsBoardBackend(
  config: ThingsBoardConfig,
  deps: ThingsBoardDeps,
): Backend {
  const { mqtt, clock, logger } = deps;
  checkConfig(config);
  const kind: PackageKind = config.kind === "software" ? "software" : "firmware";
  const prefix = prefixOf(kind);
  const chunkSize = config.chunkSize === undefined ? 4096 : config.chunkSize;
  if (!(chunkSize >= 1 && chunkSize <= MAX_CHUNK_SIZE && Math.floor(chunkSize) === chunkSize)) {
    throw otaError("internal", "chunkSize must be a whole number from 1 to " + MAX_CHUNK_SIZE);
  }
  const window = Math.min(
    MAX_WINDOW,
    Math.max(1, Math.floor(config.window === undefined ? 8 : config.window)),
  );
  const maxBytesInFlight = config.maxBytesInFlight === undefined ? 0 : config.maxBytesInFlight;
  const timeoutMs = config.chunkTimeoutMs === undefined ? 5000 : config.chunkTimeoutMs;
  const retries = config.chunkRetries === undefined ? 5 : config.chunkRetries;
  const responsePrefix = "v2/" + prefix + "/response/";
  const filters = [ATTRIBUTES, ATTRIBUTES_RESPONSE + "+"];
  const chunkFilters = [responsePrefix + "+/chunk/+", ERROR_TOPIC];
  if (kind === "software") chunkFilters.push("v2/sw/error");
  const requestKeys = SHARED_KEYS.map((key) => prefix + "_" + key).join(",");

  let listener: BackendListener | undefined;
  let stopped = false;
  /** Counts connections: work started for an earlier one is dropped. */
  let epoch = 0;
  let sessionStarted = false;
  let sentCurrent = false;
  // Request ids are decimal (the server's pattern is \d+); a random start keeps two backends on
  // one connection, or a stale response from before a reboot, apart.
  let nextRequestId = 1 + Math.floor(clock.random() * 1000000);
  let attributeRequest: { id: number; timer: TimerHandle; tries: number } | undefined;
  /** The package attributes as this session knows them; undefined until the first response. */
  let snapshot: Attributes | undefined;
  let ready = false;
  let readyWaiters: (() => void)[] = [];
  /** Id of the assignment last handed to the listener in this backend's life. */
  let offeredId: string | undefined;
  let lastOfferKey: string | undefined;
  let streams: ChunkStream[] = [];
  /** Assignments already answered with FAILED (wrong title, malformed), not to repeat per reconnect. */
  const refused: Record<string, boolean> = {};
  /** Last fw_state sent per offer id: DOWNLOADING goes out once, not with every progress step. */
  const lastState: Record<string, string> = {};

  function key(name: string): string {
    return prefix + "_" + name;
  }

  function publishTelemetry(values: Record<string, string>): Promise<void> {
    return mqtt.publish(TELEMETRY, JSON.stringify(values), 1);
  }

  function failStreams(error: OtaError, offerId?: string): void {
    for (const stream of streams.slice()) {
      if (offerId === undefined || stream.offerId === offerId) stream.fail(error);
    }
  }

  /** The assignment id of the snapshot when it is meant for this device. */
  function assignedId(attributes: Attributes | undefined): string | undefined {
    if (!attributes) return undefined;
    const title = text(attributes[key("title")]);
    const version = text(attributes[key("version")]);
    if (title === undefined || version === undefined || title !== config.title) return undefined;
    return title + "@" + version;
  }

  function withdraw(reason: string): void {
    const id = offeredId;
    if (id === undefined) return;
    offeredId = undefined;
    lastOfferKey = undefined;
    logger.log("info", "ThingsBoard withdrew the " + kind + " package", {
      id: cleanText(id),
      reason,
    });
    failStreams(otaError("cancelled", reason), id);
    if (listener) listener.cancel(id, reason);
  }

  /** FAILED with fw_error, once per assignment: the device will not take it. */
  function refuse(id: string, refusal: Refusal): void {
    if (refused[id]) return;
    refused[id] = true;
    const error = errorText(refusal.message, refusal.code);
    logger.log("warn", "ThingsBoard " + kind + " package refused", {
      id: cleanText(id),
      message: error,
    });
    publishTelemetry({ [key("state")]: "FAILED", [key("error")]: error }).catch((error) => {
      logger.log("warn", "FAILED not sent", { error: String(error) });
    });
  }

  function malformed(message: string): Refusal {
    return { code: "offer-malformed", message };
  }

  /** The package the attributes describe, or why it cannot be offered. */
  function buildOffer(attributes: Attributes, title: string, version: string): Offer | Refusal {
    const sizeValue = attributes[key("size")];
    if (sizeValue === undefined)
      return malformed(
        "The " +
          kind +
          " package has no " +
          key("size") +
          ": the device needs its size before it erases a slot",
      );
    const size = readSize(sizeValue, true);
    if (size === undefined) return malformed(sizeProblem(key("size"), sizeValue));
    const algorithmName = text(attributes[key("checksum_algorithm")]) || "SHA256";
    const algorithm = ALGORITHMS[algorithmName.toUpperCase()];
    if (!algorithm)
      return {
        code: "offer-unsupported",
        message: "Received checksum algorithm (" + algorithmName + ") is not supported",
      };
    const hashes: Offer["hashes"] = {};
    const checksum = attributes[key("checksum")];
    if (checksum !== undefined) {
      const digits = CHECKSUM_DIGITS[algorithm];
      const hex = readHex(asText(checksum), digits[0], digits[1]);
      if (hex === undefined)
        return malformed(
          key("checksum") +
            " must be " +
            (digits[0] === digits[1] ? digits[0] : digits[0] + "-" + digits[1]) +
            " hex digits of " +
            algorithmName +
            ", got " +
            quoted(checksum),
        );
      hashes[algorithm] = hex;
    }
    const url = attributes[key("url")];
    if (url !== undefined) {
      const problem = urlProblem(url);
      if (problem !== undefined) return malformed(key("url") + " " + problem);
    }
    const context: Offer["context"] = { kind };
    const tag = asText(attributes[key("tag")]);
    if (tag !== undefined) {
      const problem = nameProblem(tag, MAX_NAME_LENGTH);
      if (problem !== undefined) return malformed(key("tag") + " " + problem);
      context.tag = tag as string;
    }
    return {
      backend: BACKEND_NAME,
      id: title + "@" + version,
      version,
      size,
      title,
      source:
        url !== undefined
          ? { kind: "http", url: url as string }
          : { kind: "mqtt-chunks", packageType: kind },
      hashes,
      context,
    };
  }

  /** Acts on the attributes: offer, cancel, or refuse. `again` re-presents an unchanged offer. */
  function evaluate(attributes: Attributes, again: boolean): void {
    const title = text(attributes[key("title")]);
    const version = text(attributes[key("version")]);
    if (title === undefined || version === undefined) {
      withdraw("the " + kind + " package is no longer assigned to this device");
      return;
    }
    const id = title + "@" + version;
    if (offeredId !== undefined && offeredId !== id) {
      withdraw("the " + kind + " assignment changed to " + cleanText(id));
    }
    // Checked before anything quotes them: they end up in fw_error, logs and the journal.
    const problem = nameProblem(title, MAX_NAME_LENGTH);
    if (problem !== undefined) return refuse(id, malformed(key("title") + " " + problem));
    const versionProblem = nameProblem(version, MAX_NAME_LENGTH);
    if (versionProblem !== undefined)
      return refuse(id, malformed(key("version") + " " + versionProblem));
    if (title !== config.title) {
      refuse(id, {
        code: "offer-wrong-device",
        message:
          "Received " +
          kind +
          " title (" +
          title +
          ") is different and not meant for this device (" +
          config.title +
          ")",
      });
      return;
    }
    const offer = buildOffer(attributes, title, version);
    if ("code" in offer) {
      refuse(id, offer);
      return;
    }
    offeredId = id;
    const offerKey = JSON.stringify(offer);
    if (!again && offerKey === lastOfferKey) return;
    lastOfferKey = offerKey;
    if (listener) listener.offer(offer);
  }

  function ownKeys(source: Attributes): Attributes {
    const out: Attributes = {};
    for (const name of Object.keys(source)) {
      if (name.indexOf(prefix + "_") === 0) out[name] = source[name];
    }
    return out;
  }

  function onAttributesPushed(body: Attributes): void {
    const changed = ownKeys(body);
    const names = Object.keys(changed);
    if (names.length > 0) {
      if (
        !snapshot &&
        changed[key("title")] === undefined &&
        changed[key("version")] === undefined
      ) {
        // A partial change before the first response: the response will carry it.
        return;
      }
      // The server writes a whole assignment at once (title, version and the rest), and
      // removes the keys the new package lacks separately: a new title or version replaces.
      if (
        changed[key("title")] !== undefined ||
        changed[key("version")] !== undefined ||
        !snapshot
      ) {
        snapshot = changed;
      } else {
        for (const name of names) snapshot[name] = changed[name];
      }
      evaluate(snapshot, false);
    }
    const deleted = body.deleted;
    if (snapshot && Array.isArray(deleted)) {
      let identity = false;
      for (const name of deleted) {
        if (typeof name !== "string" || !(name in snapshot)) continue;
        delete snapshot[name];
        if (name === key("title") || name === key("version")) identity = true;
      }
      // A binary assignment also deletes fw_url: only a lost title or version withdraws.
      if (identity) evaluate(snapshot, false);
    }
  }

  function onAttributesResponse(id: number, body: Attributes): void {
    if (!attributeRequest || attributeRequest.id !== id) return;
    clock.clearTimeout(attributeRequest.timer);
    attributeRequest = undefined;
    const shared =
      body.shared && typeof body.shared === "object" ? (body.shared as Attributes) : {};
    snapshot = ownKeys(shared);
    evaluate(snapshot, true);
    ready = true;
    const waiters = readyWaiters;
    readyWaiters = [];
    for (const wake of waiters) wake();
  }

  function requestAttributes(session: number, tries: number): void {
    if (stopped || session !== epoch) return;
    const id = nextRequestId++;
    const timer = clock.setTimeout(() => {
      if (!attributeRequest || attributeRequest.id !== id) return;
      attributeRequest = undefined;
      if (tries < retries) requestAttributes(session, tries + 1);
      else
        logger.log("error", "ThingsBoard does not answer the attributes request", {
          tries: tries + 1,
        });
    }, timeoutMs);
    attributeRequest = { id, timer, tries };
    mqtt
      .publish(ATTRIBUTES_REQUEST + id, JSON.stringify({ sharedKeys: requestKeys }), 1)
      .catch((error) =>
        logger.log("warn", "attributes request not sent", { error: String(error) }),
      );
  }

  function onMessage(message: MqttMessage): void {
    if (stopped) return;
    const topic = message.topic;
    if (topic.indexOf(responsePrefix) === 0) {
      // <requestId>/chunk/<index>
      const parts = topic.substring(responsePrefix.length).split("/");
      if (parts.length !== 3 || parts[1] !== "chunk") return;
      const requestId = parts[0];
      const index = parseInt(parts[2], 10);
      for (const stream of streams) {
        if (stream.requestId === requestId) stream.receive(index, message.payload);
      }
      return;
    }
    if (topic === ERROR_TOPIC || (kind === "software" && topic === "v2/sw/error")) {
      const error = errorFromServer(utf8Decode(message.payload).trim(), chunkSize, kind);
      if (streams.length === 0)
        logger.log("warn", "ThingsBoard chunk error", { error: error.message });
      // The error names no request: it ends whatever is in flight (the server disconnects next).
      failStreams(error);
      return;
    }
    const isPush = topic === ATTRIBUTES;
    const isResponse = topic.indexOf(ATTRIBUTES_RESPONSE) === 0;
    if (!isPush && !isResponse) return;
    let body: unknown;
    try {
      body = JSON.parse(utf8Decode(message.payload));
    } catch (error) {
      logger.log("warn", "unreadable attributes message", { topic, error: String(error) });
      return;
    }
    if (!body || typeof body !== "object") return;
    if (isPush) onAttributesPushed(body as Attributes);
    else
      onAttributesResponse(
        parseInt(topic.substring(ATTRIBUTES_RESPONSE.length), 10),
        body as Attributes,
      );
  }

  async function onConnected(): Promise<void> {
    sessionStarted = true;
    if (stopped) return;
    const session = ++epoch;
    ready = false;
    snapshot = undefined;
    lastOfferKey = undefined;
    try {
      const granted = (await mqtt.subscribe(filters, 1)).concat(
        await mqtt.subscribe(chunkFilters, 0),
      );
      const all = filters.concat(chunkFilters);
      for (let i = 0; i < all.length; i++) {
        if (granted[i] === 128)
          logger.log("warn", "ThingsBoard refused a subscription", { filter: all[i] });
      }
    } catch (error) {
      logger.log("warn", "subscriptions failed", { error: String(error) });
      return;
    }
    if (stopped || session !== epoch) return;
    if (listener) listener.connected();
    requestAttributes(session, 0);
    if (!sentCurrent && config.currentVersion !== undefined) {
      sentCurrent = true;
      publishTelemetry({
        ["current_" + prefix + "_title"]: config.title,
        ["current_" + prefix + "_version"]: config.currentVersion,
      }).catch((error) => logger.log("warn", "current version not sent", { error: String(error) }));
    }
  }

  function onDisconnected(): void {
    if (stopped) return;
    epoch++;
    ready = false;
    snapshot = undefined;
    if (attributeRequest) clock.clearTimeout(attributeRequest.timer);
    attributeRequest = undefined;
    failStreams(
      otaError("network", "the connection to ThingsBoard closed during the chunk transfer", true),
    );
  }

  /** Resolves once this connection's attributes have been read, or rejects after `timeoutMs`. */
  function whenReady(): Promise<void> {
    if (ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = clock.setTimeout(() => {
        if (done) return;
        done = true;
        reject(otaError("network", "not connected to ThingsBoard", true));
      }, timeoutMs);
      readyWaiters.push(() => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        resolve();
      });
    });
  }

  function telemetryFor(report: Report): Record<string, string> | undefined {
    const p = prefixOf(report.offer.context.kind);
    const failure = report.failure;
    switch (report.status) {
      case "current":
      case "succeeded":
        return {
          ["current_" + p + "_title"]: report.offer.title || config.title,
          ["current_" + p + "_version"]: report.offer.version,
          [p + "_state"]: "UPDATED",
        };
      case "rejected":
      case "failed": {
        const message = failure ? failure.message : "the update failed";
        const code = failure ? failure.code : "internal";
        return { [p + "_state"]: "FAILED", [p + "_error"]: errorText(message, code) };
      }
      case "testing":
        // ThingsBoard has no state for it: UPDATED follows once the image confirmed itself.
        return undefined;
      default: {
        const state = STATES[report.status];
        if (!state || lastState[report.offer.id] === state) return undefined;
        return { [p + "_state"]: state };
      }
    }
  }

  return {
    name: BACKEND_NAME,

    async start(target: BackendListener): Promise<void> {
      listener = target;
      stopped = false;
      mqtt.onMessage(onMessage);
      mqtt.onDisconnect(onDisconnected);
      let first: Promise<void> | undefined;
      mqtt.onConnect(() => {
        const setup = onConnected();
        if (!first) first = setup;
      });
      // A port that does not replay the current connection to a late handler.
      if (!sessionStarted && mqtt.connected) first = onConnected();
      if (first) await first;
    },

    async report(report: Report): Promise<void> {
      if (
        report.status === "failed" &&
        report.failure &&
        report.failure.code === "cancelled" &&
        snapshot &&
        assignedId(snapshot) !== report.offer.id
      ) {
        // The cloud withdrew it: fw_state now belongs to whatever is assigned instead.
        logger.log("info", "not reporting a withdrawn package", { id: report.offer.id });
        return;
      }
      const values = telemetryFor(report);
      if (!values) return;
      // Recorded before the publish resolves, so that concurrent progress reports send one DOWNLOADING.
      lastState[report.offer.id] = values[prefixOf(report.offer.context.kind) + "_state"];
      await publishTelemetry(values);
    },

    source(offer: Offer): ByteSource {
      return {
        async open(offset: number): Promise<ByteStream> {
          if (offer.source.kind !== "mqtt-chunks" || offer.source.packageType !== kind) {
            throw otaError(
              "offer-unsupported",
              "this backend pulls " + kind + " chunks, not " + offer.source.kind,
            );
          }
          if (stopped) throw otaError("cancelled", "the ThingsBoard backend has stopped");
          if (!(offset >= 0 && offset <= offer.size)) {
            throw otaError(
              "internal",
              "offset " + offset + " is outside the package of " + offer.size + " bytes",
            );
          }
          // After a reconnect the server looks the package up afresh: make sure it is still this one.
          await whenReady();
          const current = assignedId(snapshot);
          if (current !== offer.id) {
            throw otaError(
              "cancelled",
              current === undefined
                ? "the " + kind + " package " + offer.id + " is no longer assigned to this device"
                : "the " + kind + " assignment changed from " + offer.id + " to " + current,
            );
          }
          const stream: ChunkStream = new ChunkStream({
            mqtt,
            clock,
            logger,
            kind,
            requestId: nextRequestId++,
            offer,
            offset,
            chunkSize,
            window,
            maxBytesInFlight,
            timeoutMs,
            retries,
            onEnd: (ended) => {
              streams = streams.filter((s) => s !== ended);
            },
          });
          streams.push(stream);
          return stream;
        },
      };
    },

    async stop(): Promise<void> {
      stopped = true;
      if (attributeRequest) clock.clearTimeout(attributeRequest.timer);
      attributeRequest = undefined;
      failStreams(otaError("cancelled", "the ThingsBoard backend has stopped"));
      listener = undefined;
    },
  };
}
