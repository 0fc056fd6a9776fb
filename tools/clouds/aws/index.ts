// A local AWS IoT Jobs: the device side of the service's MQTT API, emulated by an MQTT client of
// any broker (aedes or mosquitto), following the rules in protocols-and-peers.md section 1:
// execution statuses and their transitions, versionNumber incremented on every change, the
// rejected codes with executionState, statusDetails limits, notify-next when the next job changes
// (without `execution` when none is left), cancel and force-cancel, step and in-progress timeouts,
// and presigned URLs that expire.
//
// Transition rules as the service applies them (iot-jobs-lifecycle.md, ota.c):
//   QUEUED      -> IN_PROGRESS | SUCCEEDED | FAILED | REJECTED   (by the device)
//   IN_PROGRESS -> IN_PROGRESS | SUCCEEDED | FAILED              (REJECTED only before it started)
//   QUEUED      -> CANCELED                                       (cancel)
//   IN_PROGRESS -> CANCELED                                       (cancel with force only)
//   IN_PROGRESS -> TIMED_OUT                                      (step or in-progress timer)
//   terminal: SUCCEEDED FAILED TIMED_OUT REJECTED REMOVED CANCELED; any update then gets
//   InvalidStateTransition (VersionMismatch when its expectedVersion is stale), a describe
//   TerminalStateReached.

import { randomBytes } from "node:crypto";
import { connectMqtt } from "../../../hosts/node/mqtt";
import type { MqttClient } from "../../../src/core/ports";
import { isJobId, isThingName, jobsTopic, parseJobsTopic } from "../../../src/backends/aws/topics";
import type { JobsApi } from "../../../src/backends/aws/topics";

export type ExecutionStatus =
  | "QUEUED"
  | "IN_PROGRESS"
  | "SUCCEEDED"
  | "FAILED"
  | "TIMED_OUT"
  | "REJECTED"
  | "REMOVED"
  | "CANCELED";

const TERMINAL: ExecutionStatus[] = [
  "SUCCEEDED",
  "FAILED",
  "TIMED_OUT",
  "REJECTED",
  "REMOVED",
  "CANCELED",
];
const DEVICE_STATUSES = ["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"];
const PRESIGNED = /\$\{aws:iot:s3-presigned-url:([^}]+)\}/g;
/** jobs-management-control-api.md: a job document is limited to 32 KB. */
const MAX_DOCUMENT_BYTES = 32 * 1024;

export interface AwsCloudOptions {
  brokerUrl: string;
  /** PEM texts: the CA of the broker's certificate, and the cloud's client certificate and key. */
  tls?: { ca: string; cert: string; key: string };
  log?: (line: string) => void;
  /** Length of one of the service's minutes, for step and in-progress timeouts (default 60000). */
  minuteMs?: number;
  /**
   * Expands `${aws:iot:s3-presigned-url:<url>}` in job documents, each time a document is sent,
   * into a URL valid for `ttlMs` (tools/fwserver's presign() checks it and answers 403 after).
   * Without it the template becomes the bare URL.
   */
  presign?: (url: string, ttlMs: number) => string;
}

export interface DeployOptions {
  thingName: string;
  /** Default: a fresh "job-..." id. 1-64 of [a-zA-Z0-9_-]. */
  jobId?: string;
  /** Any JSON object: one of the firmware forms (see firmwareJobDocument) or a custom job. */
  document: unknown;
  /** timeoutConfig.inProgressTimeoutInMinutes: TIMED_OUT that long after IN_PROGRESS. */
  inProgressTimeoutMinutes?: number;
  /** presignedUrlConfig.expiresInSec, in ms (default one hour). */
  presignTtlMs?: number;
}

export interface ExecutionView {
  jobId: string;
  thingName: string;
  status: ExecutionStatus;
  statusDetails: Record<string, string>;
  versionNumber: number;
  executionNumber: number;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  forceCanceled?: boolean;
}

export interface HistoryEntry {
  /** ms since the epoch */
  at: number;
  direction: "in" | "out";
  topic: string;
  payload: unknown;
}

/** An UpdateJobExecution request from a device, and what the service made of it. */
export interface UpdateRecord {
  at: number;
  thingName: string;
  jobId: string;
  request: Record<string, unknown>;
  /** "accepted", or the rejected code. */
  outcome: string;
}

export interface AwsCloud {
  /** Creates a job with one execution, QUEUED for the thing; resolves with its id once notified. */
  deploy(options: DeployOptions): Promise<string>;
  /**
   * Makes the next `times` (1) requests to `api` (every API when absent) fail with `code`, as the
   * service's InternalError or RequestThrottled do.
   */
  rejectNext(code: string, options?: { api?: JobsApi; times?: number }): void;
  /**
   * Holds the replies to the next `times` (1) requests on topics containing `topicPart` for `ms`:
   * each is made when its request arrives and delivered late, as a slow network delivers it.
   */
  delayReplies(topicPart: string, ms: number, times?: number): void;
  /** CancelJob (all its executions) or, with thingName, CancelJobExecution. */
  cancel(jobId: string, options?: CancelOptions): Promise<void>;
  execution(thingName: string, jobId: string): ExecutionView | undefined;
  executions(): ExecutionView[];
  /** Job status: IN_PROGRESS, CANCELED, or COMPLETED once every execution is terminal. */
  jobStatus(jobId: string): "IN_PROGRESS" | "CANCELED" | "COMPLETED" | undefined;
  /** Every message received and sent. */
  readonly history: HistoryEntry[];
  /** Every UpdateJobExecution request received. */
  readonly updates: UpdateRecord[];
  /** Resolves with the first truthy value of `probe`, checked after every change. */
  waitFor<T>(probe: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  /** Resolves once the execution has one of these statuses. */
  waitForStatus(
    thingName: string,
    jobId: string,
    statuses: ExecutionStatus | ExecutionStatus[],
    timeoutMs?: number,
  ): Promise<ExecutionView>;
  close(): Promise<void>;
}

export interface CancelOptions {
  /** Cancels IN_PROGRESS executions too; the device's later updates are rejected. */
  force?: boolean;
  /** Only this thing's execution (CancelJobExecution); it must then be cancellable. */
  thingName?: string;
  /** Sends no notify/notify-next, as if the device missed them: it learns from its next request. */
  silent?: boolean;
}

interface Job {
  jobId: string;
  document: unknown;
  status: "IN_PROGRESS" | "CANCELED" | "COMPLETED";
  inProgressTimeoutMinutes?: number;
  presignTtlMs: number;
  createdAt: number;
}

interface Execution extends ExecutionView {
  stepDeadline?: number;
  inProgressDeadline?: number;
  timer?: NodeJS.Timeout;
  /** Creation order, for $next. */
  order: number;
}

type Rejection = { code: string; message: string; executionState?: Record<string, unknown> };

export type FirmwareForm = "plain" | "nrf" | "zerynth" | "afr_ota";

export interface FirmwareDescription {
  url: string;
  size: number;
  version: string;
  md5?: string;
  sha256?: string;
  /** Base64 ECDSA signature, for afr_ota. */
  signature?: string;
  /** Put the URL in a presigned-URL template that the cloud expands on every delivery. */
  presigned?: boolean;
  /** A patch from a base image (plain form only): the document's "delta" object. */
  delta?: { url: string; size: number; sha256: string; baseSha256: string };
  /** Leave the full image's URL out: the device has the delta or nothing. */
  deltaOnly?: boolean;
  /** The image's anti-rollback secure_version (plain form): refused before download below the eFuse. */
  secureVersion?: number;
}

/** A job document in one of the four forms the AWS backend reads. */
export function firmwareJobDocument(
  form: FirmwareForm,
  fw: FirmwareDescription,
): Record<string, unknown> {
  const url = fw.presigned ? "${aws:iot:s3-presigned-url:" + fw.url + "}" : fw.url;
  if (fw.delta && form !== "plain") throw new Error("only the plain form carries a delta");
  if (form === "nrf") {
    if (fw.presigned)
      throw new Error("the nRF form splits the URL into host and path: no template");
    const parsed = new URL(fw.url);
    return {
      operation: "app_fw_update",
      fwversion: fw.version,
      size: fw.size,
      location: {
        protocol: parsed.protocol,
        host: parsed.host,
        path: parsed.pathname.slice(1) + parsed.search,
      },
    };
  }
  if (form === "zerynth") {
    if (!fw.md5) throw new Error("the Zerynth form needs the MD5 (bc_crc)");
    return {
      operation: "fota",
      bc_idx: 1,
      bc_crc: fw.md5,
      bc_size: fw.size,
      bc_url: url,
      version: fw.version,
    };
  }
  if (form === "afr_ota") {
    const file: Record<string, unknown> = {
      filepath: "firmware.bin",
      filesize: fw.size,
      fileid: 0,
      update_data_url: url,
      auth_scheme: "aws.s3.presigned",
    };
    if (fw.signature) {
      file["sig-sha256-ecdsa"] = fw.signature;
      file.certfile = "code-signer.crt";
    }
    // "version" is ours: the AWS OTA library ignores it and checks the image after the reboot.
    return { afr_ota: { protocols: ["HTTP"], files: [file] }, version: fw.version };
  }
  const doc: Record<string, unknown> = { url, size: fw.size, version: fw.version };
  if (fw.secureVersion !== undefined) doc.secure_version = fw.secureVersion;
  if (fw.delta) {
    doc.delta = {
      url: fw.delta.url,
      size: fw.delta.size,
      sha256: fw.delta.sha256,
      base_sha256: fw.delta.baseSha256,
      format: "esp_delta_ota",
    };
    if (fw.deltaOnly) delete doc.url;
  }
  if (fw.md5) doc.md5 = fw.md5;
  if (fw.sha256) doc.sha256 = fw.sha256;
  if (!fw.md5 && !fw.sha256) throw new Error("the plain form needs md5 or sha256");
  return doc;
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The statusDetails rules of JobExecutionState, or the reason they are broken. */
function checkDetails(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) return "statusDetails must be an object of strings";
  const keys = Object.keys(value);
  if (keys.length > 10) return "statusDetails has " + keys.length + " pairs, at most 10 allowed";
  for (const key of keys) {
    if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(key))
      return "statusDetails key " + JSON.stringify(key) + " is invalid";
    const v = value[key];
    if (typeof v !== "string") return "statusDetails." + key + " is not a string";
    if (v.length < 1 || v.length > 1024)
      return "statusDetails." + key + " must be 1-1024 characters";
    if (!/^[^\p{C}]+$/u.test(v))
      return "statusDetails." + key + " holds control or format characters";
  }
  return undefined;
}

function checkStepTimeout(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 10080)
    return "stepTimeoutInMinutes must be 1-10080";
  return undefined;
}

/**
 * Starts the emulator: connects to the broker and answers every thing's Jobs requests.
 *
 * @example
 * const cloud = await startAwsCloud({ brokerUrl: broker.url });
 * const jobId = await cloud.deploy({ thingName: "dev-1",
 *   document: firmwareJobDocument("plain", { url, size, version: "1.1.0", sha256 }) });
 * await cloud.waitForStatus("dev-1", jobId, ["SUCCEEDED", "FAILED"], 60_000);
 */
export async function startAwsCloud(options: AwsCloudOptions): Promise<AwsCloud> {
  const minuteMs = options.minuteMs ?? 60_000;
  const log = options.log ?? (() => undefined);
  const jobs: Record<string, Job> = {};
  const executions: Execution[] = [];
  /** The job each thing was last told is next (null: none). */
  const lastNext: Record<string, string | null> = {};
  const history: HistoryEntry[] = [];
  const updates: UpdateRecord[] = [];
  const watchers = new Set<() => void>();
  const faults: { code: string; api?: JobsApi; times: number }[] = [];
  let order = 0;
  let closed = false;

  const mqtt: MqttClient = connectMqtt({
    url: options.brokerUrl,
    clientId: "otaflow-aws-cloud-" + randomBytes(4).toString("hex"),
    ca: options.tls?.ca,
    cert: options.tls?.cert,
    key: options.tls?.key,
  });
  const subscribed = new Promise<void>((resolve) => {
    mqtt.onConnect(() => {
      // Subscriptions do not survive a broker restart with a clean session.
      mqtt.subscribe(["$aws/things/+/jobs/#"], 1).then(
        () => resolve(),
        (error) => log(`aws cloud: subscribe failed: ${error}`),
      );
    });
  });

  function changed() {
    for (const watcher of [...watchers]) watcher();
  }

  const delays: { topicPart: string; ms: number; times: number }[] = [];

  function publish(topic: string, payload: Record<string, unknown>) {
    const delay = delays.find((d) => d.times > 0 && topic.includes(d.topicPart));
    if (delay && (topic.endsWith("/accepted") || topic.endsWith("/rejected"))) {
      delay.times--;
      setTimeout(() => send(topic, payload), delay.ms);
      return;
    }
    send(topic, payload);
  }

  function send(topic: string, payload: Record<string, unknown>) {
    history.push({ at: Date.now(), direction: "out", topic, payload });
    mqtt
      .publish(topic, JSON.stringify(payload), 1)
      .catch((error) => log(`aws cloud: publish ${topic} failed: ${error}`));
  }

  function find(thingName: string, jobId: string): Execution | undefined {
    return executions.find((e) => e.thingName === thingName && e.jobId === jobId);
  }

  function pending(thingName: string): Execution[] {
    const list = executions.filter(
      (e) => e.thingName === thingName && (e.status === "QUEUED" || e.status === "IN_PROGRESS"),
    );
    // IN_PROGRESS first, then in creation order (StartNextPendingJobExecution).
    return list.sort((a, b) =>
      a.status !== b.status ? (a.status === "IN_PROGRESS" ? -1 : 1) : a.order - b.order,
    );
  }

  function expand(value: unknown, ttlMs: number): unknown {
    if (typeof value === "string")
      return value.replace(PRESIGNED, (_, url: string) =>
        options.presign ? options.presign(url, ttlMs) : url,
      );
    if (Array.isArray(value)) return value.map((v) => expand(v, ttlMs));
    if (isObject(value)) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) out[key] = expand(value[key], ttlMs);
      return out;
    }
    return value;
  }

  function documentOf(e: Execution): unknown {
    const job = jobs[e.jobId];
    return expand(job.document, job.presignTtlMs);
  }

  function state(e: Execution): Record<string, unknown> {
    return {
      status: e.status,
      statusDetails: { ...e.statusDetails },
      versionNumber: e.versionNumber,
    };
  }

  function full(e: Execution, withDocument = true): Record<string, unknown> {
    const out: Record<string, unknown> = {
      jobId: e.jobId,
      thingName: e.thingName,
      status: e.status,
      queuedAt: seconds(e.queuedAt),
      lastUpdatedAt: seconds(e.lastUpdatedAt),
      versionNumber: e.versionNumber,
      executionNumber: e.executionNumber,
    };
    if (Object.keys(e.statusDetails).length > 0) out.statusDetails = { ...e.statusDetails };
    if (e.startedAt !== undefined) out.startedAt = seconds(e.startedAt);
    const deadline = Math.min(e.stepDeadline ?? Infinity, e.inProgressDeadline ?? Infinity);
    if (deadline !== Infinity)
      out.approximateSecondsBeforeTimedOut = Math.max(0, seconds(deadline - Date.now()));
    if (withDocument) out.jobDocument = documentOf(e);
    return out;
  }

  function summary(e: Execution): Record<string, unknown> {
    const out = full(e, false);
    delete out.thingName;
    delete out.status;
    delete out.statusDetails;
    delete out.approximateSecondsBeforeTimedOut;
    return out;
  }

  /** JobExecutionsChanged and NextJobExecutionChanged, after a change to a thing's executions. */
  function notify(thingName: string, silent = false) {
    const list = pending(thingName);
    const next = list.length > 0 ? list[0] : undefined;
    const nextId = next ? next.jobId : null;
    const timestamp = seconds(Date.now());
    if (!silent) {
      const groups: Record<string, unknown[]> = {};
      for (const e of list) (groups[e.status] ??= []).push(summary(e));
      publish(jobsTopic(thingName, "notify"), { timestamp, jobs: groups });
    }
    if ((lastNext[thingName] ?? null) !== nextId) {
      lastNext[thingName] = nextId;
      if (!silent)
        publish(
          jobsTopic(thingName, "notify-next"),
          next ? { timestamp, execution: full(next) } : { timestamp },
        );
    }
  }

  function setStatus(e: Execution, status: ExecutionStatus) {
    const now = Date.now();
    if (status === "IN_PROGRESS" && e.startedAt === undefined) {
      e.startedAt = now;
      const minutes = jobs[e.jobId].inProgressTimeoutMinutes;
      if (minutes) e.inProgressDeadline = now + minutes * minuteMs;
    }
    e.status = status;
    e.versionNumber++;
    e.lastUpdatedAt = now;
    if (TERMINAL.includes(status)) {
      e.stepDeadline = undefined;
      e.inProgressDeadline = undefined;
      const job = jobs[e.jobId];
      if (
        job.status === "IN_PROGRESS" &&
        executions.every((x) => x.jobId !== e.jobId || TERMINAL.includes(x.status))
      )
        job.status = "COMPLETED";
    }
    armTimer(e);
    log(
      `aws cloud: ${e.thingName}/${e.jobId} ${status} v${e.versionNumber} ${JSON.stringify(e.statusDetails)}`,
    );
  }

  function armTimer(e: Execution) {
    clearTimeout(e.timer);
    e.timer = undefined;
    const deadline = Math.min(e.stepDeadline ?? Infinity, e.inProgressDeadline ?? Infinity);
    if (deadline === Infinity || closed) return;
    e.timer = setTimeout(
      () => {
        if (e.status !== "IN_PROGRESS") return;
        setStatus(e, "TIMED_OUT");
        notify(e.thingName);
        changed();
      },
      Math.max(0, deadline - Date.now()),
    );
  }

  // ---- the device API ----

  function accept(topic: string, body: Record<string, unknown>, token: unknown) {
    const payload: Record<string, unknown> = { ...body, timestamp: seconds(Date.now()) };
    if (token !== undefined) payload.clientToken = token;
    publish(topic + "/accepted", payload);
  }

  function reject(topic: string, rejection: Rejection, token: unknown) {
    const payload: Record<string, unknown> = {
      code: rejection.code,
      message: rejection.message,
      timestamp: seconds(Date.now()),
    };
    if (token !== undefined) payload.clientToken = token;
    if (rejection.executionState) payload.executionState = rejection.executionState;
    publish(topic + "/rejected", payload);
  }

  function getPending(thingName: string) {
    const list = pending(thingName);
    return {
      inProgressJobs: list.filter((e) => e.status === "IN_PROGRESS").map(summary),
      queuedJobs: list.filter((e) => e.status === "QUEUED").map(summary),
    };
  }

  function startNext(
    thingName: string,
    body: Record<string, unknown>,
  ): Record<string, unknown> | Rejection {
    const invalid = checkDetails(body.statusDetails) ?? checkStepTimeout(body.stepTimeoutInMinutes);
    if (invalid) return { code: "InvalidRequest", message: invalid };
    const next = pending(thingName)[0];
    if (!next) return {};
    if (isObject(body.statusDetails))
      next.statusDetails = { ...(body.statusDetails as Record<string, string>) };
    if (typeof body.stepTimeoutInMinutes === "number")
      next.stepDeadline = Date.now() + body.stepTimeoutInMinutes * minuteMs;
    // Starting it, or changing a started one, is an update: the version moves on.
    if (next.status === "QUEUED" || body.statusDetails !== undefined || body.stepTimeoutInMinutes)
      setStatus(next, "IN_PROGRESS");
    notify(thingName);
    return { execution: full(next) };
  }

  function describe(
    thingName: string,
    jobId: string,
    body: Record<string, unknown>,
  ): Record<string, unknown> | Rejection {
    const withDocument = body.includeJobDocument !== false;
    if (jobId === "$next") {
      const next = pending(thingName)[0];
      return next ? { execution: full(next, withDocument) } : {};
    }
    const e = find(thingName, jobId);
    if (!e || (body.executionNumber !== undefined && body.executionNumber !== e.executionNumber))
      return { code: "ResourceNotFound", message: `no execution of job ${jobId} for ${thingName}` };
    if (TERMINAL.includes(e.status))
      return {
        code: "TerminalStateReached",
        message: `the execution of job ${jobId} is ${e.status}`,
      };
    return { execution: full(e, withDocument) };
  }

  function update(
    thingName: string,
    jobId: string,
    body: Record<string, unknown>,
  ): Record<string, unknown> | Rejection {
    const status = body.status;
    if (typeof status !== "string" || !DEVICE_STATUSES.includes(status))
      return {
        code: "InvalidRequest",
        message: "status must be one of " + DEVICE_STATUSES.join(", "),
      };
    const invalid = checkDetails(body.statusDetails) ?? checkStepTimeout(body.stepTimeoutInMinutes);
    if (invalid) return { code: "InvalidRequest", message: invalid };
    let expected: number | undefined;
    if (body.expectedVersion !== undefined) {
      expected =
        typeof body.expectedVersion === "string"
          ? Number(body.expectedVersion)
          : (body.expectedVersion as number);
      if (typeof expected !== "number" || !Number.isInteger(expected))
        return { code: "InvalidRequest", message: "expectedVersion must be a number" };
    }
    const e = find(thingName, jobId);
    if (!e || (body.executionNumber !== undefined && body.executionNumber !== e.executionNumber))
      return { code: "ResourceNotFound", message: `no execution of job ${jobId} for ${thingName}` };
    if (expected !== undefined && expected !== e.versionNumber)
      return {
        code: "VersionMismatch",
        message: `expected version ${expected}, the execution is at ${e.versionNumber}`,
        executionState: state(e),
      };
    const legal =
      (e.status === "QUEUED" && DEVICE_STATUSES.includes(status)) ||
      (e.status === "IN_PROGRESS" && status !== "REJECTED");
    if (!legal)
      return {
        code: "InvalidStateTransition",
        message: `the execution of job ${jobId} cannot go from ${e.status} to ${status}`,
        executionState: state(e),
      };
    if (isObject(body.statusDetails))
      e.statusDetails = { ...(body.statusDetails as Record<string, string>) };
    if (status === "IN_PROGRESS" && typeof body.stepTimeoutInMinutes === "number")
      e.stepDeadline = Date.now() + body.stepTimeoutInMinutes * minuteMs;
    const before = e.status;
    setStatus(e, status as ExecutionStatus);
    if (before !== e.status) notify(thingName);
    const out: Record<string, unknown> = {};
    if (body.includeJobExecutionState === true) out.executionState = state(e);
    if (body.includeJobDocument === true) out.jobDocument = documentOf(e);
    return out;
  }

  function onRequest(topic: string, text: string) {
    const request = parseJobsTopic(topic);
    if (!request) {
      // A topic in the Jobs namespace that maps to no API; replies and notifications are ours.
      if (/^\$aws\/things\/[^/]+\/jobs\//.test(topic) && !/\/(accepted|rejected)$/.test(topic))
        reject(topic, { code: "InvalidTopic", message: `${topic} is not a Jobs API` }, undefined);
      return;
    }
    if (request.reply || request.api === "notify" || request.api === "notify-next") return;
    let body: Record<string, unknown>;
    try {
      const parsed = text.trim() === "" ? {} : JSON.parse(text);
      if (!isObject(parsed)) throw new Error("not an object");
      body = parsed;
    } catch {
      reject(
        topic,
        { code: "InvalidJson", message: "the request is not a JSON object" },
        undefined,
      );
      return;
    }
    history.push({ at: Date.now(), direction: "in", topic, payload: body });
    const token = body.clientToken;
    if (token !== undefined && (typeof token !== "string" || token.length > 64)) {
      reject(
        topic,
        {
          code: "InvalidRequest",
          message: "clientToken must be a string of at most 64 characters",
        },
        undefined,
      );
      return;
    }
    const thing = request.thing;
    let result: Record<string, unknown> | Rejection;
    const fault = faults.find((f) => f.api === undefined || f.api === request.api);
    if (fault && --fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
    if (fault) result = { code: fault.code, message: `${fault.code} (injected)` };
    else if (request.api === "get") result = getPending(thing);
    else if (request.api === "start-next") result = startNext(thing, body);
    else if (request.api === "describe") result = describe(thing, request.jobId!, body);
    else result = update(thing, request.jobId!, body);
    if (request.api === "update")
      updates.push({
        at: Date.now(),
        thingName: thing,
        jobId: request.jobId!,
        request: body,
        outcome: typeof result.code === "string" ? result.code : "accepted",
      });
    if (typeof result.code === "string") reject(topic, result as Rejection, token);
    else accept(topic, result, token);
    changed();
  }

  mqtt.onMessage((message) => {
    if (closed) return;
    onRequest(message.topic, Buffer.from(message.payload).toString("utf8"));
  });
  await subscribed;

  const cloud: AwsCloud = {
    delayReplies(topicPart, ms, times = 1) {
      delays.push({ topicPart, ms, times });
    },
    history,
    updates,
    async deploy(deploy) {
      if (!isThingName(deploy.thingName)) throw new Error(`invalid thing name ${deploy.thingName}`);
      const jobId =
        deploy.jobId ?? `job-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
      if (!isJobId(jobId)) throw new Error(`invalid job id ${jobId}: 1-64 of [a-zA-Z0-9_-]`);
      if (jobs[jobId]) throw new Error(`job ${jobId} exists already`);
      if (!isObject(deploy.document)) throw new Error("a job document is a JSON object");
      const bytes = Buffer.byteLength(JSON.stringify(deploy.document));
      if (bytes > MAX_DOCUMENT_BYTES)
        throw new Error(`job document of ${bytes} bytes, at most 32 KB allowed`);
      const now = Date.now();
      jobs[jobId] = {
        jobId,
        document: deploy.document,
        status: "IN_PROGRESS",
        inProgressTimeoutMinutes: deploy.inProgressTimeoutMinutes,
        presignTtlMs: deploy.presignTtlMs ?? 3_600_000,
        createdAt: now,
      };
      executions.push({
        jobId,
        thingName: deploy.thingName,
        status: "QUEUED",
        statusDetails: {},
        versionNumber: 1,
        executionNumber: 1,
        queuedAt: now,
        lastUpdatedAt: now,
        order: order++,
      });
      log(`aws cloud: job ${jobId} QUEUED for ${deploy.thingName}`);
      notify(deploy.thingName);
      changed();
      return jobId;
    },
    rejectNext(code, fault = {}) {
      faults.push({ code, api: fault.api, times: fault.times ?? 1 });
    },
    async cancel(jobId, cancel = {}) {
      const job = jobs[jobId];
      if (!job) throw new Error(`no job ${jobId}`);
      const targets = executions.filter(
        (e) =>
          e.jobId === jobId && (cancel.thingName === undefined || e.thingName === cancel.thingName),
      );
      if (cancel.thingName !== undefined) {
        const e = targets[0];
        if (!e) throw new Error(`no execution of ${jobId} for ${cancel.thingName}`);
        if (TERMINAL.includes(e.status) || (e.status === "IN_PROGRESS" && !cancel.force))
          throw new Error(
            `InvalidStateTransition: the execution is ${e.status}${cancel.force ? "" : " (force needed)"}`,
          );
      } else job.status = "CANCELED";
      for (const e of targets) {
        if (e.status === "QUEUED" || (e.status === "IN_PROGRESS" && cancel.force)) {
          if (e.status === "IN_PROGRESS") e.forceCanceled = true;
          setStatus(e, "CANCELED");
          notify(e.thingName, cancel.silent);
        }
      }
      changed();
    },
    execution(thingName, jobId) {
      const e = find(thingName, jobId);
      return e && view(e);
    },
    executions: () => executions.map(view),
    jobStatus: (jobId) => jobs[jobId]?.status,
    waitFor(probe, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const value = probe();
          if (!value) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(value);
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(
            new Error(
              `aws cloud: condition not met within ${timeoutMs} ms; executions: ${JSON.stringify(executions.map(view))}`,
            ),
          );
        }, timeoutMs);
        watchers.add(check);
        check();
      });
    },
    waitForStatus(thingName, jobId, statuses, timeoutMs) {
      const wanted = Array.isArray(statuses) ? statuses : [statuses];
      return cloud.waitFor(() => {
        const e = find(thingName, jobId);
        return e && wanted.includes(e.status) ? view(e) : undefined;
      }, timeoutMs);
    },
    async close() {
      closed = true;
      for (const e of executions) clearTimeout(e.timer);
      await mqtt.close();
    },
  };
  return cloud;
}

function view(e: Execution): ExecutionView {
  const out: ExecutionView = {
    jobId: e.jobId,
    thingName: e.thingName,
    status: e.status,
    statusDetails: { ...e.statusDetails },
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
    queuedAt: e.queuedAt,
    lastUpdatedAt: e.lastUpdatedAt,
  };
  if (e.startedAt !== undefined) out.startedAt = e.startedAt;
  if (e.forceCanceled) out.forceCanceled = true;
  return out;
}
