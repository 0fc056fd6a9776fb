// The agent's states and events in one table, so that a reader can check the flow against the
// protocols: offer -> policy -> download -> verify -> stage -> reboot -> self-test -> confirm or
// roll back -> report. Any (state, event) pair not in the table is a bug and throws.

export type AgentState =
  /** Finding out what booted and whether an update is in flight. */
  | "booting"
  /** Waiting for an offer. */
  | "idle"
  | "downloading"
  | "verifying"
  /** Setting the next boot slot in test mode. */
  | "staging"
  /** Staged; the reboot into the new image is due. */
  | "rebooting"
  /** The new image runs its self-test. */
  | "testing"
  /** Self-test failed: marking the image invalid and rebooting into the old one. */
  | "rolling-back";

export type AgentEvent =
  /** No update in flight: an ordinary boot. */
  | "boot-normal"
  /** The new image booted in pending-verify state with its update record. */
  | "boot-new-image"
  /** The old image booted although an update had been staged: the bootloader rolled it back. */
  | "boot-rolled-back"
  /** The new image had confirmed itself before a reset cut its report short. */
  | "boot-confirmed"
  /** Policy accepted an offer. */
  | "offer-accepted"
  /** Policy refused an offer, or the device already runs it. */
  | "offer-declined"
  | "download-done"
  | "download-failed"
  | "cancelled"
  | "verify-passed"
  | "verify-failed"
  /**
   * A resumed download failed verification: the prefix in the slot was not the image (a corrupt
   * or forged journal), so the whole image is fetched once more before the update is given up.
   */
  | "resume-unverified"
  | "staged"
  /** A package (not firmware) was handed to the application, which installed it. */
  | "installed"
  | "stage-failed"
  | "self-test-passed"
  | "self-test-failed";

export interface Transition {
  from: AgentState;
  event: AgentEvent;
  to: AgentState;
  /** What the agent does on the way, as the cloud sees it. */
  does: string;
}

export const TRANSITIONS: readonly Transition[] = [
  { from: "booting", event: "boot-normal", to: "idle", does: "start the backend" },
  {
    from: "booting",
    event: "boot-new-image",
    to: "testing",
    does: "report testing, run the self-test",
  },
  { from: "booting", event: "boot-rolled-back", to: "idle", does: "report failed (rolled back)" },
  { from: "booting", event: "boot-confirmed", to: "idle", does: "report succeeded" },
  { from: "idle", event: "offer-accepted", to: "downloading", does: "report downloading" },
  { from: "idle", event: "offer-declined", to: "idle", does: "report rejected, or current" },
  { from: "downloading", event: "download-done", to: "verifying", does: "report downloaded" },
  { from: "downloading", event: "download-failed", to: "idle", does: "report failed" },
  {
    from: "downloading",
    event: "cancelled",
    to: "idle",
    does: "abort the slot, forget the journal",
  },
  { from: "verifying", event: "verify-passed", to: "staging", does: "report verified" },
  {
    from: "verifying",
    event: "resume-unverified",
    to: "downloading",
    does: "forget the journal, download again from byte 0",
  },
  {
    from: "verifying",
    event: "verify-failed",
    to: "idle",
    does: "report failed, forget the journal",
  },
  { from: "staging", event: "staged", to: "rebooting", does: "report updating, reboot" },
  { from: "staging", event: "installed", to: "idle", does: "report succeeded (no reboot)" },
  { from: "staging", event: "stage-failed", to: "idle", does: "report failed" },
  { from: "testing", event: "self-test-passed", to: "idle", does: "mark valid, report succeeded" },
  {
    from: "testing",
    event: "self-test-failed",
    to: "rolling-back",
    does: "mark invalid and reboot",
  },
];

export class StateMachine {
  private current: AgentState = "booting";

  constructor(
    private readonly onChange: (from: AgentState, to: AgentState, event: AgentEvent) => void,
  ) {}

  get state(): AgentState {
    return this.current;
  }

  /** Takes the transition for `event`, or throws if the table has none from the current state. */
  fire(event: AgentEvent): AgentState {
    for (let i = 0; i < TRANSITIONS.length; i++) {
      const t = TRANSITIONS[i];
      if (t.from === this.current && t.event === event) {
        const from = this.current;
        this.current = t.to;
        this.onChange(from, t.to, event);
        return t.to;
      }
    }
    throw new Error(`no transition from ${this.current} on ${event}`);
  }
}
