// What a rejected UpdateJobExecution means for the device: the earlier send went through after
// all, a stale expectedVersion to correct, a refusal that becomes FAILED, a job withdrawn by the
// service, or a pause before sending again (reference: protocols-and-peers.md section 1.4).
import { sameDetails } from "./details";
import { isTerminal, readState, type JobState } from "./execution";

export type Verdict =
  /** The update is in place (accepted, or a lost reply to an earlier send that went through). */
  | { kind: "accepted"; state?: { status: string; versionNumber?: number } }
  /** Send again with this status (expectedVersion corrected in the job). */
  | { kind: "again"; status: string }
  /** The service is busy: wait, then send again. */
  | { kind: "wait" }
  /** The execution is over for the service (cancelled, finished elsewhere, removed). */
  | { kind: "withdrawn"; why: string; message: string }
  | { kind: "error"; message: string };

export function judgeReply(
  job: JobState,
  status: string,
  details: Record<string, string>,
  accepted: boolean,
  payload: Record<string, unknown>,
): Verdict {
  const state = readState(payload.executionState);
  if (accepted) return { kind: "accepted", state };
  const code = String(payload.code);
  const message = String(payload.message || "");
  // The earlier send of this very update went through and only its reply was lost.
  if (state && state.status === status && sameDetails(state.statusDetails, details))
    return { kind: "accepted", state };
  if (code === "VersionMismatch" && state && !isTerminal(state.status)) {
    job.version = state.versionNumber;
    job.status = state.status;
    return { kind: "again", status };
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
    return { kind: "again", status: "FAILED" };
  }
  if (
    code === "InvalidStateTransition" ||
    code === "TerminalStateReached" ||
    code === "VersionMismatch" ||
    code === "ResourceNotFound"
  )
    return { kind: "withdrawn", why: state ? "it is " + state.status : code, message };
  if (code === "RequestThrottled" || code === "InternalError") return { kind: "wait" };
  return { kind: "error", message: code + ": " + message };
}
