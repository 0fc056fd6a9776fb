// The firmware author's entry point, after Zerynth's handle_fota_jobs(jobs, force, disconnect_mqtt,
// auto_reset, job_cbk): one call wires the AWS backend to the agent, checks for jobs at start and
// then periodically, hands non-firmware jobs to a callback, and either reboots into a staged image
// at once or tells the application it may.

import type { Backend, BackendListener } from "../../core/backend";
import type { Offer, Report } from "../../core/offer";
import { createAwsBackend } from "./index";
import type { AwsBackend, AwsConfig, AwsDeps } from "./index";

/** What handleFotaJobs needs of the agent. */
export interface FotaAgent {
  start(): Promise<void>;
  stop?(): Promise<void>;
}

/** The host's way to drop and restore the MQTT connection (the MqttClient port cannot reconnect). */
export interface MqttPause {
  disconnect(): Promise<void>;
  /** Resolves once the connection is back. */
  reconnect(): Promise<void>;
}

export interface FotaJobsOptions extends AwsConfig, AwsDeps {
  /** Makes the agent that runs the updates, given the backend to use and whether it reboots itself. */
  agent: (backend: Backend, settings: { autoReboot: boolean }) => FotaAgent;
  /** start() resolves only once the pending jobs were asked for and handled (default true). */
  force?: boolean;
  /** Asks for the next job again every intervalMs, in case a notification was lost (default: never). */
  intervalMs?: number;
  /** Reboot into the new image as soon as it is staged (default true). */
  autoReset?: boolean;
  /** With autoReset false: the image is staged and the application should reboot when it suits it. */
  onStaged?: (offer: Offer) => void;
  /**
   * Drop MQTT while the image downloads, as Zerynth does to free a TLS session's memory. Progress
   * is not reported and a cancel is not seen until the connection is back.
   */
  disconnectMqtt?: MqttPause;
}

export interface FotaJobs {
  readonly backend: AwsBackend;
  readonly agent: FotaAgent;
  start(): Promise<void>;
  /** Asks for the next pending job now. */
  checkNow(): Promise<void>;
  stop(): Promise<void>;
}

/** The backend as the agent sees it: reports pass through to watch the update's progress. */
function watched(backend: AwsBackend, options: FotaJobsOptions): Backend {
  const pause = options.disconnectMqtt;
  let paused = false;
  const resume = async () => {
    if (!paused || !pause) return;
    paused = false;
    await pause.reconnect();
  };
  const wrapper: Backend = {
    name: backend.name,
    start: (listener: BackendListener) => backend.start(listener),
    stop: () => backend.stop(),
    async report(report: Report) {
      if (paused && report.status === "downloading") return;
      await resume();
      await backend.report(report);
      if (report.status === "downloading" && pause) {
        paused = true;
        await pause.disconnect();
      }
      if (report.status === "updating" && options.autoReset === false && options.onStaged)
        options.onStaged(report.offer);
    },
    async refresh(offer: Offer) {
      await resume();
      return backend.refresh ? backend.refresh(offer) : undefined;
    },
  };
  return wrapper;
}

/**
 * Runs firmware updates from AWS IoT Jobs.
 *
 * @example
 * const fota = handleFotaJobs({
 *   thingName: "dev-1", mqtt, clock, logger,
 *   agent: (backend, { autoReboot }) => new Agent({ ports, backend, config: { autoReboot } }),
 *   intervalMs: 3600_000,
 *   onJob: async (job) => ((job.document as { operation?: string }).operation === "reboot" ? "succeeded" : "rejected"),
 * });
 * await fota.start();
 */
export function handleFotaJobs(options: FotaJobsOptions): FotaJobs {
  const backend = createAwsBackend(options, options);
  const agent = options.agent(watched(backend, options), {
    autoReboot: options.autoReset !== false,
  });
  const clock = options.clock;
  let timer: unknown;
  let running = false;

  const schedule = () => {
    if (!running || !options.intervalMs) return;
    timer = clock.setTimeout(() => {
      backend
        .checkNow()
        .catch((error) =>
          options.logger.log("warn", "aws: periodic job check failed", { error: String(error) }),
        )
        .then(schedule);
    }, options.intervalMs);
  };

  return {
    backend,
    agent,
    async start() {
      running = true;
      await agent.start();
      if (options.force !== false) await backend.checkNow();
      schedule();
    },
    checkNow: () => backend.checkNow(),
    async stop() {
      running = false;
      clock.clearTimeout(timer);
      if (agent.stop) await agent.stop();
      else await backend.stop();
    },
  };
}
