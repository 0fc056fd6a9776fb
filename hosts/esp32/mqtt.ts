// The MqttClient port on Moddable: the session of src/mqtt over the ECMA-419 MQTT client
// (embedded:network/mqtt/client), which frames MQTT 3.1.1 packets, answers QoS 1 messages and
// keeps the connection alive, but keeps no session: one client is one link. What is here touches
// the client only: its write(), which throws "overflow" unless the packet fits the socket's free
// space (packets wait for onWritable, and a PUBLISH larger than that space goes in pieces, as the
// client allows), and messages that arrive in fragments (onReadable with `more`).
//
// The session hears of the client's events from a promise job, never inside the client's
// callback: those run deep in the socket's callback and the client's parser, and the session's
// handlers go on to subscribe and write (CONNACK) or to act on an offer (a message), which
// overflowed XS's stack on Moddable's Linux target (384 slots) at the first CONNACK.
//
// The client's options and callbacks are typed here as it behaves: the SDK typings declare
// onControl(opcode, message) where the client calls onControl(message), and take no null data.
import MQTTClient from "embedded:network/mqtt/client";
import type { MqttClient } from "../../src/core/ports";
import type { MqttLink, MqttLinkEvents, MqttLinkRequest } from "../../src/mqtt/link";
import { utf8Encode } from "../../src/core/util/bytes";
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
  /** A PUBLISH's whole payload length, when the first write carries only a piece of it. */
  byteLength?: number;
  id?: number;
  topic?: string;
  QoS?: number;
  duplicate?: boolean;
  items?: { topic: string; QoS?: number }[];
}

interface Client419 {
  read(count: number): ArrayBuffer;
  /** Without options: the next piece of a PUBLISH whose first write gave byteLength. */
  write(data: ArrayBuffer | null, options?: WriteOptions): number;
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

/** A packet on its way: a PUBLISH's payload goes in pieces when the socket has less room. */
interface Outgoing {
  options: WriteOptions;
  /** A PUBLISH's payload; null for the other packets. */
  payload: Uint8Array | null;
  /** Payload bytes written so far. */
  at: number;
}

/** The client writes ArrayBuffers of exactly the bytes to send. */
function bufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
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
  /** Packets waiting for room in the socket, in order. */
  const queue: Outgoing[] = [];
  /** The free space the client last reported; undefined until it has. */
  let room: number | undefined;
  let client: Client419 | undefined;
  let accepted = false;
  let incoming: { topic: string; bytes: Uint8Array; at: number } | undefined;

  /** Tells the session from a promise job, on a fresh stack; jobs keep the events' order. */
  function later(event: () => void): void {
    Promise.resolve().then(event);
  }

  function end(reason: string): void {
    const old = client;
    if (!old) return;
    client = undefined;
    queue.length = 0;
    old.close();
    later(() => events.closed(reason));
  }

  /** Writes one packet or piece; false when it waits for room (or the link has ended). */
  function put(data: ArrayBuffer | null, writeOptions?: WriteOptions): boolean {
    if (!client) return false;
    try {
      room = client.write(data, writeOptions);
      return true;
    } catch (error) {
      if (isOverflow(error)) room = 0;
      else end(`write failed: ${String(error)}`);
      return false;
    }
  }

  /** Writes what the socket has room for, in order; a PUBLISH larger than the room goes in pieces. */
  function flush(): void {
    while (client && queue.length > 0) {
      const packet = queue[0];
      const payload = packet.payload;
      if (!payload) {
        if (!put(null, packet.options)) return;
      } else if (packet.at === 0) {
        // Fixed header, topic and packet id, at most.
        const overhead = 9 + utf8Encode(packet.options.topic || "").length;
        // Until the client has told its room, a write is tried whole (it throws if it does not fit).
        const take =
          room === undefined ? payload.length : Math.min(payload.length, room - overhead);
        if (take <= 0) return;
        const first =
          take === payload.length
            ? packet.options
            : { ...packet.options, byteLength: payload.length };
        if (!put(bufferOf(payload.subarray(0, take)), first)) return;
        packet.at = take;
        if (take < payload.length) continue;
      } else {
        const take = Math.min(payload.length - packet.at, room || 0);
        if (take <= 0) return;
        if (!put(bufferOf(payload.subarray(packet.at, packet.at + take)))) return;
        packet.at += take;
        if (packet.at < payload.length) continue;
      }
      queue.shift();
    }
  }

  const send = (payload: Uint8Array | null, writeOptions: WriteOptions): void => {
    if (!client || !accepted) return;
    queue.push({ options: writeOptions, payload, at: 0 });
    if (queue.length === 1) flush();
  };

  const onControl = (message: ControlMessage): void => {
    if (!client) return;
    if (message.operation === CONNACK) {
      accepted = true;
      // The client reads CONNACK's session-present flag but does not pass it on.
      later(() => events.connected(false));
    } else if (message.operation === PUBACK || message.operation === UNSUBACK) {
      const id = message.id || 0;
      later(() => events.acknowledged(id, []));
    } else if (message.operation === SUBACK) {
      const id = message.id || 0;
      const codes = message.payload || [];
      later(() => events.acknowledged(id, codes));
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
    later(() => events.message(message));
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
    onWritable: (count: number) => {
      room = count;
      flush();
    },
    // Once, on any failure; the client closes itself afterwards.
    onError: () => end(accepted ? "connection closed" : "connection failed"),
  };
  if (identity.username !== undefined) settings.user = identity.username;
  if (identity.password !== undefined) settings.password = identity.password;
  client = new Client(settings);

  return {
    publish(topic, payload, qos, id, duplicate) {
      send(payload, qos === 0 ? { topic, QoS: 0 } : { topic, QoS: 1, id, duplicate });
    },
    subscribe(id, items) {
      const list: { topic: string; QoS: number }[] = [];
      for (let i = 0; i < items.length; i++)
        list.push({ topic: items[i].topic, QoS: items[i].qos });
      send(null, { operation: SUBSCRIBE, id, items: list });
    },
    unsubscribe(id, filters) {
      const list: { topic: string }[] = [];
      for (let i = 0; i < filters.length; i++) list.push({ topic: filters[i] });
      send(null, { operation: UNSUBSCRIBE, id, items: list });
    },
    close() {
      const old = client;
      if (!old) return;
      client = undefined;
      queue.length = 0;
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
