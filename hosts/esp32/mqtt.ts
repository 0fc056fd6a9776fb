// The MqttClient port over the ECMA-419 MQTT client (embedded:network/mqtt/client), which speaks
// MQTT 3.1.1 with QoS 1 on the wire but keeps no session: it neither reconnects nor retransmits.
// This port does both. It reconnects with backoff; after every CONNACK (clean session) it
// subscribes again to every filter it holds and resends, with the DUP flag, each QoS 1 publish
// that has no PUBACK yet, so a report is never lost to a dropped connection; publish() resolves on
// the PUBACK. Messages arrive in fragments (onReadable with `more`) and are put back together.
//
// The client's options and callbacks are typed here as it behaves: the SDK typings declare
// onControl(opcode, message) where the client calls onControl(message), and take no null data.
import MQTTClient from "embedded:network/mqtt/client";
import { backoffDelay, type BackoffPolicy } from "../../src/core/download/backoff";
import { otaError } from "../../src/core/errors";
import type {
  Clock,
  Logger,
  MqttClient,
  MqttMessage,
  QoS,
  TimerHandle,
} from "../../src/core/ports";
import { utf8Encode } from "../../src/core/util/bytes";
import { LegacyTcp } from "./tcp-socket";

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

export interface MqttIdentity {
  clientId: string;
  username?: string;
  password?: string;
}

export interface MqttOptions {
  host: string;
  port: number;
  /** SecureSocket's `secure` dictionary (see http.ts secureOptions) for mqtts. */
  secure?: Record<string, unknown>;
  /** Asked before every connection: a signed user name may expire (Tencent). */
  identity: () => MqttIdentity;
  keepAliveMs?: number;
  reconnect?: BackoffPolicy;
  clock: Clock;
  logger: Logger;
}

/** The client resolves the host before it opens a socket; the legacy socket resolves it itself. */
class PassThroughResolver {
  resolve(request: { host: string; onResolved(host: string, address: string): void }): void {
    Promise.resolve().then(() => request.onResolved(request.host, request.host));
  }
}

interface Publish {
  id: number;
  topic: string;
  payload: ArrayBuffer;
  sent: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Request {
  id: number;
  options: WriteOptions;
  resolve: (payload: number[]) => void;
  reject: (error: Error) => void;
}

function toBuffer(payload: string | Uint8Array): ArrayBuffer {
  const bytes = typeof payload === "string" ? utf8Encode(payload) : payload;
  return bytes.slice().buffer as ArrayBuffer;
}

export function connectMqtt(options: MqttOptions): MqttClient {
  const Client = MQTTClient as unknown as Client419Constructor;
  const { clock, logger } = options;
  const backoff = options.reconnect || { baseMs: 1000, maxMs: 60_000 };
  const messageHandlers: ((message: MqttMessage) => void)[] = [];
  const connectHandlers: ((sessionPresent: boolean) => void)[] = [];
  const disconnectHandlers: ((reason: string) => void)[] = [];
  /** QoS 1 publishes without a PUBACK, in order. */
  const outbox: Publish[] = [];
  /** SUBSCRIBE / UNSUBSCRIBE waiting for their acknowledgement. */
  const requests: Request[] = [];
  /** Packets that did not fit the socket's free space, sent on the next onWritable. */
  const backlog: { data: ArrayBuffer | null; options: WriteOptions }[] = [];
  /** Filters to subscribe again after a reconnection, with their QoS. */
  const subscriptions: Record<string, QoS> = {};
  let client: Client419 | undefined;
  let connected = false;
  let closed = false;
  let failures = 0;
  let retry: TimerHandle | undefined;
  let nextId = 0;
  let incoming: { topic: string; bytes: Uint8Array; at: number } | undefined;

  const packetId = (): number => {
    nextId = (nextId % 65535) + 1;
    return nextId;
  };

  /** Writes now, or queues when the socket is full; nothing when disconnected (CONNACK resends). */
  const send = (data: ArrayBuffer | null, writeOptions: WriteOptions): void => {
    if (!client || !connected) return;
    if (backlog.length > 0) {
      backlog.push({ data, options: writeOptions });
      return;
    }
    try {
      client.write(data, writeOptions);
    } catch (error) {
      if (error instanceof Error && error.message === "overflow")
        backlog.push({ data, options: writeOptions });
      else drop(`write failed: ${String(error)}`);
    }
  };

  const flushBacklog = (): void => {
    while (client && connected && backlog.length > 0) {
      const packet = backlog[0];
      try {
        client.write(packet.data, packet.options);
      } catch (error) {
        if (!(error instanceof Error && error.message === "overflow"))
          drop(`write failed: ${String(error)}`);
        return;
      }
      backlog.shift();
    }
  };

  const sendPublish = (publish: Publish): void => {
    send(publish.payload, {
      topic: publish.topic,
      QoS: 1,
      id: publish.id,
      duplicate: publish.sent,
    });
    publish.sent = true;
  };

  const onControl = (message: ControlMessage): void => {
    if (message.operation === CONNACK) {
      connected = true;
      failures = 0;
      // Filters whose SUBSCRIBE is still waiting go once, with that request, below.
      const waiting: Record<string, boolean> = {};
      for (let i = 0; i < requests.length; i++) {
        const items = requests[i].options.items || [];
        if (requests[i].options.operation === SUBSCRIBE)
          for (let k = 0; k < items.length; k++) waiting[items[k].topic] = true;
      }
      const filters = Object.keys(subscriptions).filter((filter) => !waiting[filter]);
      for (let i = 0; i < filters.length; i++) {
        send(null, {
          operation: SUBSCRIBE,
          id: packetId(),
          items: [{ topic: filters[i], QoS: subscriptions[filters[i]] }],
        });
      }
      for (let i = 0; i < requests.length; i++) send(null, requests[i].options);
      for (let i = 0; i < outbox.length; i++) sendPublish(outbox[i]);
      for (let i = 0; i < connectHandlers.length; i++) connectHandlers[i](false);
      return;
    }
    if (message.operation === PUBACK) {
      for (let i = 0; i < outbox.length; i++) {
        if (outbox[i].id === message.id) {
          outbox.splice(i, 1)[0].resolve();
          return;
        }
      }
      return;
    }
    if (message.operation === SUBACK || message.operation === UNSUBACK) {
      for (let i = 0; i < requests.length; i++) {
        if (requests[i].id === message.id) {
          requests.splice(i, 1)[0].resolve(message.payload || []);
          return;
        }
      }
    }
  };

  const onReadable = function (this: Client419, count: number, info: ReadableInfo): void {
    if (info.topic !== undefined) {
      incoming = { topic: info.topic, bytes: new Uint8Array(info.byteLength || 0), at: 0 };
    }
    const chunk = new Uint8Array(this.read(count));
    if (!incoming) return;
    incoming.bytes.set(chunk, incoming.at);
    incoming.at += chunk.length;
    if (info.more) return;
    const message = { topic: incoming.topic, payload: incoming.bytes };
    incoming = undefined;
    for (let i = 0; i < messageHandlers.length; i++) {
      try {
        messageHandlers[i](message);
      } catch (error) {
        logger.log("error", `MQTT message handler threw: ${String(error)}`, {
          topic: message.topic,
        });
      }
    }
  };

  const scheduleReconnect = (): void => {
    if (closed || retry !== undefined) return;
    const delay = backoffDelay(failures++, backoff, () => clock.random());
    logger.log("info", `MQTT reconnecting to ${options.host} in ${delay} ms`);
    retry = clock.setTimeout(() => {
      retry = undefined;
      open();
    }, delay);
  };

  function drop(reason: string): void {
    const wasConnected = connected;
    const old = client;
    client = undefined;
    connected = false;
    incoming = undefined;
    backlog.length = 0;
    if (old) old.close();
    if (wasConnected) {
      logger.log("warn", `MQTT connection lost: ${reason}`);
      for (let i = 0; i < disconnectHandlers.length; i++) disconnectHandlers[i](reason);
    }
    scheduleReconnect();
  }

  function open(): void {
    const identity = options.identity();
    let self: Client419 | undefined;
    const socket: Record<string, unknown> = { io: LegacyTcp };
    if (options.secure) socket.secure = options.secure;
    const settings: Record<string, unknown> = {
      host: options.host,
      port: options.port,
      id: identity.clientId,
      clean: true,
      keepAlive: options.keepAliveMs || 60_000,
      dns: { io: PassThroughResolver },
      socket,
      onControl,
      onReadable,
      onWritable: () => flushBacklog(),
      onError: () => {
        // A client that was replaced already is of no interest; this one closes itself.
        if (client !== self) return;
        client = undefined;
        drop(connected ? "connection closed" : `cannot connect to ${options.host}`);
      },
    };
    if (identity.username !== undefined) settings.user = identity.username;
    if (identity.password !== undefined) settings.password = identity.password;
    try {
      self = client = new Client(settings);
    } catch (error) {
      drop(`cannot connect to ${options.host}: ${String(error)}`);
    }
  }

  open();

  return {
    get connected() {
      return connected;
    },
    publish(topic, payload, qos) {
      const data = toBuffer(payload);
      if (qos === 0) {
        if (!connected) return Promise.reject(otaError("network", "MQTT is not connected", true));
        send(data, { topic, QoS: 0 });
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        if (closed) return reject(otaError("network", "MQTT client closed"));
        const publish = { id: packetId(), topic, payload: data, sent: false, resolve, reject };
        outbox.push(publish);
        if (connected) sendPublish(publish);
      });
    },
    subscribe(filters, qos) {
      for (let i = 0; i < filters.length; i++) subscriptions[filters[i]] = qos;
      return new Promise<number[]>((resolve, reject) => {
        if (closed) return reject(otaError("network", "MQTT client closed"));
        const id = packetId();
        const items = filters.map((topic) => ({ topic, QoS: qos }));
        const request = { id, options: { operation: SUBSCRIBE, id, items }, resolve, reject };
        requests.push(request);
        send(null, request.options);
      });
    },
    unsubscribe(filters) {
      for (let i = 0; i < filters.length; i++) delete subscriptions[filters[i]];
      return new Promise<void>((resolve, reject) => {
        if (closed) return reject(otaError("network", "MQTT client closed"));
        const id = packetId();
        const items = filters.map((topic) => ({ topic }));
        const request = {
          id,
          options: { operation: UNSUBSCRIBE, id, items },
          resolve: () => resolve(),
          reject,
        };
        requests.push(request);
        send(null, request.options);
      });
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
    async close() {
      closed = true;
      if (retry !== undefined) clock.clearTimeout(retry);
      retry = undefined;
      if (client && connected) send(null, { operation: DISCONNECT });
      const old = client;
      client = undefined;
      connected = false;
      if (old) old.close();
      const error = otaError("network", "MQTT client closed");
      const waiting: { reject: (error: Error) => void }[] = [];
      waiting.push(...outbox.splice(0, outbox.length), ...requests.splice(0, requests.length));
      for (let i = 0; i < waiting.length; i++) waiting[i].reject(error);
    },
  };
}
