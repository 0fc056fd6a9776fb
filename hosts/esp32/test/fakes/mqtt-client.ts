// The ECMA-419 MQTT client (examples/io/tcp/mqttclient/mqttclient.js) as it behaves for its user:
// it resolves the host through options.dns, then connects (the wire protocol is spoken by mqtt.js
// on the Node side, to a real broker); onControl(message) gets CONNACK, PUBACK, SUBACK (payload:
// granted QoS), UNSUBACK; messages arrive through onReadable in fragments, the first one carrying
// topic and byteLength; write() throws unless connected, and throws "overflow" when the packet
// does not fit the socket's free space (WINDOW bytes, freed again at the next poll, which calls
// onWritable as the socket does); a PUBLISH larger than that goes in pieces: the first write gives
// byteLength, the next ones carry no options. Any failure calls onError once and closes the
// client, which never reconnects by itself. Every callback runs inside the socket's callback, as
// on the board, where that stack is already deep: callbacksRunning() says whether one is under way.
import { utf8Encode } from "../../../../src/core/util/bytes";
import { bytesOf, hexOf } from "./hex";
import { call, every } from "./board";
import { tlsRequest } from "./tls";

const POLL_MS = 2;
/** The socket's send buffer: what a write may use until the next poll. */
const WINDOW = 4096;
/** What the client keeps back from the room it reports (mqttclient.js's Overhead). */
const OVERHEAD = 8;
/** Incoming payloads are handed over in pieces of this size, as a socket would deliver them. */
const FRAGMENT = 700;

interface MqttEvent {
  kind: "connack" | "puback" | "suback" | "unsuback" | "message" | "error";
  id?: number;
  granted?: number[];
  topic?: string;
  qos?: number;
  hex?: string;
}

/** Client callbacks (of any client) on the stack right now. */
let running = 0;

export function callbacksRunning(): number {
  return running;
}

type Options = Record<string, unknown> & {
  host: string;
  dns: { io: new (options: unknown) => { resolve(request: object): void } };
  socket: Record<string, unknown>;
};

export default class MQTTClient {
  static readonly CONNECT = 1;
  static readonly CONNACK = 2;
  static readonly PUBLISH = 3;
  static readonly PUBACK = 4;
  static readonly PUBREC = 5;
  static readonly PUBREL = 6;
  static readonly PUBCOMP = 7;
  static readonly SUBSCRIBE = 8;
  static readonly SUBACK = 9;
  static readonly UNSUBSCRIBE = 10;
  static readonly UNSUBACK = 11;
  static readonly PINGREQ = 12;
  static readonly PINGRESP = 13;
  static readonly DISCONNECT = 14;

  #options: Options | undefined;
  #id: number | undefined;
  #connected = false;
  #payload: Uint8Array | undefined;
  #room = WINDOW;
  /** A PUBLISH written in pieces: its options, the pieces so far, the bytes still to come. */
  #publishing:
    { options: Record<string, unknown>; pieces: Uint8Array[]; remaining: number } | undefined;

  constructor(options: Options) {
    if (!options.host) throw new Error("host required");
    this.#options = options;
    const dns = new options.dns.io(options.dns);
    dns.resolve({
      host: options.host,
      onResolved: (host: string) => this.#connect(host),
      onError: () => this.#fail(),
    });
  }

  read(count: number): ArrayBuffer {
    const payload = this.#payload;
    if (!payload) throw new Error("nothing to read");
    const take = Math.min(count, payload.length);
    this.#payload = payload.subarray(take);
    return payload.slice(0, take).buffer;
  }

  write(data: ArrayBuffer | null, options?: Record<string, unknown>): number {
    if (!this.#connected || this.#id === undefined) throw new Error("not connected");
    const publishing = this.#publishing;
    if (publishing) {
      // The next piece of a PUBLISH: no options, and no more than the room (the socket would fail).
      if (options || !(data instanceof ArrayBuffer) || data.byteLength > publishing.remaining)
        throw new Error("invalid piece");
      if (data.byteLength > this.#room) throw new Error("socket full");
      this.#room -= data.byteLength;
      publishing.pieces.push(new Uint8Array(data));
      publishing.remaining -= data.byteLength;
      if (publishing.remaining === 0) {
        this.#publishing = undefined;
        this.#send(publishing.options, concat(publishing.pieces).buffer as ArrayBuffer);
      }
      return this.#free();
    }
    if (!options) throw new Error("options required");
    const operation = options.operation === undefined ? MQTTClient.PUBLISH : options.operation;
    if (operation === MQTTClient.PUBLISH && !(data instanceof ArrayBuffer))
      throw new TypeError("publish needs an ArrayBuffer");
    const length = packetLength(operation as number, data, options);
    if (length > this.#room) throw new Error("overflow");
    this.#room -= length;
    if (operation === MQTTClient.PINGREQ) return this.#free();
    const total = options.byteLength as number | undefined;
    if (operation === MQTTClient.PUBLISH && total !== undefined && total > data!.byteLength) {
      this.#publishing = {
        options,
        pieces: [new Uint8Array(data!)],
        remaining: total - data!.byteLength,
      };
      return this.#free();
    }
    this.#send(options, data);
    return this.#free();
  }

  #free(): number {
    return this.#room > OVERHEAD ? this.#room - OVERHEAD : 0;
  }

  #send(options: Record<string, unknown>, data: ArrayBuffer | null): void {
    const operation = options.operation === undefined ? MQTTClient.PUBLISH : options.operation;
    call("mqtt.write", {
      id: this.#id,
      packet: {
        operation,
        id: options.id,
        topic: options.topic,
        QoS: options.QoS,
        duplicate: options.duplicate === true,
        items: options.items,
        hex: data ? hexOf(new Uint8Array(data)) : undefined,
      },
    });
  }

  close(): void {
    if (this.#id !== undefined) call("mqtt.close", { id: this.#id });
    this.#id = undefined;
    this.#connected = false;
    this.#options = undefined;
  }

  #connect(host: string): void {
    const options = this.#options;
    if (!options) return;
    const secure = options.socket.secure as Record<string, unknown> | undefined;
    this.#id = call<number>("mqtt.open", {
      host,
      port: options.port === undefined ? 1883 : options.port,
      clientId: options.id === undefined ? "" : options.id,
      username: options.user,
      password: options.password,
      clean: options.clean !== false,
      keepAliveMs: options.keepAlive,
      tls: secure ? tlsRequest(secure) : undefined,
    });
    every(POLL_MS, () => {
      running++;
      try {
        return this.#poll();
      } finally {
        running--;
      }
    });
  }

  #fail(): void {
    const options = this.#options;
    if (!options) return;
    const onError = options.onError as (() => void) | undefined;
    if (onError) onError.call(this);
    this.close();
  }

  #poll(): boolean {
    if (this.#id === undefined) return false;
    if (this.#room < WINDOW && this.#connected) {
      // What was written has left: the room is back, and the client says so.
      this.#room = WINDOW;
      const onWritable = this.#options?.onWritable as ((count: number) => void) | undefined;
      if (onWritable) onWritable.call(this, this.#free());
      if (this.#id === undefined) return false;
    }
    for (const event of call<MqttEvent[]>("mqtt.poll", { id: this.#id })) {
      const options = this.#options;
      if (!options) return false;
      const onControl = options.onControl as ((message: object) => void) | undefined;
      if (event.kind === "error") {
        this.#fail();
        return false;
      }
      if (event.kind === "connack") {
        this.#connected = true;
        if (onControl) onControl.call(this, { operation: MQTTClient.CONNACK, returnCode: 0 });
      } else if (event.kind === "puback") {
        if (onControl) onControl.call(this, { operation: MQTTClient.PUBACK, id: event.id });
      } else if (event.kind === "suback") {
        if (onControl)
          onControl.call(this, {
            operation: MQTTClient.SUBACK,
            id: event.id,
            payload: event.granted,
          });
      } else if (event.kind === "unsuback") {
        if (onControl) onControl.call(this, { operation: MQTTClient.UNSUBACK, id: event.id });
      } else if (event.kind === "message") this.#deliver(event);
    }
    return this.#id !== undefined;
  }

  #deliver(event: MqttEvent): void {
    const onReadable = this.#options!.onReadable as
      ((count: number, info: Record<string, unknown>) => void) | undefined;
    const payload = bytesOf(event.hex!);
    let at = 0;
    do {
      const piece = payload.subarray(at, at + FRAGMENT);
      const info: Record<string, unknown> = { more: at + piece.length < payload.length };
      if (at === 0) {
        info.topic = event.topic;
        info.QoS = event.qos;
        info.byteLength = payload.length;
      }
      this.#payload = piece;
      if (onReadable) onReadable.call(this, piece.length, info);
      this.#payload = undefined;
      at += piece.length;
    } while (at < payload.length && this.#options);
  }
}

function concat(pieces: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

function utf8Length(text: string): number {
  return utf8Encode(text).length;
}

/** The bytes a packet takes on the wire (mqttclient.js checks this much against its room). */
function packetLength(
  operation: number,
  data: ArrayBuffer | null,
  options: Record<string, unknown>,
): number {
  let body = 0;
  if (operation === MQTTClient.PUBLISH) {
    const total = (options.byteLength as number | undefined) ?? data!.byteLength;
    const header = 2 + utf8Length(options.topic as string) + (options.QoS ? 2 : 0);
    // The first write holds the header and this piece; the remaining length counts the whole.
    return 1 + lengthOfLength(header + total) + header + data!.byteLength;
  }
  const items = (options.items as { topic: string }[] | undefined) ?? [];
  if (operation === MQTTClient.SUBSCRIBE || operation === MQTTClient.UNSUBSCRIBE) {
    body = 2;
    for (const item of items)
      body += 2 + utf8Length(item.topic) + (operation === MQTTClient.SUBSCRIBE ? 1 : 0);
  }
  return 1 + lengthOfLength(body) + body;
}

function lengthOfLength(length: number): number {
  return length < 128 ? 1 : length < 16384 ? 2 : length < 2097152 ? 3 : 4;
}
