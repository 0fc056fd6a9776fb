import type { Offer, Report } from "./offer";
import type { ByteSource } from "./source";

/** What a backend tells the agent. */
export interface BackendListener {
  /** The cloud proposes an update (or proposes the same one again, e.g. after a reconnect). */
  offer(offer: Offer): void;
  /** The cloud withdrew the update with this id (cancelled job, deleted attributes...). */
  cancel(id: string, reason: string): void;
  /** The cloud is reachable (the default self-test waits for this). */
  connected(): void;
}

/** A cloud, translated into offers and reports. */
export interface Backend {
  readonly name: string;
  /** Connects and starts listening; offers arrive through the listener. */
  start(listener: BackendListener): Promise<void>;
  /** Tells the cloud where an update stands. Rejects if the cloud refused the report. */
  report(report: Report): Promise<void>;
  /** Bytes of an offer whose source is not plain HTTP (ThingsBoard chunks). */
  source?(offer: Offer): ByteSource;
  /** A fresh copy of an offer whose URL expired (AWS presigned URLs), or undefined. */
  refresh?(offer: Offer): Promise<Offer | undefined>;
  stop(): Promise<void>;
}
