// The core's MqttClient port, for the boards, over any MqttLink (link.ts). A link is one
// connection and keeps no state; the session outlives them. It connects with a bounded wait for
// CONNACK and reconnects with backoff; after every CONNACK (clean session) it subscribes again to
// every filter it holds and resends, with the DUP flag, each QoS 1 publish and (UN)SUBSCRIBE that
// has no acknowledgement yet, so a report is not lost to a dropped connection. Each of those waits
// at most ackTimeoutMs, across reconnections; close() ends everything at once.
import { backoffDelay, type BackoffPolicy } from "../core/download/backoff";
import { otaError } from "../core/errors";
import type { Clock, Logger, MqttClient, MqttMessage, QoS, TimerHandle } from "../core/ports";
import { utf8Encode } from "../core/util/bytes";
import type { MqttConnector, MqttIdentity, MqttLink, MqttLinkEvents } from "./link";

export interface MqttSessionOptions {
  /** The broker's host, for the log. */
  host: string;
  /** Asked before every connection: a signed user name may expire (Tencent). */
  identity: () => MqttIdentity;
  /** Default 60 s. */
  keepAliveMs?: number;
  /** How long a connection may take to reach CONNACK. Default 30 s. */
  connectTimeoutMs?: number;
  /** How long a QoS 1 publish, SUBSCRIBE or UNSUBSCRIBE waits for its acknowledgement. Default 5 min. */
  ackTimeoutMs?: number;
  /** Delays between connection attempts. Default 1 s doubling up to 60 s, with jitter. */
  reconnect?: BackoffPolicy;
  clock: Clock;
  logger: Logger;
}

const PUBLISH = 0;
const SUBSCRIBE = 1;
const UNSUBSCRIBE = 2;
const KINDS = "PUBLISH SUBSCRIBE UNSUBSCRIBE";

/** A packet that waits for its acknowledgement, and is sent again on every new connection. */
interface Pending {
  kind: number;
  id: number;
  /** PUBLISH: topic; (UN)SUBSCRIBE: the filters. */
  topics: string[];
  payload: Uint8Array;
  qos: QoS;
  sent: boolean;
  timer: TimerHandle | undefined;
  resolve: (codes: number[]) => void;
  reject: (error: Error) => void;
}

/** A session whose every connection `connect` opens. */
export function mqttSession(connect: MqttConnector, options: MqttSessionOptions): MqttClient {
  const clock = options.clock;
  const logger = options.logger;
  const backoff = options.reconnect || { baseMs: 1000, maxMs: 60000 };
  const keepAliveMs = options.keepAliveMs || 60000;
  const connectTimeoutMs = options.connectTimeoutMs || 30000;
  const ackTimeoutMs = options.ackTimeoutMs || 300000;
  const messageHandlers: ((message: MqttMessage) => void)[] = [];
  const connectHandlers: ((sessionPresent: boolean) => void)[] = [];
  const disconnectHandlers: ((reason: string) => void)[] = [];
  /** Awaiting acknowledgement, in the order they were asked for. */
  const pending: Pending[] = [];
  /** Filters to subscribe again after a reconnection, with their QoS. */
  const subscriptions: Record<string, QoS> = {};
  let link: MqttLink | undefined;
  /** Identifies the connection attempt whose events count; older links' events are ignored. */
  let attempt = 0;
  let connected = false;
  let closed = false;
  let failures = 0;
  let nextId = 0;
  let retry: TimerHandle | undefined;
  let connecting: TimerHandle | undefined;

  const packetId = (): number => {
    nextId = (nextId % 65535) + 1;
    return nextId;
  };

  const closedError = () => otaError("network", "MQTT client closed");

  function cancel(timer: TimerHandle | undefined): void {
    // Espruino's clearTimeout(undefined) throws.
    if (timer !== undefined) clock.clearTimeout(timer);
  }

  function settle(entry: Pending): boolean {
    const at = pending.indexOf(entry);
    if (at < 0) return false;
    pending.splice(at, 1);
    cancel(entry.timer);
    return true;
  }

  function transmit(entry: Pending): void {
    if (!link || !connected) return;
    try {
      if (entry.kind === PUBLISH) {
        link.publish(entry.topics[0], entry.payload, 1, entry.id, entry.sent);
      } else if (entry.kind === SUBSCRIBE) {
        const items: { topic: string; qos: QoS }[] = [];
        for (let i = 0; i < entry.topics.length; i++)
          items.push({ topic: entry.topics[i], qos: entry.qos });
        link.subscribe(entry.id, items);
      } else link.unsubscribe(entry.id, entry.topics);
      entry.sent = true;
    } catch (error) {
      // A packet that cannot be made (too large...) fails alone, rather than on every connection.
      if (settle(entry)) entry.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  function request(entry: Pending): Promise<number[]> {
    if (closed) return Promise.reject(closedError());
    return new Promise<number[]>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
      entry.timer = clock.setTimeout(() => {
        entry.timer = undefined;
        if (!settle(entry)) return;
        const what = KINDS.split(" ")[entry.kind] + " " + entry.topics.join(" ");
        reject(otaError("network", `MQTT ${what}: no acknowledgement in ${ackTimeoutMs} ms`, true));
      }, ackTimeoutMs);
      pending.push(entry);
      transmit(entry);
    });
  }

  function newEntry(kind: number, topics: string[], qos: QoS, payload?: Uint8Array): Pending {
    const none = () => undefined;
    return {
      kind,
      id: packetId(),
      topics,
      payload: payload || new Uint8Array(0),
      qos,
      sent: false,
      timer: undefined,
      resolve: none,
      reject: none,
    };
  }

  function onConnected(sessionPresent: boolean): void {
    cancel(connecting);
    connecting = undefined;
    connected = true;
    failures = 0;
    // Filters whose SUBSCRIBE is still waiting go once, with that request.
    const waiting: Record<string, boolean> = {};
    for (let i = 0; i < pending.length; i++)
      if (pending[i].kind === SUBSCRIBE)
        for (let k = 0; k < pending[i].topics.length; k++) waiting[pending[i].topics[k]] = true;
    const items: { topic: string; qos: QoS }[] = [];
    const filters = Object.keys(subscriptions);
    for (let i = 0; i < filters.length; i++)
      if (!waiting[filters[i]]) items.push({ topic: filters[i], qos: subscriptions[filters[i]] });
    // Subscriptions first, so that replies to the publishes resent below find them in place.
    if (items.length > 0 && link) link.subscribe(packetId(), items);
    const resend = pending.slice();
    for (let i = 0; i < resend.length; i++) transmit(resend[i]);
    notify(connectHandlers, sessionPresent, "connect");
  }

  function onAcknowledged(id: number, codes: number[]): void {
    for (let i = 0; i < pending.length; i++) {
      if (pending[i].id === id) {
        const entry = pending[i];
        settle(entry);
        entry.resolve(codes);
        return;
      }
    }
    // The resubscription's SUBACK, or a late duplicate: a refused filter is worth a word.
    for (let i = 0; i < codes.length; i++)
      if (codes[i] === 128)
        logger.log("warn", "MQTT: the broker refused a filter on resubscribing");
  }

  /** Calls every handler: one that throws is logged, and neither stops the others nor the link. */
  function notify<T>(handlers: ((value: T) => void)[], value: T, what: string): void {
    for (let i = 0; i < handlers.length; i++) {
      try {
        handlers[i](value);
      } catch (error) {
        logger.log("error", `MQTT ${what} handler threw: ${String(error)}`);
      }
    }
  }

  /** The current link is gone (closed by itself, or by us): tell, then try again later. */
  function lost(reason: string): void {
    const wasConnected = connected;
    link = undefined;
    connected = false;
    attempt++;
    cancel(connecting);
    connecting = undefined;
    if (wasConnected) {
      logger.log("warn", `MQTT connection lost: ${reason}`);
      notify(disconnectHandlers, reason, "disconnect");
    } else logger.log("warn", `MQTT: cannot connect to ${options.host}: ${reason}`);
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (closed || retry !== undefined) return;
    const delay = backoffDelay(failures++, backoff, () => clock.random());
    logger.log("info", `MQTT reconnecting to ${options.host} in ${delay} ms`);
    retry = clock.setTimeout(() => {
      retry = undefined;
      open();
    }, delay);
  }

  function open(): void {
    const mine = ++attempt;
    const current = () => mine === attempt && !closed;
    const events: MqttLinkEvents = {
      connected: (sessionPresent) => {
        if (current()) onConnected(sessionPresent);
      },
      acknowledged: (id, codes) => {
        if (current()) onAcknowledged(id, codes);
      },
      message: (message) => {
        if (current()) notify(messageHandlers, message, `message (${message.topic})`);
      },
      closed: (reason) => {
        if (current()) lost(reason);
      },
    };
    connecting = clock.setTimeout(() => {
      connecting = undefined;
      if (!current() || connected) return;
      if (link) link.close();
      lost(`no CONNACK within ${connectTimeoutMs} ms`);
    }, connectTimeoutMs);
    let opened: MqttLink;
    try {
      opened = connect({ identity: options.identity(), keepAliveMs }, events);
    } catch (error) {
      if (current()) lost(String(error));
      return;
    }
    // A link that failed while being opened has already been given up.
    if (current()) link = opened;
    else opened.close();
  }

  open();

  return {
    get connected() {
      return connected;
    },
    publish(topic, payload, qos) {
      const bytes = typeof payload === "string" ? utf8Encode(payload) : payload;
      if (qos === 0) {
        if (closed) return Promise.reject(closedError());
        if (!link || !connected)
          return Promise.reject(otaError("network", "MQTT is not connected", true));
        try {
          link.publish(topic, bytes, 0, 0, false);
        } catch (error) {
          return Promise.reject(error);
        }
        return Promise.resolve();
      }
      return request(newEntry(PUBLISH, [topic], 1, bytes)).then(() => undefined);
    },
    subscribe(filters, qos) {
      // A SUBSCRIBE or UNSUBSCRIBE without a filter is a protocol violation (3.8.3, 3.10.3).
      if (filters.length === 0 && !closed) return Promise.resolve([]);
      if (!closed) for (let i = 0; i < filters.length; i++) subscriptions[filters[i]] = qos;
      return request(newEntry(SUBSCRIBE, filters.slice(), qos));
    },
    unsubscribe(filters) {
      if (filters.length === 0 && !closed) return Promise.resolve();
      for (let i = 0; i < filters.length; i++) delete subscriptions[filters[i]];
      return request(newEntry(UNSUBSCRIBE, filters.slice(), 0)).then(() => undefined);
    },
    onMessage(handler) {
      messageHandlers.push(handler);
    },
    onConnect(handler) {
      connectHandlers.push(handler);
      if (connected) handler(false);
    },
    onDisconnect(handler) {
      disconnectHandlers.push(handler);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      cancel(retry);
      retry = undefined;
      cancel(connecting);
      connecting = undefined;
      const old = link;
      link = undefined;
      connected = false;
      if (old) old.close();
      const waiting = pending.splice(0, pending.length);
      for (let i = 0; i < waiting.length; i++) {
        cancel(waiting[i].timer);
        waiting[i].reject(closedError());
      }
      return Promise.resolve();
    },
  };
}
