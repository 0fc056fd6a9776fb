// Tencent Cloud IoT Hub firmware update (docs 634/14674, qcloud-iot-sdk-embedded-c
// sdk_src/services/ota): the device reports its version on $ota/report/<product>/<device>, the
// platform answers report_version_rsp and pushes update_firmware on $ota/update/<product>/<device>,
// and the device reports report_progress: downloading (percent), burning, done, or fail with a
// result code. The platform re-sends update_firmware whenever the device reports a version other
// than the target, which is how an interrupted update resumes ("resume from the break point").

import type { Backend, BackendListener } from "../../core/backend";
import { backoffDelay } from "../../core/download/backoff";
import { otaError } from "../../core/errors";
import type { Offer, Report } from "../../core/offer";
import type { Clock, Logger, MqttClient, MqttMessage, QoS, TimerHandle } from "../../core/ports";
import { utf8Decode } from "../../core/util/bytes";
import { isAlphanumericText, isHexText } from "../../core/util/chars";
import { cleanText, quoted } from "../../core/util/text";
import {
  MAX_VERSION_LENGTH,
  nameProblem,
  readSize,
  sizeProblem,
  urlProblem,
} from "../offer-fields";
import type { TencentIdentityConfig } from "./identity";

export { mqttIdentity, NO_EXPIRY } from "./identity";
export type { MqttIdentity, TencentIdentityConfig } from "./identity";

export interface TencentConfig extends TencentIdentityConfig {
  /** Version of the running image, sent with report_version at every (re)connection. */
  currentVersion?: string;
  /** Least time between two "downloading" reports on the wire: 2000 ms by default. */
  progressIntervalMs?: number;
  /** First retry delay bound of report_version (exponential, full jitter): 5000 ms by default. */
  retryBaseMs?: number;
  /** Longest retry delay of report_version: 300000 ms by default. */
  retryMaxMs?: number;
  /** How long to wait for report_version_rsp (or for update_firmware in refresh): 10000 ms. */
  responseTimeoutMs?: number;
}

export interface TencentDeps {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
}

export const BACKEND_NAME = "tencent";

/** Longest result_msg sent: the platform shows it in the console's task details. */
const RESULT_MSG_MAX = 200;

/**
 * The platform's result_code for a failure (docs 634/14674): -1 download timeout, -2 file does not
 * exist, -3 signature expired, -4 MD5 mismatch, -5 firmware update failed (everything else).
 */
export function tencentResultCode(code: string): string {
  switch (code) {
    case "timeout":
    case "network":
    case "retries-exhausted":
    case "body-short":
      return "-1";
    case "not-found":
      return "-2";
    case "url-expired":
      return "-3";
    case "checksum-mismatch":
      return "-4";
    default:
      return "-5";
  }
}

function resultMessage(code: string, message: string): string {
  return cleanText(message ? code + ": " + message : code, RESULT_MSG_MAX);
}

type ProgressState = "downloading" | "burning" | "done" | "fail";

function progressPayload(
  version: string,
  state: ProgressState,
  resultCode: string,
  resultMsg: string,
  percent?: number,
): string {
  const progress: Record<string, string> = { state };
  if (percent !== undefined) progress.percent = String(percent);
  progress.result_code = resultCode;
  progress.result_msg = resultMsg;
  return JSON.stringify({ type: "report_progress", report: { progress, version } });
}

/** An update_firmware document as an Offer, or the reason it is not one. */
export function parseUpdateFirmware(doc: Record<string, unknown>): Offer | string {
  const version = doc.version;
  const versionProblem = nameProblem(version, MAX_VERSION_LENGTH);
  if (versionProblem !== undefined) return "version " + versionProblem;
  const urlError = urlProblem(doc.url);
  if (urlError !== undefined) return "url " + urlError;
  const md5 = doc.md5sum;
  if (typeof md5 !== "string" || !isHexText(md5, 32, 32))
    return "md5sum is not 32 hex digits: " + quoted(md5);
  // The C SDK reads file_size with atoi, so a quoted number is accepted as well.
  const size = readSize(doc.file_size, true);
  if (size === undefined) return sizeProblem("file_size", doc.file_size);
  return {
    backend: BACKEND_NAME,
    id: version as string,
    version: version as string,
    size,
    source: { kind: "http", url: doc.url as string },
    hashes: { md5: md5.toLowerCase() },
    context: {},
  };
}

/**
 * Startup checks of the identity: product id and device name make the topics
 * ($ota/update/<product>/<device>), where "+", "#" or "/" would reach other devices' messages.
 */
function checkConfig(config: TencentConfig): void {
  if (typeof config.productId !== "string" || !isAlphanumericText(config.productId, 1, 32))
    throw otaError(
      "internal",
      "Tencent product id " + quoted(config.productId) + " is not 1-32 of [A-Za-z0-9]",
    );
  if (
    typeof config.deviceName !== "string" ||
    !isAlphanumericText(config.deviceName, 1, 48, ":_@.-")
  )
    throw otaError(
      "internal",
      "Tencent device name " + quoted(config.deviceName) + " is not 1-48 of [a-zA-Z0-9:_@.-]",
    );
  if (config.currentVersion !== undefined) {
    const problem = nameProblem(config.currentVersion, MAX_VERSION_LENGTH);
    if (problem !== undefined) throw otaError("internal", "Tencent currentVersion " + problem);
  }
}

interface RefreshWaiter {
  version: string;
  resolve(offer: Offer | undefined): void;
}

export function createTencentBackend(config: TencentConfig, deps: TencentDeps): Backend {
  const { mqtt, clock, logger } = deps;
  checkConfig(config);
  const suffix = config.productId + "/" + config.deviceName;
  const updateTopic = "$ota/update/" + suffix;
  const reportTopic = "$ota/report/" + suffix;
  const progressIntervalMs =
    config.progressIntervalMs === undefined ? 2000 : config.progressIntervalMs;
  const backoff = { baseMs: config.retryBaseMs || 5000, maxMs: config.retryMaxMs || 300000 };
  const responseTimeoutMs = config.responseTimeoutMs || 10000;

  let listener: BackendListener | undefined;
  let stopped = false;
  /** report_version retry or response-timeout timer. */
  let versionTimer: TimerHandle | undefined;
  let versionAttempt = 0;
  let awaitingVersionResponse = false;
  let refreshWaiters: RefreshWaiter[] = [];
  /** Last "downloading" put on the wire, for the rate limit. */
  let lastProgress: { version: string; at: number; percent: number } | undefined;
  /** Version whose "burning" was sent since its download ended: verified and updating both map to it. */
  let burningSent: string | undefined;

  function log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object) {
    logger.log(level, "tencent: " + message, fields as Record<string, unknown>);
  }

  function publish(payload: string, qos: QoS): Promise<void> {
    log("debug", "publish " + reportTopic, { payload });
    return mqtt.publish(reportTopic, payload, qos);
  }

  function clearVersionTimer() {
    if (versionTimer !== undefined) clock.clearTimeout(versionTimer);
    versionTimer = undefined;
  }

  function retryVersion(reason: string) {
    clearVersionTimer();
    awaitingVersionResponse = false;
    if (stopped) return;
    const delay = backoffDelay(versionAttempt++, backoff, clock.random);
    log("warn", "report_version failed (" + reason + "); again in " + delay + " ms");
    versionTimer = clock.setTimeout(reportVersion, delay);
  }

  function reportVersion() {
    clearVersionTimer();
    const version = config.currentVersion;
    if (stopped || version === undefined || !mqtt.connected) return;
    awaitingVersionResponse = true;
    versionTimer = clock.setTimeout(
      () => retryVersion("no report_version_rsp within " + responseTimeoutMs + " ms"),
      responseTimeoutMs,
    );
    publish(JSON.stringify({ type: "report_version", report: { version } }), 1).catch((error) =>
      retryVersion(error instanceof Error ? error.message : String(error)),
    );
  }

  function onVersionResponse(doc: Record<string, unknown>) {
    if (!awaitingVersionResponse) return;
    const code = String(doc.result_code);
    if (code === "0") {
      clearVersionTimer();
      awaitingVersionResponse = false;
      versionAttempt = 0;
      log("info", "version " + String(doc.version) + " reported");
    } else
      retryVersion(
        "the platform answered result_code " + code + ", " + JSON.stringify(doc.result_msg),
      );
  }

  function onUpdateFirmware(doc: Record<string, unknown>) {
    const offer = parseUpdateFirmware(doc);
    if (typeof offer === "string") {
      log("error", "malformed update_firmware: " + offer);
      // Nothing was written; the platform is told why its command cannot be run, in a report
      // about its version, unless the version itself is what cannot be repeated.
      if (nameProblem(doc.version, MAX_VERSION_LENGTH) === undefined)
        publish(
          progressPayload(
            doc.version as string,
            "fail",
            "-5",
            resultMessage("offer-malformed", offer),
          ),
          1,
        ).catch((error) => log("warn", "fail report not sent: " + String(error)));
      return;
    }
    const waiting = refreshWaiters.filter((w) => w.version === offer.version);
    if (waiting.length > 0) {
      refreshWaiters = refreshWaiters.filter((w) => w.version !== offer.version);
      for (const waiter of waiting) waiter.resolve(offer);
      return;
    }
    log("info", "update_firmware " + offer.version + " (" + offer.size + " bytes)");
    if (listener) listener.offer(offer);
  }

  function onMessage(message: MqttMessage) {
    if (stopped || message.topic !== updateTopic) return;
    let doc: unknown;
    try {
      doc = JSON.parse(utf8Decode(message.payload));
    } catch {
      log("warn", "ignored a message that is not JSON on " + updateTopic);
      return;
    }
    if (typeof doc !== "object" || doc === null) return;
    const fields = doc as Record<string, unknown>;
    if (fields.type === "report_version_rsp") onVersionResponse(fields);
    else if (fields.type === "update_firmware") onUpdateFirmware(fields);
    else log("debug", "ignored message of type " + String(fields.type));
  }

  async function onConnected() {
    if (stopped) return;
    let granted: number[];
    try {
      granted = await mqtt.subscribe([updateTopic], 1);
    } catch (error) {
      log("warn", "subscribe to " + updateTopic + " failed: " + String(error));
      return;
    }
    if (stopped) return;
    if (granted[0] === 128) {
      // Without it no update can ever arrive: the cloud is not usable, so it is not reported up.
      log("error", "the broker refused the subscription to " + updateTopic);
      return;
    }
    if (listener) listener.connected();
    versionAttempt = 0;
    reportVersion();
  }

  function reportDownloading(report: Report, final: boolean): Promise<void> {
    const offer = report.offer;
    const total = report.progress ? report.progress.total : offer.size;
    const bytes = final ? total : report.progress ? report.progress.bytes : 0;
    const percent = total > 0 ? Math.min(100, Math.floor((bytes * 100) / total)) : 0;
    const now = clock.now();
    burningSent = undefined;
    const last = lastProgress;
    const fresh = !last || last.version !== offer.version;
    const due =
      fresh || (percent !== last.percent && (final || now - last.at >= progressIntervalMs));
    if (!due) return Promise.resolve();
    lastProgress = { version: offer.version, at: now, percent };
    return publish(progressPayload(offer.version, "downloading", "0", "", percent), 0);
  }

  return {
    name: BACKEND_NAME,

    async start(l: BackendListener): Promise<void> {
      listener = l;
      if (config.currentVersion === undefined)
        log("warn", "no currentVersion: the platform will not be told the running version");
      let first: Promise<void> | undefined;
      const connect = () =>
        onConnected().catch((error) => log("error", "connection setup failed: " + String(error)));
      mqtt.onMessage(onMessage);
      mqtt.onDisconnect(() => {
        clearVersionTimer();
        awaitingVersionResponse = false;
      });
      mqtt.onConnect(() => {
        first = connect();
      });
      // A client that does not announce an existing connection to a late handler.
      if (!first && mqtt.connected) first = connect();
      if (first) await first;
    },

    report(report: Report): Promise<void> {
      if (stopped) return Promise.reject(otaError("internal", "the tencent backend is stopped"));
      const version = report.offer.version;
      const failure = report.failure;
      switch (report.status) {
        case "downloading":
          return reportDownloading(report, false);
        case "downloaded":
          return reportDownloading(report, true);
        case "verified":
        case "updating":
          if (burningSent === version) return Promise.resolve();
          burningSent = version;
          return publish(progressPayload(version, "burning", "0", ""), 1);
        case "succeeded":
          return publish(progressPayload(version, "done", "0", ""), 1);
        case "failed":
        case "rejected": {
          lastProgress = undefined;
          const code = failure ? failure.code : report.status;
          const message = failure ? failure.message : "";
          return publish(
            progressPayload(version, "fail", tencentResultCode(code), resultMessage(code, message)),
            1,
          );
        }
        case "current":
          // The platform compares the reported version with the task's target itself.
          return publish(JSON.stringify({ type: "report_version", report: { version } }), 1);
        case "testing":
          // Tencent has no such state: "burning" was sent before the reboot.
          return Promise.resolve();
      }
    },

    /**
     * A fresh update_firmware for the offer (the platform signs a new URL each time it sends one):
     * reporting the running version makes the platform send the target again.
     */
    refresh(offer: Offer): Promise<Offer | undefined> {
      if (stopped || config.currentVersion === undefined || !mqtt.connected)
        return Promise.resolve(undefined);
      return new Promise<Offer | undefined>((resolve) => {
        const waiter: RefreshWaiter = {
          version: offer.version,
          resolve(fresh) {
            clock.clearTimeout(timer);
            resolve(fresh);
          },
        };
        const timer = clock.setTimeout(() => {
          refreshWaiters = refreshWaiters.filter((w) => w !== waiter);
          log("warn", "no update_firmware for " + offer.version + " after report_version");
          resolve(undefined);
        }, responseTimeoutMs);
        refreshWaiters.push(waiter);
        versionAttempt = 0;
        reportVersion();
      });
    },

    async stop(): Promise<void> {
      stopped = true;
      clearVersionTimer();
      const waiting = refreshWaiters;
      refreshWaiters = [];
      for (const waiter of waiting) waiter.resolve(undefined);
    },
  };
}
