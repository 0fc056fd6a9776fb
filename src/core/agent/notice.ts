// What the agent tells its host, and the console line for each notice.
import type { ReportStatus } from "../offer";
import type { AgentEvent, AgentState } from "./machine";

/** What the agent tells its host, for logs, the simulator's JSON lines and user interfaces. */
export type AgentNotice =
  | { event: "state"; from: AgentState; to: AgentState; cause: AgentEvent }
  | { event: "offer"; id: string; version: string; size: number }
  | { event: "resume"; id: string; offset: number; size: number }
  /** An offer with a delta: whether the patch is applied, or why the full image is taken. */
  | { event: "delta"; id: string; used: boolean; reason?: string }
  | { event: "progress"; id: string; bytes: number; total: number; percent: number }
  | {
      event: "report";
      id: string;
      status: ReportStatus;
      failure?: { code: string; message: string };
      /** Whether the cloud took it; a final report that was not delivered is sent again. */
      delivered: boolean;
      error?: string;
    }
  | { event: "confirm"; version: string; slot: string }
  | { event: "rollback"; version: string; reason: string }
  | { event: "error"; code: string; message: string };

/**
 * Installs a verified package that is not firmware (ThingsBoard software): the agent has written
 * it to ports.slot (a file or partition the application chose) and reports succeeded once this
 * resolves, failed if it rejects. No reboot, no self-test.
 */

/** A line on the console for what the agent does: state changes, progress, confirm, rollback. */
export function describeNotice(notice: AgentNotice): string {
  switch (notice.event) {
    case "state":
      return `${notice.from} -> ${notice.to} (${notice.cause})`;
    case "offer":
      return `offer ${notice.id}: version ${notice.version}, ${notice.size} bytes`;
    case "resume":
      return `resuming ${notice.id} at byte ${notice.offset} of ${notice.size}`;
    case "delta":
      return notice.used
        ? `applying ${notice.id} as a patch to the running image`
        : `${notice.id}: full image (${notice.reason})`;
    case "progress":
      return `download ${notice.id}: ${notice.percent}% (${notice.bytes}/${notice.total})`;
    case "report":
      return (
        `report ${notice.status} for ${notice.id}` +
        (notice.failure ? `: ${notice.failure.message}` : "") +
        (notice.delivered ? "" : ` -- not delivered: ${notice.error}`)
      );
    case "confirm":
      return `version ${notice.version} confirmed in ${notice.slot}`;
    case "rollback":
      return `rolling back from ${notice.version}: ${notice.reason}`;
    case "error":
      return `error ${notice.code}: ${notice.message}`;
  }
}
