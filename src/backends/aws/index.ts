// AWS IoT Jobs over MQTT (reference: protocols-and-peers.md section 1). The next pending job comes
// from notify-next or from a $next/get reply; a firmware job becomes an Offer, anything else goes to
// the application's onJob. Reports become UpdateJobExecution calls that resolve only once the
// service accepted them, with expectedVersion tracked and resynchronised from the executionState of
// a VersionMismatch, and with the clientToken of every reply matched to its request.
//
// Status mapping: nothing is sent when an offer arrives, so that a refusal can still be REJECTED
// (the service refuses REJECTED once an execution is IN_PROGRESS, ota.c); the first progress
// report sets IN_PROGRESS; SUCCEEDED is sent only for the agent's "succeeded", which the new image
// sends after it confirmed itself; "failed" is FAILED with statusDetails.reason.

import type { Backend, BackendListener } from "../../core/backend";
import { otaError } from "../../core/errors";
import type { OtaError } from "../../core/errors";
import type { Offer, Report } from "../../core/offer";
import type { Clock, Logger, MqttClient, MqttMessage } from "../../core/ports";
import { utf8Decode } from "../../core/util/bytes";
import { MAX_REPORT_TEXT, cleanText, quoted } from "../../core/util/text";
import { MAX_VERSION_LENGTH, nameProblem } from "../offer-fields";
import { parseJobDocument } from "./job-document";
import { isAlphanumericText } from "../../core/util/chars";
import { isJobId, isThingName, jobsTopic, parseJobsTopic } from "./topics";

export { parseJobDocument } from "./job-document";

/** A job whose document is not a firmware update, handed to the application. */
export interface AwsJob {
  jobId: string;
  /** The job document as the service delivered it. */
  document: unknown;
  /** "QUEUED", or "IN_PROGRESS" when the job was started before (e.g. before a reboot). */
  status: string;
  statusDetails: Record<string, string>;
  /** Reports IN_PROGRESS with these details; resolves once the service accepted it. */
  progress(statusDetails: Record<string, string>): Promise<void>;
}

export type AwsJobStatus = "succeeded" | "failed" | "rejected";

/**
 * What became of a custom job. "in-progress" leaves the execution IN_PROGRESS (the job continues,
 * e.g. after a reboot, and is handed to onJob again).
 */
export type AwsJobResult =
  AwsJobStatus | { status: AwsJobStatus | "in-progress"; statusDetails?: Record<string, string> };

export interface AwsConfig {
  /** The thing's name in AWS IoT: 1-128 of [a-zA-Z0-9:_-]. */
  thingName: string;
  /** Prepended to the thing name to make the MQTT client id (AWS policies often want it equal). */
  clientIdPrefix?: string;
  /**
   * Jobs whose document is not a firmware update (Zerynth's job_cbk). Without it such a job is
   * REJECTED, since it would otherwise hide every job queued after it.
   */
  onJob?: (job: AwsJob) => Promise<AwsJobResult>;
  /**
   * Sent as stepTimeoutInMinutes (1-10080) with every IN_PROGRESS update: the service times the
   * execution out if the device falls silent for that long. It is refreshed during a download.
   */
  stepTimeoutMinutes?: number;
  /** Least time between two progress updates on the wire (default 10000 ms). */
  progressIntervalMs?: number;
  /** How often a download's IN_PROGRESS is repeated to keep the step timer alive (default half of it). */
  stepRefreshMs?: number;
  /** Wait for a reply before a request is sent again (default 10000 ms). */
  responseTimeoutMs?: number;
  /** Sends of a request, while connected, before it fails (default 3). */
  maxAttempts?: number;
}

export interface AwsDeps {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
}

/** The AWS backend, with the extra call handleFotaJobs uses. */
export interface AwsBackend extends Backend {
  /** Asks the service for the next pending job ($next/get); resolves when the reply was handled. */
  checkNow(): Promise<void>;
  /** DescribeJobExecution with the job document: the offer with a freshly presigned URL. */
  refresh(offer: Offer): Promise<Offer | undefined>;
}

export function mqttIdentity(config: AwsConfig): { clientId: string } {
  return { clientId: (config.clientIdPrefix || "") + config.thingName };
}

/**
 * Longest statusDetails value sent. The service takes 1024 characters (JobExecutionState); values
 * are kept shorter, as one console line, since a reason may quote what the cloud or a server sent.
 */
export const MAX_DETAIL_LENGTH = MAX_REPORT_TEXT;
/** statusDetails pairs sent at most: the documented safe maximum. */
const MAX_DETAILS = 10;
const TERMINAL = ["SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"];

function isTerminal(status: unknown): boolean {
  return TERMINAL.indexOf(status as string) >= 0;
}

/** A statusDetails value the service accepts (no \p{C}, short), or "" to leave out. */
export function detailValue(value: string): string {
  return cleanText(value, MAX_DETAIL_LENGTH);
}

function cleanDetails(details: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const key in details) {
    const value = detailValue(String(details[key]));
    if (value === "" || !isAlphanumericText(key, 1, 128, ":_-") || count === MAX_DETAILS) continue;
    out[key] = value;
    count++;
  }
  return out;
}

function sameDetails(a: unknown, b: Record<string, string>): boolean {
  if (typeof a !== "object" || a === null) return Object.keys(b).length === 0;
  const other = a as Record<string, unknown>;
  const keys = Object.keys(b);
  if (Object.keys(other).length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (other[keys[i]] !== b[keys[i]]) return false;
  return true;
}

interface Reply {
  accepted: boolean;
  payload: Record<string, unknown>;
}

interface Pending {
  token: string;
  topic: string;
  body: Record<string, unknown>;
  /** Sends since the last (re)connection. */
  attempts: number;
  timer: unknown;
  resolve(reply: Reply): void;
  reject(error: OtaError): void;
}

/** What this boot knows of one job execution. */
interface JobState {
  jobId: string;
  status: string;
  /** versionNumber as last seen, for expectedVersion. */
  version?: number;
  /** Handed to the listener or to onJob in this boot. */
  taken: boolean;
  /** The agent reported on it in this boot (it holds the offer from before a reboot). */
  reported?: boolean;
  /** Not a firmware update: handed to onJob, once. */
  custom?: boolean;
  /** A terminal update is in flight or done: notify-next moving on is expected. */
  finishing: boolean;
  /** The service withdrew it (cancel, timeout, removal), with the reason. */
  cancelled?: string;
  lastProgressAt?: number;
  /** Last IN_PROGRESS details, repeated to refresh the step timer. */
  details?: Record<string, string>;
  /** The agent's last report status. */
  state?: string;
}

interface Execution {
  jobId: string;
  status: string;
  versionNumber?: number;
  statusDetails: Record<string, string>;
  jobDocument?: unknown;
}

function readExecution(value: unknown): Execution | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const e = value as Record<string, unknown>;
  if (typeof e.jobId !== "string") return undefined;
  const details: Record<string, string> = {};
  const raw = e.statusDetails;
  if (typeof raw === "object" && raw !== null)
    for (const key in raw as Record<string, unknown>) {
      const v = (raw as Record<string, unknown>)[key];
      if (typeof v === "string") details[key] = v;
    }
  return {
    jobId: e.jobId,
    status: typeof e.status === "string" ? e.status : "QUEUED",
    versionNumber: typeof e.versionNumber === "number" ? e.versionNumber : undefined,
    statusDetails: details,
    jobDocument: e.jobDocument,
  };
}

class AwsJobsBackend implements AwsBackend {
  readonly name = "aws";
  private listener?: BackendListener;
  private stopped = false;
  private pending: Pending[] = [];
  /** Jobs whose reply topics are subscribed, and when each subscription is in place. */
  private subscribed: string[] = [];
  private subscribing: Promise<void>[] = [];
  private jobs: JobState[] = [];
  /** The job that is next for this thing, as far as this boot knows. */
  private current?: JobState;
  private tokenPrefix: string;
  private counter = 0;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private refreshTimer: unknown;
  private connecting?: Promise<void>;
  private nextCheck?: Promise<void>;

  constructor(
    private readonly config: AwsConfig,
    private readonly deps: AwsDeps,
  ) {
    if (!isThingName(config.thingName))
      throw otaError(
        "internal",
        "AWS thing name " + quoted(config.thingName) + " is not 1-128 of [a-zA-Z0-9:_-]",
      );
    const minutes = config.stepTimeoutMinutes;
    if (
      minutes !== undefined &&
      !(minutes >= 1 && minutes <= 10080 && minutes === Math.floor(minutes))
    )
      throw otaError("internal", "stepTimeoutMinutes must be a whole number from 1 to 10080");
    this.tokenPrefix = Math.floor(deps.clock.random() * 0x7fffffff).toString(36) + "-";
  }

  private log(
    level: "debug" | "info" | "warn" | "error",
    message: string,
    fields?: Record<string, unknown>,
  ) {
    this.deps.logger.log(level, "aws: " + message, fields);
  }

  async start(listener: BackendListener): Promise<void> {
    this.listener = listener;
    const mqtt = this.deps.mqtt;
    mqtt.onMessage((message) => this.onMessage(message));
    mqtt.onDisconnect(() => {
      for (let i = 0; i < this.pending.length; i++)
        this.deps.clock.clearTimeout(this.pending[i].timer);
    });
    mqtt.onConnect(() => {
      if (!this.stopped) this.connecting = this.onConnected();
    });
    if (mqtt.connected && !this.connecting) this.connecting = this.onConnected();
    if (this.connecting) await this.connecting;
  }

  private async onConnected(): Promise<void> {
    try {
      const filters = this.allFilters();
      const granted = await this.deps.mqtt.subscribe(filters, 1);
      if (granted.indexOf(128) >= 0)
        this.log("error", "the broker refused a Jobs subscription", { filters, granted });
    } catch (error) {
      this.log("warn", "subscribing failed; waiting for the next connection", {
        error: String(error),
      });
      return;
    }
    if (this.stopped) return;
    // Replies to requests sent before the connection dropped are lost with a clean session.
    for (let i = 0; i < this.pending.length; i++) {
      this.pending[i].attempts = 0;
      this.transmit(this.pending[i]);
    }
    if (this.listener) this.listener.connected();
    this.checkNow().catch((error) =>
      this.log("warn", "$next/get failed", { error: String(error) }),
    );
  }

  /** Everything this backend listens to. */
  private allFilters(): string[] {
    const thing = this.config.thingName;
    let filters = [
      jobsTopic(thing, "notify-next"),
      jobsTopic(thing, "describe", "$next", "accepted"),
      jobsTopic(thing, "describe", "$next", "rejected"),
    ];
    for (let i = 0; i < this.subscribed.length; i++)
      filters = filters.concat(this.jobFilters(this.subscribed[i]));
    return filters;
  }

  private jobFilters(jobId: string): string[] {
    const thing = this.config.thingName;
    return [
      jobsTopic(thing, "update", jobId, "accepted"),
      jobsTopic(thing, "update", jobId, "rejected"),
      jobsTopic(thing, "describe", jobId, "accepted"),
      jobsTopic(thing, "describe", jobId, "rejected"),
    ];
  }

  /** Resolves once the job's reply topics are subscribed (or at the next connection). */
  private subscribeJob(jobId: string): Promise<void> {
    const at = this.subscribed.indexOf(jobId);
    if (at >= 0) return this.subscribing[at];
    const mqtt = this.deps.mqtt;
    const ready = mqtt.connected
      ? mqtt.subscribe(this.jobFilters(jobId), 1).then(
          () => undefined,
          // onConnected subscribes again; a request waits for the connection anyway.
          (error) => this.log("warn", "subscribing failed", { jobId, error: String(error) }),
        )
      : Promise.resolve();
    this.subscribed.push(jobId);
    this.subscribing.push(ready);
    return ready;
  }

  private unsubscribeJob(jobId: string): void {
    const at = this.subscribed.indexOf(jobId);
    if (at < 0) return;
    for (let i = 0; i < this.pending.length; i++)
      if (parseJobsTopic(this.pending[i].topic)?.jobId === jobId) return;
    this.subscribed.splice(at, 1);
    this.subscribing.splice(at, 1);
    if (this.deps.mqtt.connected)
      this.deps.mqtt.unsubscribe(this.jobFilters(jobId)).catch(() => undefined);
  }

  // ---- requests and replies ----

  private request(topic: string, body: Record<string, unknown>): Promise<Reply> {
    if (this.stopped) return Promise.reject(otaError("cancelled", "the AWS backend was stopped"));
    return new Promise<Reply>((resolve, reject) => {
      const token = this.tokenPrefix + ++this.counter;
      const entry: Pending = { token, topic, body, attempts: 0, timer: undefined, resolve, reject };
      this.pending.push(entry);
      this.transmit(entry);
    });
  }

  private transmit(entry: Pending): void {
    const mqtt = this.deps.mqtt;
    const clock = this.deps.clock;
    clock.clearTimeout(entry.timer);
    if (!mqtt.connected || this.stopped) return; // sent again on the next connection
    entry.attempts++;
    const payload: Record<string, unknown> = {};
    for (const key in entry.body) payload[key] = entry.body[key];
    payload.clientToken = entry.token;
    mqtt.publish(entry.topic, JSON.stringify(payload), 1).catch((error) => {
      this.log("debug", "publish failed; it is sent again on reconnection", {
        topic: entry.topic,
        error: String(error),
      });
    });
    entry.timer = clock.setTimeout(() => {
      if (this.pending.indexOf(entry) < 0) return;
      if (entry.attempts < (this.config.maxAttempts || 3)) return this.transmit(entry);
      this.settle(entry);
      entry.reject(
        otaError(
          "timeout",
          "no reply from AWS IoT Jobs to " + entry.topic + " after " + entry.attempts + " attempts",
          true,
        ),
      );
    }, this.config.responseTimeoutMs || 10000);
  }

  private settle(entry: Pending): void {
    this.deps.clock.clearTimeout(entry.timer);
    const at = this.pending.indexOf(entry);
    if (at >= 0) this.pending.splice(at, 1);
  }

  private onMessage(message: MqttMessage): void {
    if (this.stopped) return;
    const topic = parseJobsTopic(message.topic, this.config.thingName);
    if (!topic) {
      if (message.topic.indexOf("$aws/things/") === 0)
        this.log("warn", "ignored a message for another thing or an unknown Jobs topic", {
          topic: message.topic,
        });
      return;
    }
    let payload: Record<string, unknown>;
    try {
      const value = JSON.parse(utf8Decode(message.payload));
      if (typeof value !== "object" || value === null) throw new Error("not an object");
      payload = value;
    } catch (error) {
      this.log("warn", "ignored a message that is not a JSON object", {
        topic: message.topic,
        error: String(error),
      });
      return;
    }
    if (topic.api === "notify-next") {
      void this.onNext(payload.execution, "notify-next");
      return;
    }
    if (!topic.reply) return;
    for (let i = 0; i < this.pending.length; i++) {
      const entry = this.pending[i];
      if (entry.token === payload.clientToken && message.topic.indexOf(entry.topic + "/") === 0) {
        this.settle(entry);
        entry.resolve({ accepted: topic.reply === "accepted", payload });
        return;
      }
    }
    this.log("debug", "ignored a reply to no request of ours", { topic: message.topic });
  }

  // ---- jobs ----

  private state(jobId: string): JobState | undefined {
    for (let i = 0; i < this.jobs.length; i++)
      if (this.jobs[i].jobId === jobId) return this.jobs[i];
    return undefined;
  }

  private remember(jobId: string, status: string, version?: number): JobState {
    let job = this.state(jobId);
    if (!job) {
      job = { jobId, status, version, taken: false, finishing: false };
      this.jobs.push(job);
      // A boot sees few jobs; forget the oldest finished ones.
      if (this.jobs.length > 8)
        for (let i = 0; i < this.jobs.length; i++)
          if (this.jobs[i] !== this.current && (this.jobs[i].finishing || this.jobs[i].cancelled)) {
            this.jobs.splice(i, 1);
            break;
          }
    } else if (version === undefined || job.version === undefined || version >= job.version) {
      // Versions only grow: an older copy (a reply overtaken by an update) changes nothing.
      job.status = status;
      if (version !== undefined) job.version = version;
    }
    return job;
  }

  checkNow(): Promise<void> {
    if (!this.nextCheck) {
      const topic = jobsTopic(this.config.thingName, "describe", "$next");
      this.nextCheck = this.request(topic, { includeJobDocument: true }).then(
        (reply) => {
          this.nextCheck = undefined;
          if (reply.accepted) return this.onNext(reply.payload.execution, "$next/get");
          this.log("warn", "$next/get was rejected", { reply: reply.payload });
        },
        (error) => {
          this.nextCheck = undefined;
          throw error;
        },
      );
    }
    return this.nextCheck;
  }

  /**
   * The next job, from notify-next or a $next/get reply; undefined when none is pending. Resolves
   * once the job was handed to the listener or to onJob.
   */
  private async onNext(value: unknown, from: string): Promise<void> {
    const execution = readExecution(value);
    const previous = this.current;
    if (value !== undefined && !execution) {
      this.log("warn", "ignored a " + from + " execution without a jobId", { execution: value });
      return;
    }
    const thingName = value && (value as Record<string, unknown>).thingName;
    if (thingName !== undefined && thingName !== this.config.thingName) {
      this.log("warn", "ignored a " + from + " execution of another thing", { thingName });
      return;
    }
    if (previous && (!execution || execution.jobId !== previous.jobId)) {
      this.current = undefined;
      if (!previous.finishing && !previous.cancelled)
        this.withdraw(
          previous,
          execution ? "job " + execution.jobId + " is next now" : "no job is pending any more",
        );
    }
    if (!execution) return;
    if (!isJobId(execution.jobId)) {
      this.log("warn", "ignored a job whose id is not 1-64 of [a-zA-Z0-9_-]", {
        jobId: execution.jobId,
      });
      return;
    }
    const job = this.remember(execution.jobId, execution.status, execution.versionNumber);
    this.current = job;
    // A firmware job named again (a reconnection, a reboot) is offered again: the agent
    // recognises it, and takes a freshly presigned URL from it.
    if (job.finishing || job.cancelled || (job.taken && job.custom)) return;
    if (execution.jobDocument === undefined) {
      // notify-next carries the document; a reply without one is asked again in full.
      await this.describe(job).catch((error) =>
        this.log("warn", "DescribeJobExecution failed", { error: String(error) }),
      );
      return;
    }
    job.taken = true;
    await this.take(job, execution).catch((error) =>
      this.log("error", "job " + job.jobId + " could not be handled", { error: String(error) }),
    );
  }

  private async describe(job: JobState): Promise<Execution | undefined> {
    await this.subscribeJob(job.jobId);
    const topic = jobsTopic(this.config.thingName, "describe", job.jobId);
    const reply = await this.request(topic, { includeJobDocument: true });
    const execution = reply.accepted ? readExecution(reply.payload.execution) : undefined;
    if (!execution || isTerminal(execution.status)) {
      const why = execution ? execution.status : String(reply.payload.code);
      if (!job.finishing && !job.cancelled) this.withdraw(job, "the service says " + why);
      return undefined;
    }
    this.remember(job.jobId, execution.status, execution.versionNumber);
    if (this.current === job && !job.taken) {
      job.taken = true;
      await this.take(job, execution);
    }
    return execution;
  }

  /** The service withdrew the job (cancelled, timed out, removed). */
  private withdraw(job: JobState, reason: string): void {
    job.cancelled = reason;
    this.stopRefresh();
    this.log("info", "job " + job.jobId + " was withdrawn: " + reason);
    this.unsubscribeJob(job.jobId);
    if ((job.taken || job.reported) && this.listener) this.listener.cancel(job.jobId, reason);
  }

  private async take(job: JobState, execution: Execution): Promise<void> {
    await this.subscribeJob(job.jobId);
    const parsed = parseJobDocument(job.jobId, execution.jobDocument);
    if (parsed.kind === "custom") {
      job.custom = true;
      // Not awaited: a custom job may run for long, and nothing waits for it.
      this.runCustom(job, execution).catch((error) =>
        this.log("error", "job " + job.jobId + " could not be reported", { error: String(error) }),
      );
      return;
    }
    if (parsed.kind === "refused") {
      job.finishing = true;
      this.log("warn", "job " + job.jobId + " refused: " + parsed.message);
      await this.enqueue(() =>
        this.finish(job, execution.status === "IN_PROGRESS" ? "FAILED" : "REJECTED", {
          reason: parsed.code + ": " + parsed.message,
        }),
      );
      return;
    }
    const offer = parsed.offer;
    offer.context.jobVersion = execution.versionNumber === undefined ? 0 : execution.versionNumber;
    // The version that ran before, as an earlier boot reported it: kept only if it is one.
    const updatedBy = execution.statusDetails.updatedBy;
    if (updatedBy && nameProblem(updatedBy, MAX_VERSION_LENGTH) === undefined)
      offer.context.updatedBy = updatedBy;
    this.log("info", "job " + job.jobId + " offers version " + (offer.version || "(unnamed)"), {
      status: execution.status,
      format: parsed.format,
    });
    if (this.listener) this.listener.offer(offer);
  }

  private async runCustom(job: JobState, execution: Execution): Promise<void> {
    const onJob = this.config.onJob;
    if (!onJob) {
      if (execution.status === "IN_PROGRESS") {
        this.log(
          "warn",
          "job " +
            job.jobId +
            " is not a firmware update and no onJob handles it; left IN_PROGRESS",
        );
        return;
      }
      await this.enqueue(() =>
        this.finish(job, "REJECTED", {
          reason: "offer-unsupported: not a firmware update, and the device has no job handler",
        }),
      );
      return;
    }
    const handle: AwsJob = {
      jobId: job.jobId,
      document: execution.jobDocument,
      status: execution.status,
      statusDetails: execution.statusDetails,
      progress: (details) => this.enqueue(() => this.inProgress(job, cleanDetails(details))),
    };
    let result: AwsJobResult;
    try {
      result = await onJob(handle);
    } catch (error) {
      if (job.cancelled) return;
      const message = error instanceof Error ? error.message : String(error);
      await this.enqueue(() =>
        this.finish(job, "FAILED", { reason: "job handler failed: " + message }),
      );
      return;
    }
    if (job.cancelled) return;
    const outcome =
      typeof result === "string" ? { status: result, statusDetails: undefined } : result;
    const details = cleanDetails(outcome.statusDetails || {});
    if (outcome.status === "in-progress") return this.enqueue(() => this.inProgress(job, details));
    const status =
      outcome.status === "succeeded"
        ? "SUCCEEDED"
        : outcome.status === "failed"
          ? "FAILED"
          : "REJECTED";
    await this.enqueue(() => this.finish(job, status, details));
  }

  // ---- updates ----

  /** Runs report work one at a time: expectedVersion is a sequence. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queued++;
    const run = this.queue.then(() => {
      this.queued--;
      return task();
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private inProgress(job: JobState, details: Record<string, string>): Promise<void> {
    return this.update(job, "IN_PROGRESS", details);
  }

  private async finish(
    job: JobState,
    status: string,
    details: Record<string, string>,
  ): Promise<void> {
    job.finishing = true;
    this.stopRefresh();
    try {
      await this.update(job, status, cleanDetails(details));
    } catch (error) {
      if (!job.cancelled) job.finishing = false;
      throw error;
    }
    this.unsubscribeJob(job.jobId);
  }

  /** UpdateJobExecution, resolved once accepted. */
  private async update(
    job: JobState,
    wanted: string,
    details: Record<string, string>,
  ): Promise<void> {
    if (job.cancelled)
      throw otaError("cancelled", "job " + job.jobId + " was withdrawn: " + job.cancelled);
    await this.subscribeJob(job.jobId);
    const topic = jobsTopic(this.config.thingName, "update", job.jobId);
    let status = wanted;
    for (let round = 0; round < 5; round++) {
      const body: Record<string, unknown> = {
        status,
        statusDetails: details,
        includeJobExecutionState: true,
      };
      if (job.version !== undefined) body.expectedVersion = job.version;
      if (status === "IN_PROGRESS" && this.config.stepTimeoutMinutes)
        body.stepTimeoutInMinutes = this.config.stepTimeoutMinutes;
      const reply = await this.request(topic, body);
      const state = readState(reply.payload.executionState);
      if (reply.accepted) {
        this.accepted(job, status, details, state);
        return;
      }
      const code = String(reply.payload.code);
      const message = String(reply.payload.message || "");
      // The earlier send of this very update went through and only its reply was lost.
      if (state && state.status === status && sameDetails(state.statusDetails, details)) {
        this.accepted(job, status, details, state);
        return;
      }
      if (code === "VersionMismatch" && state && !isTerminal(state.status)) {
        this.log(
          "info",
          "job " + job.jobId + ": version " + job.version + " is stale, now " + state.versionNumber,
        );
        job.version = state.versionNumber;
        job.status = state.status;
        continue;
      }
      if (
        (code === "InvalidStateTransition" || code === "VersionMismatch") &&
        state &&
        state.status === "IN_PROGRESS" &&
        status === "REJECTED"
      ) {
        // REJECTED is refused once an execution has started: the refusal becomes FAILED.
        job.version = state.versionNumber;
        job.status = state.status;
        status = "FAILED";
        continue;
      }
      if (
        code === "InvalidStateTransition" ||
        code === "TerminalStateReached" ||
        code === "VersionMismatch" ||
        code === "ResourceNotFound"
      ) {
        const why = state ? "it is " + state.status : code;
        this.withdraw(job, "the service refused " + status + ": " + why);
        throw otaError(
          "cancelled",
          "job " +
            job.jobId +
            " was cancelled or finished elsewhere: " +
            why +
            " (" +
            message +
            ")",
        );
      }
      if (code === "RequestThrottled" || code === "InternalError") {
        await this.delay(1000 * (round + 1));
        continue;
      }
      throw otaError(
        "internal",
        "AWS IoT Jobs rejected " + status + " for job " + job.jobId + ": " + code + ": " + message,
      );
    }
    throw otaError(
      "internal",
      "AWS IoT Jobs kept rejecting " + status + " for job " + job.jobId,
      true,
    );
  }

  private accepted(
    job: JobState,
    status: string,
    details: Record<string, string>,
    state: { status: string; versionNumber?: number } | undefined,
  ): void {
    job.status = status;
    if (state && state.versionNumber !== undefined) job.version = state.versionNumber;
    else if (job.version !== undefined) job.version++;
    if (status === "IN_PROGRESS") {
      job.details = details;
      if (job.state === "downloading") this.armRefresh(job);
    }
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimeout(resolve, ms));
  }

  /** Repeats a download's IN_PROGRESS before the step timer runs out. */
  private armRefresh(job: JobState): void {
    this.stopRefresh();
    const minutes = this.config.stepTimeoutMinutes;
    if (!minutes || this.stopped) return;
    this.refreshTimer = this.deps.clock.setTimeout(
      () => {
        this.refreshTimer = undefined;
        if (job.finishing || job.cancelled || job.state !== "downloading" || !job.details) return;
        const details = job.details;
        this.enqueue(() => this.inProgress(job, details)).catch((error) =>
          this.log("warn", "refreshing the step timer failed", { error: String(error) }),
        );
      },
      this.config.stepRefreshMs || minutes * 30000,
    );
  }

  private stopRefresh(): void {
    if (this.refreshTimer !== undefined) this.deps.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  report(report: Report): Promise<void> {
    return this.enqueue(() => this.send(report));
  }

  private async send(report: Report): Promise<void> {
    const offer = report.offer;
    if (!isJobId(offer.id))
      throw otaError("offer-malformed", "not an AWS job id: " + quoted(offer.id));
    let job = this.state(offer.id);
    if (!job) {
      // Reported from a new boot before the service named the job again: the persisted version
      // is a starting point; a VersionMismatch corrects it.
      const version = offer.context.jobVersion;
      job = this.remember(
        offer.id,
        "IN_PROGRESS",
        typeof version === "number" ? version : undefined,
      );
    }
    job.reported = true;
    if (job.cancelled) {
      if (report.status === "failed" && report.failure && report.failure.code === "cancelled")
        return;
      throw otaError("cancelled", "job " + job.jobId + " was withdrawn: " + job.cancelled);
    }
    const details = reportDetails(report);
    const status = report.status;
    if (status === "rejected")
      return this.finish(job, job.status === "IN_PROGRESS" ? "FAILED" : "REJECTED", details);
    if (status === "failed") return this.finish(job, "FAILED", details);
    if (status === "succeeded" || status === "current")
      return this.finish(job, "SUCCEEDED", details);
    const now = this.deps.clock.now();
    if (status === "downloading" && job.status === "IN_PROGRESS" && job.state === "downloading") {
      const interval =
        this.config.progressIntervalMs === undefined ? 10000 : this.config.progressIntervalMs;
      // Coalesced: a newer report is waiting, or the last one went out too recently.
      if (
        this.queued > 0 ||
        (job.lastProgressAt !== undefined && now - job.lastProgressAt < interval)
      )
        return;
    }
    job.state = status;
    if (status === "downloading") job.lastProgressAt = now;
    else this.stopRefresh();
    await this.inProgress(job, cleanDetails(details));
  }

  async refresh(offer: Offer): Promise<Offer | undefined> {
    // The offer may come back from storage: its id is checked before it names any topic.
    if (!isJobId(offer.id))
      throw otaError("offer-malformed", "not an AWS job id: " + quoted(offer.id));
    const job = this.state(offer.id) || this.remember(offer.id, "IN_PROGRESS");
    const execution = await this.describe(job);
    if (!execution) return undefined;
    const parsed = parseJobDocument(offer.id, execution.jobDocument);
    if (parsed.kind !== "offer") return undefined;
    const fresh = parsed.offer;
    const context: Offer["context"] = {};
    for (const key in offer.context) context[key] = offer.context[key];
    for (const key in fresh.context) context[key] = fresh.context[key];
    if (execution.versionNumber !== undefined) context.jobVersion = execution.versionNumber;
    fresh.context = context;
    return fresh;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopRefresh();
    const pending = this.pending;
    this.pending = [];
    for (let i = 0; i < pending.length; i++) {
      this.deps.clock.clearTimeout(pending[i].timer);
      pending[i].reject(otaError("cancelled", "the AWS backend was stopped"));
    }
    if (this.deps.mqtt.connected) {
      const filters = this.allFilters();
      await this.deps.mqtt.unsubscribe(filters).catch(() => undefined);
    }
  }
}

function readState(
  value: unknown,
): { status: string; statusDetails?: unknown; versionNumber?: number } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const s = value as Record<string, unknown>;
  if (typeof s.status !== "string") return undefined;
  return {
    status: s.status,
    statusDetails: s.statusDetails,
    versionNumber: typeof s.versionNumber === "number" ? s.versionNumber : undefined,
  };
}

/**
 * statusDetails for a report: what the console shows, and what the next image needs after the
 * reboot (AWS OTA's self_test and updatedBy).
 */
export function reportDetails(report: Report): Record<string, string> {
  const offer = report.offer;
  const details: Record<string, string> = { state: report.status };
  if (offer.version) details.version = offer.version;
  const previous = report.previousVersion || offer.context.updatedBy;
  if (previous) details.updatedBy = String(previous);
  if (report.progress) details.progress = report.progress.bytes + "/" + report.progress.total;
  if (report.status === "updating") details.self_test = "ready";
  if (report.status === "testing") details.self_test = "active";
  if (report.failure) details.reason = report.failure.code + ": " + report.failure.message;
  else if (report.status === "succeeded") details.reason = "accepted " + (offer.version || "");
  else if (report.status === "current")
    details.reason = "already running " + (offer.version || "this version");
  return cleanDetails(details);
}

export function createAwsBackend(config: AwsConfig, deps: AwsDeps): AwsBackend {
  return new AwsJobsBackend(config, deps);
}
