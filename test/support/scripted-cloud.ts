// A cloud reduced to its contract with the agent, for the agent's own tests: it offers one update
// (again after every boot, as AWS $next/get or ThingsBoard attributes do) until a final report
// arrives, and records every report. The real clouds' protocols are tested in test/backends.
import type { Backend, BackendListener } from "../../src/core/backend";
import type { Offer, Report } from "../../src/core/offer";

export class ScriptedCloud {
  readonly reports: Report[] = [];
  offer: Offer | undefined;
  private listeners: BackendListener[] = [];

  /** A backend for one boot of the device. */
  backend(): Backend {
    let listener: BackendListener | undefined;
    return {
      name: "scripted",
      start: async (l) => {
        listener = l;
        this.listeners.push(l);
        l.connected();
        if (this.offer) l.offer(this.offer);
      },
      report: async (report) => {
        this.reports.push(JSON.parse(JSON.stringify(report)) as Report);
        if (
          report.status === "succeeded" ||
          report.status === "failed" ||
          report.status === "rejected"
        ) {
          this.offer = undefined;
        }
      },
      stop: async () => {
        this.listeners = this.listeners.filter((x) => x !== listener);
      },
    };
  }

  deploy(offer: Offer): void {
    this.offer = offer;
    for (const l of this.listeners) l.offer(offer);
  }

  /** Withdraws the update, as a cloud's cancel does. */
  cancel(id: string, reason = "cancelled by the cloud"): void {
    if (this.offer && this.offer.id === id) this.offer = undefined;
    for (const l of this.listeners) l.cancel(id, reason);
  }

  statuses(): string[] {
    return this.reports
      .map((r) => r.status)
      .filter((s, i, all) => s !== "downloading" || all[i - 1] !== s);
  }
}
