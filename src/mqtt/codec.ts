// MQTT 3.1.1 packets as bytes (OASIS mqtt-v3.1.1, section 2 and 3): what a client sends, and the
// reading of what a broker sends, for platforms that have a byte stream but no MQTT client
// (Espruino's net and tls sockets). Every packet is built in one Uint8Array of its final size.
import { utf8Decode, utf8Encode } from "../core/util/bytes";

export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

/** The largest remaining length the four-byte encoding allows (2.2.3). */
export const MAX_REMAINING_LENGTH = 268435455;

/** One packet read from the stream: fixed header's type and flags, then the rest. */
export interface Packet {
  type: number;
  flags: number;
  body: Uint8Array;
}

export interface ConnectFields {
  clientId: string;
  username?: string;
  password?: string;
  /** Seconds; 0 turns keep-alive off. */
  keepAlive: number;
  clean: boolean;
}

export interface PublishFields {
  topic: string;
  payload: Uint8Array;
  qos: number;
  /** Packet identifier, for QoS 1 and 2 only. */
  id: number;
  duplicate: boolean;
  retain: boolean;
}

export interface Connack {
  sessionPresent: boolean;
  /** 0: accepted; 1-5: refused (3.2.2.3). */
  code: number;
}

export interface Suback {
  id: number;
  /** Granted QoS of each filter, in order; 128 (0x80) for a refused one. */
  codes: number[];
}

function lengthOfLength(length: number): number {
  if (length < 128) return 1;
  if (length < 16384) return 2;
  if (length < 2097152) return 3;
  return 4;
}

/** A packet of `bodyLength` bytes after its fixed header; writes the header, returns the packet. */
class Writer {
  readonly bytes: Uint8Array;
  at = 0;
  constructor(first: number, bodyLength: number) {
    if (bodyLength > MAX_REMAINING_LENGTH)
      throw new Error(`MQTT packet too large: ${bodyLength} bytes`);
    this.bytes = new Uint8Array(1 + lengthOfLength(bodyLength) + bodyLength);
    this.bytes[this.at++] = first;
    let rest = bodyLength;
    do {
      let digit = rest % 128;
      rest = Math.floor(rest / 128);
      if (rest > 0) digit |= 0x80;
      this.bytes[this.at++] = digit;
    } while (rest > 0);
  }
  u8(value: number): void {
    this.bytes[this.at++] = value;
  }
  u16(value: number): void {
    this.bytes[this.at++] = (value >> 8) & 0xff;
    this.bytes[this.at++] = value & 0xff;
  }
  raw(data: Uint8Array): void {
    this.bytes.set(data, this.at);
    this.at += data.length;
  }
  /** A UTF-8 string or binary field: two bytes of length, then the bytes (1.5.3). */
  field(data: Uint8Array): void {
    if (data.length > 65535) throw new Error(`MQTT field too long: ${data.length} bytes`);
    this.u16(data.length);
    this.raw(data);
  }
}

export function encodeConnect(fields: ConnectFields): Uint8Array {
  const id = utf8Encode(fields.clientId);
  const user = fields.username === undefined ? undefined : utf8Encode(fields.username);
  const password = fields.password === undefined ? undefined : utf8Encode(fields.password);
  let flags = fields.clean ? 0x02 : 0;
  let length = 10 + 2 + id.length;
  if (user) {
    flags |= 0x80;
    length += 2 + user.length;
  }
  if (password) {
    flags |= 0x40;
    length += 2 + password.length;
  }
  const out = new Writer(CONNECT << 4, length);
  // Protocol name "MQTT", level 4 (3.1.1).
  out.raw(new Uint8Array([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags]));
  out.u16(fields.keepAlive);
  out.field(id);
  if (user) out.field(user);
  if (password) out.field(password);
  return out.bytes;
}

export function encodePublish(fields: PublishFields): Uint8Array {
  const topic = utf8Encode(fields.topic);
  const qos = fields.qos & 3;
  const first =
    (PUBLISH << 4) | (fields.duplicate ? 0x08 : 0) | (qos << 1) | (fields.retain ? 1 : 0);
  const out = new Writer(first, 2 + topic.length + (qos > 0 ? 2 : 0) + fields.payload.length);
  out.field(topic);
  if (qos > 0) out.u16(fields.id);
  out.raw(fields.payload);
  return out.bytes;
}

export function encodeSubscribe(id: number, items: { topic: string; qos: number }[]): Uint8Array {
  const topics: Uint8Array[] = [];
  let length = 2;
  for (let i = 0; i < items.length; i++) {
    topics.push(utf8Encode(items[i].topic));
    length += 2 + topics[i].length + 1;
  }
  const out = new Writer((SUBSCRIBE << 4) | 2, length);
  out.u16(id);
  for (let i = 0; i < items.length; i++) {
    out.field(topics[i]);
    out.u8(items[i].qos & 3);
  }
  return out.bytes;
}

export function encodeUnsubscribe(id: number, filters: string[]): Uint8Array {
  const topics: Uint8Array[] = [];
  let length = 2;
  for (let i = 0; i < filters.length; i++) {
    topics.push(utf8Encode(filters[i]));
    length += 2 + topics[i].length;
  }
  const out = new Writer((UNSUBSCRIBE << 4) | 2, length);
  out.u16(id);
  for (let i = 0; i < topics.length; i++) out.field(topics[i]);
  return out.bytes;
}

/** PUBACK for a received QoS 1 PUBLISH. */
export function encodePuback(id: number): Uint8Array {
  return new Uint8Array([PUBACK << 4, 2, (id >> 8) & 0xff, id & 0xff]);
}

/** PINGREQ or DISCONNECT: a fixed header and nothing else. */
export function encodeEmpty(type: number): Uint8Array {
  return new Uint8Array([type << 4, 0]);
}

function malformed(what: string): Error {
  return new Error(`malformed MQTT ${what}`);
}

export function decodeConnack(body: Uint8Array): Connack {
  if (body.length !== 2) throw malformed("CONNACK");
  return { sessionPresent: (body[0] & 1) === 1, code: body[1] };
}

/** The packet identifier of a PUBACK or an UNSUBACK. */
export function decodeAck(body: Uint8Array): number {
  if (body.length < 2) throw malformed("acknowledgement");
  return (body[0] << 8) | body[1];
}

export function decodeSuback(body: Uint8Array): Suback {
  if (body.length < 3) throw malformed("SUBACK");
  const codes: number[] = [];
  for (let i = 2; i < body.length; i++) codes.push(body[i]);
  return { id: (body[0] << 8) | body[1], codes };
}

/** A PUBLISH's fields; the payload is a view of `body`, not a copy. */
export function decodePublish(flags: number, body: Uint8Array): PublishFields {
  const qos = (flags >> 1) & 3;
  if (body.length < 2) throw malformed("PUBLISH");
  const topicEnd = 2 + ((body[0] << 8) | body[1]);
  const payloadAt = topicEnd + (qos > 0 ? 2 : 0);
  if (qos === 3 || payloadAt > body.length) throw malformed("PUBLISH");
  return {
    topic: utf8Decode(body.subarray(2, topicEnd)),
    payload: body.subarray(payloadAt),
    qos,
    id: qos > 0 ? (body[topicEnd] << 8) | body[topicEnd + 1] : 0,
    duplicate: (flags & 0x08) !== 0,
    retain: (flags & 1) !== 0,
  };
}

/**
 * Splits a byte stream into packets, whatever the pieces it arrives in. A packet that lies whole
 * in one piece is a view of it; one that spans pieces is gathered into a buffer of its exact size
 * once its length is known, so a large message costs one copy, not one per piece.
 */
export class PacketReader {
  /** Fixed header bytes seen so far of the packet being read (at most 5). */
  private header: number[] = [];
  private body: Uint8Array | undefined;
  private filled = 0;
  private first = 0;

  /** Feeds bytes; returns the packets they complete, in order. Throws on a malformed length. */
  push(data: Uint8Array): Packet[] {
    const packets: Packet[] = [];
    let at = 0;
    while (at < data.length) {
      if (this.body) {
        const take = Math.min(this.body.length - this.filled, data.length - at);
        this.body.set(data.subarray(at, at + take), this.filled);
        this.filled += take;
        at += take;
        if (this.filled === this.body.length) {
          packets.push(this.packet(this.body));
          this.body = undefined;
        }
        continue;
      }
      this.header.push(data[at++]);
      const length = this.remainingLength();
      if (length < 0) continue;
      if (length <= data.length - at) {
        packets.push(this.packet(data.subarray(at, at + length)));
        at += length;
      } else {
        this.body = new Uint8Array(length);
        this.filled = 0;
      }
    }
    return packets;
  }

  /** The remaining length once the fixed header is complete, -1 while it is not. */
  private remainingLength(): number {
    const header = this.header;
    if (header.length < 2) return -1;
    let length = 0;
    let multiplier = 1;
    for (let i = 1; i < header.length; i++) {
      length += (header[i] & 0x7f) * multiplier;
      multiplier *= 128;
      if ((header[i] & 0x80) === 0) {
        this.first = header[0];
        this.header = [];
        return length;
      }
    }
    if (header.length === 5) throw malformed("remaining length");
    return -1;
  }

  private packet(body: Uint8Array): Packet {
    return { type: this.first >> 4, flags: this.first & 0x0f, body };
  }
}
