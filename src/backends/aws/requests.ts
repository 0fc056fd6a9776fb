// Requests to AWS IoT Jobs and their replies: each request carries a clientToken of its own, a
// reply is matched to its request by that token and by its topic, and a request not answered in
// time is sent again (up to maxAttempts sends while connected) before it fails.
import { otaError } from "../../core/errors";
import type { OtaError } from "../../core/errors";
import type { Clock, Logger, MqttClient } from "../../core/ports";

export interface Reply {
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

export interface RequestsOptions {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
  /** Wait for a reply before a request is sent again (default 10000 ms). */
  responseTimeoutMs?: number;
  /** Sends of a request, while connected, before it fails (default 3). */
  maxAttempts?: number;
}

export class JobsRequests {
  private pending: Pending[] = [];
  private readonly tokenPrefix: string;
  private counter = 0;
  private stopped = false;

  constructor(private readonly o: RequestsOptions) {
    this.tokenPrefix = Math.floor(o.clock.random() * 0x7fffffff).toString(36) + "-";
  }

  /** Resolves with the reply on `topic`/accepted or /rejected that carries the request's token. */
  send(topic: string, body: Record<string, unknown>): Promise<Reply> {
    if (this.stopped) return Promise.reject(otaError("cancelled", "the AWS backend was stopped"));
    return new Promise<Reply>((resolve, reject) => {
      const token = this.tokenPrefix + ++this.counter;
      const entry: Pending = { token, topic, body, attempts: 0, timer: undefined, resolve, reject };
      this.pending.push(entry);
      this.transmit(entry);
    });
  }

  /** After a (re)connection: replies to what was sent before are lost with a clean session. */
  resend(): void {
    for (let i = 0; i < this.pending.length; i++) {
      this.pending[i].attempts = 0;
      this.transmit(this.pending[i]);
    }
  }

  /** The connection dropped: no request times out until it is back. */
  pause(): void {
    for (let i = 0; i < this.pending.length; i++) this.o.clock.clearTimeout(this.pending[i].timer);
  }

  /** Whether a request on a topic `about` says yes to still waits for its reply. */
  waitsOn(about: (topic: string) => boolean): boolean {
    for (let i = 0; i < this.pending.length; i++) if (about(this.pending[i].topic)) return true;
    return false;
  }

  /** Settles the request a reply answers; false when it answers none of ours. */
  reply(topic: string, accepted: boolean, payload: Record<string, unknown>): boolean {
    for (let i = 0; i < this.pending.length; i++) {
      const entry = this.pending[i];
      if (entry.token === payload.clientToken && topic.indexOf(entry.topic + "/") === 0) {
        this.settle(entry);
        entry.resolve({ accepted, payload });
        return true;
      }
    }
    return false;
  }

  stop(): void {
    this.stopped = true;
    const pending = this.pending;
    this.pending = [];
    for (let i = 0; i < pending.length; i++) {
      this.o.clock.clearTimeout(pending[i].timer);
      pending[i].reject(otaError("cancelled", "the AWS backend was stopped"));
    }
  }

  private transmit(entry: Pending): void {
    const mqtt = this.o.mqtt;
    const clock = this.o.clock;
    clock.clearTimeout(entry.timer);
    if (!mqtt.connected || this.stopped) return; // sent again on the next connection
    entry.attempts++;
    const payload: Record<string, unknown> = {};
    for (const key in entry.body) payload[key] = entry.body[key];
    payload.clientToken = entry.token;
    mqtt.publish(entry.topic, JSON.stringify(payload), 1).catch((error) => {
      this.o.logger.log("debug", "aws: publish failed; it is sent again on reconnection", {
        topic: entry.topic,
        error: String(error),
      });
    });
    entry.timer = clock.setTimeout(() => {
      if (this.pending.indexOf(entry) < 0) return;
      if (entry.attempts < (this.o.maxAttempts || 3)) return this.transmit(entry);
      this.settle(entry);
      entry.reject(
        otaError(
          "timeout",
          "no reply from AWS IoT Jobs to " + entry.topic + " after " + entry.attempts + " attempts",
          true,
        ),
      );
    }, this.o.responseTimeoutMs || 10000);
  }

  private settle(entry: Pending): void {
    this.o.clock.clearTimeout(entry.timer);
    const at = this.pending.indexOf(entry);
    if (at >= 0) this.pending.splice(at, 1);
  }
}
