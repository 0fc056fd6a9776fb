// The MqttClient port on Moddable: the session of src/mqtt over the ECMA-419 MQTT client
// (embedded:network/mqtt/client), which frames MQTT 3.1.1 packets, answers QoS 1 messages and
// keeps the connection alive, but keeps no session: one client is one link. What is here touches
// the client only: its write() that throws "overflow" when the socket is full (the packet waits
// for onWritable), and messages that arrive in fragments (onReadable with `more`).
//
// The client's options and callbacks are typed here as it behaves: the SDK typings declare
// onControl(opcode, message) where the client calls onControl(message), and take no null data.
import MQTTClient from "embedded:network/mqtt/client";
import type { MqttClient } from "../../src/core/ports";
import type { MqttLink, MqttLinkEvents, MqttLinkRequest } from "../../src/mqtt/link";
import { mqttSession, type MqttSessionOptions } from "../../src/mqtt/session";
import { LegacyTcp } from "./tcp-socket";

export type { MqttIdentity } from "../../src/mqtt/link";

const CONNACK = 2;
const PUBACK = 4;
const SUBSCRIBE = 8;
const SUBACK = 9;
const UNSUBSCRIBE = 10;
const UNSUBACK = 11;
const DISCONNECT = 14;

interface ControlMessage {
  operation: number;
  id?: number;
  payload?: number[];
}

interface ReadableInfo {
  more: boolean;
  topic?: string;
  byteLength?: number;
}

interface WriteOptions {
  operation?: number;
  id?: number;
  topic?: string;
  QoS?: number;
  duplicate?: boolean;
  items?: { topic: string; QoS?: number }[];
}

interface Client419 {
  read(count: number): ArrayBuffer;
  write(data: ArrayBuffer | null, options: WriteOptions): number;
  close(): void;
}

type Client419Constructor = new (options: Record<string, unknown>) => Client419;

export interface MqttOptions extends MqttSessionOptions {
  port: number;
  /** SecureSocket's `secure` dictionary (see http.ts secureOptions) for mqtts. */
  secure?: Record<string, unknown>;
}

/** The client resolves the host before it opens a socket; the legacy socket resolves it itself. */
class PassThroughResolver {
  resolve(request: { host: string; onResolved(host: string, address: string): void }): void {
    Promise.resolve().then(() => request.onResolved(request.host, request.host));
  }
}

function isOverflow(error: unknown): boolean {
  return error instanceof Error && error.message === "overflow";
}

function openClient(
  options: MqttOptions,
  request: MqttLinkRequest,
  events: MqttLinkEvents,
): MqttLink {
  const Client = MQTTClient as unknown as Client419Constructor;
  /** Packets that did not fit the socket's free space, written on the next onWritable. */
  const backlog: { data: ArrayBuffer | null; options: WriteOptions }[] = [];
  let client: Client419 | undefined;
  let accepted = false;
  let incoming: { topic: string; bytes: Uint8Array; at: number } | undefined;

  function end(reason: string): void {
    const old = client;
    if (!old) return;
    client = undefined;
    backlog.length = 0;
    old.close();
    events.closed(reason);
  }

  const write = (data: ArrayBuffer | null, writeOptions: WriteOptions): void => {
    if (!client || !accepted) return;
    if (backlog.length > 0) {
      backlog.push({ data, options: writeOptions });
      return;
    }
    try {
      client.write(data, writeOptions);
    } catch (error) {
      if (isOverflow(error)) backlog.push({ data, options: writeOptions });
      else end(`write failed: ${String(error)}`);
    }
  };

  const flushBacklog = (): void => {
    while (client && backlog.length > 0) {
      try {
        client.write(backlog[0].data, backlog[0].options);
      } catch (error) {
        if (!isOverflow(error)) end(`write failed: ${String(error)}`);
        return;
      }
      backlog.shift();
    }
  };

  const onControl = (message: ControlMessage): void => {
    if (!client) return;
    if (message.operation === CONNACK) {
      accepted = true;
      // The client reads CONNACK's session-present flag but does not pass it on.
      events.connected(false);
    } else if (message.operation === PUBACK || message.operation === UNSUBACK) {
      events.acknowledged(message.id || 0, []);
    } else if (message.operation === SUBACK) {
      events.acknowledged(message.id || 0, message.payload || []);
    }
  };

  const onReadable = function (this: Client419, count: number, info: ReadableInfo): void {
    if (info.topic !== undefined) {
      incoming = { topic: info.topic, bytes: new Uint8Array(info.byteLength || 0), at: 0 };
    }
    const chunk = new Uint8Array(this.read(count));
    if (!incoming || !client) return;
    incoming.bytes.set(chunk, incoming.at);
    incoming.at += chunk.length;
    if (info.more) return;
    const message = { topic: incoming.topic, payload: incoming.bytes };
    incoming = undefined;
    events.message(message);
  };

  const identity = request.identity;
  const socket: Record<string, unknown> = { io: LegacyTcp };
  if (options.secure) socket.secure = options.secure;
  const settings: Record<string, unknown> = {
    host: options.host,
    port: options.port,
    id: identity.clientId,
    clean: true,
    keepAlive: request.keepAliveMs,
    dns: { io: PassThroughResolver },
    socket,
    onControl,
    onReadable,
    onWritable: () => flushBacklog(),
    // Once, on any failure; the client closes itself afterwards.
    onError: () => end(accepted ? "connection closed" : "connection failed"),
  };
  if (identity.username !== undefined) settings.user = identity.username;
  if (identity.password !== undefined) settings.password = identity.password;
  client = new Client(settings);

  return {
    publish(topic, payload, qos, id, duplicate) {
      const data = payload.slice().buffer as ArrayBuffer;
      if (qos === 0) write(data, { topic, QoS: 0 });
      else write(data, { topic, QoS: 1, id, duplicate });
    },
    subscribe(id, items) {
      const list: { topic: string; QoS: number }[] = [];
      for (let i = 0; i < items.length; i++)
        list.push({ topic: items[i].topic, QoS: items[i].qos });
      write(null, { operation: SUBSCRIBE, id, items: list });
    },
    unsubscribe(id, filters) {
      const list: { topic: string }[] = [];
      for (let i = 0; i < filters.length; i++) list.push({ topic: filters[i] });
      write(null, { operation: UNSUBSCRIBE, id, items: list });
    },
    close() {
      const old = client;
      if (!old) return;
      client = undefined;
      backlog.length = 0;
      try {
        if (accepted) old.write(null, { operation: DISCONNECT });
      } catch {
        // A full or broken socket: the broker sees the connection close instead.
      }
      old.close();
    },
  };
}

export function connectMqtt(options: MqttOptions): MqttClient {
  return mqttSession((request, events) => openClient(options, request, events), options);
}
