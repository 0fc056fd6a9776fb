// A small MQTT 3.1.1 client over Espruino's net (or tls) sockets, bundled into the build.
// QoS: publishes at 0 and 1 (publish() resolves on PUBACK); subscribes at 0 and 1 and answers
// incoming QoS 1 with PUBACK; QoS 2 is not supported (it is never requested). Clean sessions
// only: after every CONNACK it subscribes again to each filter it holds and resends, with DUP, the
// QoS 1 publishes that have no PUBACK yet. It reconnects with backoff and pings to keep alive.
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
import { concatBytes, utf8Decode, utf8Encode } from "../../src/core/util/bytes";
import { binaryOf, bytesOf } from "./binary";

const CONNECT = 1;
const CONNACK = 2;
const PUBLISH = 3;
const PUBACK = 4;
const SUBSCRIBE = 8;
const SUBACK = 9;
const UNSUBSCRIBE = 10;
const UNSUBACK = 11;
const PINGREQ = 12;
const PINGRESP = 13;
const DISCONNECT = 14;

export interface MqttIdentity {
  clientId: string;
  username?: string;
  password?: string;
}

export interface MqttOptions {
  host: string;
  port: number;
  /** require("net"), or require("tls") with `tls` options for mqtts. */
  net: EspruinoNet;
  tls?: Record<string, unknown>;
  /** Asked before every connection: a signed user name may expire (Tencent). */
  identity: () => MqttIdentity;
  keepAliveMs?: number;
  reconnect?: BackoffPolicy;
  clock: Clock;
  logger: Logger;
}

function lengthPrefixed(text: string | Uint8Array): Uint8Array {
  const bytes = typeof text === "string" ? utf8Encode(text) : text;
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

function packet(first: number, parts: Uint8Array[]): Uint8Array {
  const body = concatBytes(parts);
  const length: number[] = [];
  let rest = body.length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    length.push(byte);
  } while (rest > 0);
  return concatBytes([new Uint8Array([first]), new Uint8Array(length), body]);
}

function id16(id: number): Uint8Array {
  return new Uint8Array([id >> 8, id & 0xff]);
}

interface Pending {
  id: number;
  resolve: (value: number[]) => void;
  reject: (error: Error) => void;
  /** The packet to send again after a reconnection (with DUP set for a PUBLISH). */
  resend: () => Uint8Array;
  /** The filters of a SUBSCRIBE. */
  filters?: string[];
}

export function connectMqtt(options: MqttOptions): MqttClient {
  const { clock, logger } = options;
  const backoff = options.reconnect || { baseMs: 1000, maxMs: 60000 };
  const keepAliveMs = options.keepAliveMs || 60000;
  const messageHandlers: ((message: MqttMessage) => void)[] = [];
  const connectHandlers: ((sessionPresent: boolean) => void)[] = [];
  const disconnectHandlers: ((reason: string) => void)[] = [];
  /** QoS 1 publishes and (UN)SUBSCRIBEs waiting for their acknowledgement, in order. */
  const pending: Pending[] = [];
  const subscriptions: Record<string, QoS> = {};
  let socket: EspruinoSocket | undefined;
  let connected = false;
  let closed = false;
  let failures = 0;
  let nextId = 0;
  let received = new Uint8Array(0);
  let retry: TimerHandle | undefined;
  let ping: TimerHandle | undefined;
  let answered = true;

  const packetId = (): number => {
    nextId = (nextId % 65535) + 1;
    return nextId;
  };

  const send = (bytes: Uint8Array): void => {
    if (socket) socket.write(binaryOf(bytes));
  };

  const stopPing = () => {
    if (ping !== undefined) clock.clearTimeout(ping);
    ping = undefined;
  };

  const schedulePing = (): void => {
    stopPing();
    ping = clock.setTimeout(() => {
      ping = undefined;
      if (!answered) return drop("no PINGRESP");
      answered = false;
      send(new Uint8Array([PINGREQ << 4, 0]));
      schedulePing();
    }, keepAliveMs);
  };

  function drop(reason: string): void {
    const wasConnected = connected;
    const old = socket;
    socket = undefined;
    connected = false;
    received = new Uint8Array(0);
    stopPing();
    if (old) old.end();
    if (wasConnected) {
      logger.log("warn", `MQTT connection lost: ${reason}`);
      for (let i = 0; i < disconnectHandlers.length; i++) disconnectHandlers[i](reason);
    } else logger.log("warn", `MQTT: ${reason}`);
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

  const deliver = (message: MqttMessage): void => {
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

  const acknowledged = (id: number, codes: number[]): void => {
    for (let i = 0; i < pending.length; i++) {
      if (pending[i].id === id) {
        pending.splice(i, 1)[0].resolve(codes);
        return;
      }
    }
  };

  const onPacket = (type: number, flags: number, body: Uint8Array): void => {
    if (type === CONNACK) {
      if (body[1] !== 0) return drop(`broker refused the connection (CONNACK code ${body[1]})`);
      connected = true;
      failures = 0;
      answered = true;
      schedulePing();
      // A filter whose SUBSCRIBE is pending goes again below, with that request.
      const waiting: Record<string, boolean> = {};
      for (let i = 0; i < pending.length; i++) {
        const list = pending[i].filters || [];
        for (let k = 0; k < list.length; k++) waiting[list[k]] = true;
      }
      const filters = Object.keys(subscriptions).filter((filter) => !waiting[filter]);
      for (let i = 0; i < filters.length; i++) {
        const qos = subscriptions[filters[i]];
        send(
          packet((SUBSCRIBE << 4) | 2, [
            id16(packetId()),
            lengthPrefixed(filters[i]),
            new Uint8Array([qos]),
          ]),
        );
      }
      for (let i = 0; i < pending.length; i++) send(pending[i].resend());
      for (let i = 0; i < connectHandlers.length; i++) connectHandlers[i](body[0] === 1);
    } else if (type === PUBLISH) {
      const qos = (flags >> 1) & 3;
      const topicLength = (body[0] << 8) | body[1];
      const topic = utf8Decode(body.subarray(2, 2 + topicLength));
      let at = 2 + topicLength;
      if (qos > 0) {
        send(packet(PUBACK << 4, [body.subarray(at, at + 2)]));
        at += 2;
      }
      deliver({ topic, payload: body.slice(at) });
    } else if (type === PUBACK || type === UNSUBACK) {
      acknowledged((body[0] << 8) | body[1], []);
    } else if (type === SUBACK) {
      const codes: number[] = [];
      for (let i = 2; i < body.length; i++) codes.push(body[i]);
      acknowledged((body[0] << 8) | body[1], codes);
    } else if (type === PINGRESP) {
      answered = true;
    }
  };

  /** Splits the byte stream into packets (the remaining length is a varint of up to 4 bytes). */
  const onData = (data: string): void => {
    received = concatBytes([received, bytesOf(data)]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let at = 1;
      for (;;) {
        if (at >= received.length) return;
        const byte = received[at++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) break;
        if (at > 4) return drop("malformed packet length");
      }
      if (received.length < at + length) return;
      const first = received[0];
      const body = received.subarray(at, at + length);
      received = received.subarray(at + length);
      onPacket(first >> 4, first & 0x0f, body);
      if (!socket) return;
    }
  };

  function open(): void {
    const identity = options.identity();
    let flags = 0x02; // clean session
    const payload = [lengthPrefixed(identity.clientId)];
    if (identity.username !== undefined) {
      flags |= 0x80;
      payload.push(lengthPrefixed(identity.username));
    }
    if (identity.password !== undefined) {
      flags |= 0x40;
      payload.push(lengthPrefixed(identity.password));
    }
    const keepAlive = Math.ceil(keepAliveMs / 1000);
    const connect = packet(CONNECT << 4, [
      lengthPrefixed("MQTT"),
      new Uint8Array([4, flags, keepAlive >> 8, keepAlive & 0xff]),
      concatBytes(payload),
    ]);
    const settings: Record<string, unknown> = { host: options.host, port: options.port };
    if (options.tls) {
      const names = Object.keys(options.tls);
      for (let i = 0; i < names.length; i++) settings[names[i]] = options.tls[names[i]];
    }
    let self: EspruinoSocket | undefined;
    try {
      self = socket = options.net.connect(settings, () => {
        if (socket === self) send(connect);
      });
      // A broker that takes the connection but never answers CONNECT is dropped like a dead one.
      stopPing();
      ping = clock.setTimeout(() => {
        ping = undefined;
        if (socket === self && !connected) drop("no CONNACK");
      }, keepAliveMs);
    } catch (error) {
      return drop(`cannot connect to ${options.host}: ${String(error)}`);
    }
    self.on("data", (data) => {
      if (socket === self) onData(data);
    });
    self.on("error", (error) => {
      if (socket === self) drop(`socket error: ${(error && error.message) || "unknown"}`);
    });
    self.on("close", () => {
      if (socket === self)
        drop(connected ? "connection closed" : `cannot connect to ${options.host}`);
    });
  }

  const request = (
    resend: (id: number) => () => Uint8Array,
    filters?: string[],
  ): Promise<number[]> =>
    new Promise<number[]>((resolve, reject) => {
      if (closed) return reject(otaError("network", "MQTT client closed"));
      const id = packetId();
      const entry: Pending = { id, resolve, reject, resend: resend(id), filters };
      pending.push(entry);
      if (connected) send(entry.resend());
    });

  open();

  return {
    get connected() {
      return connected;
    },
    publish(topic, payload, qos) {
      const body = typeof payload === "string" ? utf8Encode(payload) : payload;
      if (qos === 0) {
        if (!connected) return Promise.reject(otaError("network", "MQTT is not connected", true));
        send(packet(PUBLISH << 4, [lengthPrefixed(topic), body]));
        return Promise.resolve();
      }
      return request((id) => {
        let sent = false;
        return () => {
          // The DUP flag (0x08) marks every sending after the first.
          const first = (PUBLISH << 4) | (sent ? 0x08 : 0) | 0x02;
          sent = true;
          return packet(first, [lengthPrefixed(topic), id16(id), body]);
        };
      }).then(() => undefined);
    },
    subscribe(filters, qos) {
      const items: Uint8Array[] = [];
      for (let i = 0; i < filters.length; i++) {
        subscriptions[filters[i]] = qos;
        items.push(lengthPrefixed(filters[i]), new Uint8Array([qos]));
      }
      return request(
        (id) => () => packet((SUBSCRIBE << 4) | 2, [id16(id)].concat(items)),
        filters.slice(),
      );
    },
    unsubscribe(filters) {
      const items: Uint8Array[] = [];
      for (let i = 0; i < filters.length; i++) {
        delete subscriptions[filters[i]];
        items.push(lengthPrefixed(filters[i]));
      }
      return request((id) => () => packet((UNSUBSCRIBE << 4) | 2, [id16(id)].concat(items))).then(
        () => undefined,
      );
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
      closed = true;
      if (retry !== undefined) clock.clearTimeout(retry);
      retry = undefined;
      if (connected) send(new Uint8Array([DISCONNECT << 4, 0]));
      stopPing();
      const old = socket;
      socket = undefined;
      connected = false;
      if (old) old.end();
      const error = otaError("network", "MQTT client closed");
      const waiting = pending.splice(0, pending.length);
      for (let i = 0; i < waiting.length; i++) waiting[i].reject(error);
      return Promise.resolve();
    },
  };
}
