// What an application sees of the AWS IoT Jobs backend: its settings, its dependencies, and the
// jobs that are not firmware updates, which it handles itself.
import type { Backend } from "../../core/backend";
import type { Offer } from "../../core/offer";
import type { Clock, Logger, MqttClient } from "../../core/ports";

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
