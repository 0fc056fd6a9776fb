// The ECMA-419 MQTT client (examples/io/tcp/mqttclient/mqttclient.js) as it behaves for its user:
// it resolves the host through options.dns, then connects (the wire protocol is spoken by mqtt.js
// on the Node side, to a real broker); onControl(message) gets CONNACK, PUBACK, SUBACK (payload:
// granted QoS), UNSUBACK; messages arrive through onReadable in fragments, the first one carrying
// topic and byteLength; write() throws unless connected; any failure calls onError once and
// closes the client, which never reconnects by itself.
import { bytesOf, hexOf } from "./hex";
import { call, every } from "./board";
import { tlsRequest } from "./tls";

const POLL_MS = 2;
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

  write(data: ArrayBuffer | null, options: Record<string, unknown>): number {
    if (!this.#connected || this.#id === undefined) throw new Error("not connected");
    const operation = options.operation === undefined ? MQTTClient.PUBLISH : options.operation;
    if (operation === MQTTClient.PINGREQ) return 4096;
    if (operation === MQTTClient.PUBLISH && !(data instanceof ArrayBuffer))
      throw new TypeError("publish needs an ArrayBuffer");
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
    return 4096;
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
    every(POLL_MS, () => this.#poll());
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
