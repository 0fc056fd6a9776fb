// What the device knows of a job execution: as the service describes it (JobExecution,
// JobExecutionState), and as this boot tracks it.

const TERMINAL = ["SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"];

export function isTerminal(status: unknown): boolean {
  return TERMINAL.indexOf(status as string) >= 0;
}

/** What this boot knows of one job execution. */
export interface JobState {
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

export interface Execution {
  jobId: string;
  status: string;
  versionNumber?: number;
  statusDetails: Record<string, string>;
  jobDocument?: unknown;
}

export function readExecution(value: unknown): Execution | undefined {
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

export function readState(
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
