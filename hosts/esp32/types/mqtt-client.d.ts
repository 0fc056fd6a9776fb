// The ECMA-419 MQTT client (examples/io/tcp/mqttclient/mqttclient.js), as it behaves. It replaces
// @moddable/typings' embedded_network/mqtt/client.d.ts in the host's type-check, which declares
// onControl(opcode, message) although the client calls onControl(message) with one object, and
// types write()'s data as non-null although control packets are written with null.
declare module "embedded:network/mqtt/client" {
  export interface ControlMessage {
    /** MQTTClient.CONNACK, PUBACK, SUBACK... */
    operation: number;
    /** Packet id (PUBACK, SUBACK, UNSUBACK...). */
    id?: number;
    /** SUBACK: the granted QoS of each filter, 128 for a refusal. */
    payload?: number[];
    /** CONNACK return code (0: accepted; anything else closes the client). */
    returnCode?: number;
  }

  export interface ReadableInfo {
    /** More fragments of the same message follow. */
    more: boolean;
    /** On the first fragment of a message only. */
    topic?: string;
    QoS?: number;
    /** On the first fragment: the whole payload's length. */
    byteLength?: number;
  }

  export interface Options {
    host: string;
    port?: number;
    id?: string;
    user?: string;
    password?: string | ArrayBuffer;
    clean?: boolean;
    /** Milliseconds. */
    keepAlive?: number;
    will?: { topic: string; message: string | ArrayBuffer; QoS?: number; retain?: boolean };
    /** Constructed as `new dns.io(dns)`, then `resolve({host, onResolved(host, address), onError})`. */
    dns: { io: new (options: object) => { resolve(request: ResolveRequest): void } };
    /** Constructed as `new socket.io({...socket, address, host, port, onReadable, onWritable, onError})`. */
    socket: { io: new (options: never) => object } & Record<string, unknown>;
    onControl?: (this: MQTTClient, message: ControlMessage) => void;
    onReadable?: (this: MQTTClient, count: number, info: ReadableInfo) => void;
    onWritable?: (this: MQTTClient, count: number) => void;
    /** Called once on any failure (connect timeout, socket error, refused CONNACK); the client is closed after it. */
    onError?: (this: MQTTClient) => void;
  }

  export interface ResolveRequest {
    host: string;
    onResolved(host: string, address: string): void;
    onError(): void;
  }

  export interface WriteOptions {
    operation?: number;
    id?: number;
    topic?: string;
    QoS?: number;
    retain?: boolean;
    duplicate?: boolean;
    byteLength?: number;
    items?: { topic: string; QoS?: number }[];
  }

  export default class MQTTClient {
    constructor(options: Options);
    /** Payload bytes of the message being delivered, inside onReadable. */
    read(count: number): ArrayBuffer;
    /** Throws "overflow" when the packet does not fit the socket's free space. */
    write(data: ArrayBuffer | null, options: WriteOptions): number;
    close(): void;
    static readonly CONNECT: 1;
    static readonly CONNACK: 2;
    static readonly PUBLISH: 3;
    static readonly PUBACK: 4;
    static readonly PUBREC: 5;
    static readonly PUBREL: 6;
    static readonly PUBCOMP: 7;
    static readonly SUBSCRIBE: 8;
    static readonly SUBACK: 9;
    static readonly UNSUBSCRIBE: 10;
    static readonly UNSUBACK: 11;
    static readonly PINGREQ: 12;
    static readonly PINGRESP: 13;
    static readonly DISCONNECT: 14;
  }
}
