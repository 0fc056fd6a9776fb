// The port under the MQTT session: one connection to the broker that speaks MQTT packets. A host
// gives the session a connector that opens one; the session (session.ts) owns everything that
// outlives a connection: reconnection, subscriptions, QoS 1 publishes awaiting PUBACK.
//
// Two kinds of link exist: a platform's own MQTT client where it has one (Moddable's ECMA-419
// client, which frames packets and keeps alive by itself), and streamLink (stream-link.ts), the
// codec over a byte-stream transport, where it has none (Espruino's net and tls sockets).
import type { MqttMessage, QoS } from "../core/ports";

export interface MqttIdentity {
  clientId: string;
  username?: string;
  password?: string;
}

/** What a link tells its session. No event follows link.close() or a `closed` event. */
export interface MqttLinkEvents {
  /** The broker accepted the connection (CONNACK 0). */
  connected(sessionPresent: boolean): void;
  /** PUBACK, SUBACK or UNSUBACK for packet `id`; `codes` holds a SUBACK's return codes. */
  acknowledged(id: number, codes: number[]): void;
  /** An application message, whole, already acknowledged to the broker if it came with QoS 1. */
  message(message: MqttMessage): void;
  /**
   * The connection is over: refused, lost, dead (no answer to keep-alive), or never made. The
   * link has released its socket; `reason` says why, for the log.
   */
  closed(reason: string): void;
}

/** One connection. Writes before `connected` or after `closed` are the session's to avoid. */
export interface MqttLink {
  /** A PUBLISH; `id` is used for QoS 1 only, `duplicate` sets DUP. */
  publish(topic: string, payload: Uint8Array, qos: QoS, id: number, duplicate: boolean): void;
  subscribe(id: number, items: { topic: string; qos: QoS }[]): void;
  unsubscribe(id: number, filters: string[]): void;
  /** Sends DISCONNECT if the broker accepted the link, then releases the socket at once; harmless when closed already. */
  close(): void;
}

export interface MqttLinkRequest {
  identity: MqttIdentity;
  /** The CONNECT's keep-alive; the link sends PINGREQ within it and detects a dead broker. */
  keepAliveMs: number;
}

/** Opens a link (clean session). Events may start before it returns, `closed` at the latest. */
export type MqttConnector = (request: MqttLinkRequest, events: MqttLinkEvents) => MqttLink;
