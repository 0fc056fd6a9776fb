// Moddable's legacy TCP Socket (documentation/network/network.md): callback(1) when connected,
// callback(2, n) when n bytes arrived, which can be read only inside that callback,
// callback(3, free) when sent, callback(-1 | -2) when the connection is gone. write() with no
// argument gives the free space. The Node side opens the real connection.
import { bytesOf, hexOf } from "./hex";
import { call, every } from "./board";
import { tlsRequest } from "./tls";

const POLL_MS = 2;

interface SocketEvent {
  message: number;
  value?: number;
  hex?: string;
}

export class Socket {
  callback: ((message: number, value?: number) => void) | undefined;
  #id: number | undefined;
  #data: Uint8Array | undefined;

  constructor(
    options: { host: string; port: number; secure?: Record<string, unknown> },
    secure = false,
  ) {
    this.#id = call<number>("tcp.open", {
      host: options.host,
      port: options.port,
      tls: secure ? tlsRequest(options.secure) : undefined,
    });
    every(POLL_MS, () => this.#poll());
  }

  read(type?: unknown, count?: number): unknown {
    const data = this.#data;
    if (type === undefined) return data ? data.length : 0;
    if (!data) throw new Error("read outside the data callback");
    if (type === Number) {
      const byte = data[0];
      this.#data = data.subarray(1);
      return byte;
    }
    if (type !== ArrayBuffer) throw new Error("unsupported read type");
    const take = count === undefined ? data.length : Math.min(count, data.length);
    this.#data = data.subarray(take);
    return data.slice(0, take).buffer;
  }

  write(...items: unknown[]): number | undefined {
    if (this.#id === undefined) throw new Error("socket closed");
    if (items.length === 0) return call<number>("tcp.free", { id: this.#id });
    const parts: string[] = [];
    for (const item of items) {
      if (item instanceof ArrayBuffer) parts.push(hexOf(new Uint8Array(item)));
      else throw new TypeError("this fake writes ArrayBuffers only");
    }
    call("tcp.write", { id: this.#id, hex: parts.join("") });
    return undefined;
  }

  close(): void {
    if (this.#id !== undefined) call("tcp.close", { id: this.#id });
    this.#id = undefined;
    this.callback = undefined;
  }

  #poll(): boolean {
    if (this.#id === undefined) return false;
    const events = call<SocketEvent[]>("tcp.poll", { id: this.#id });
    for (const event of events) {
      if (this.#id === undefined) return false;
      if (event.message === 2) {
        this.#data = bytesOf(event.hex!);
        if (this.callback) this.callback(2, this.#data.length);
        // Unread bytes are lost once the callback returns.
        this.#data = undefined;
      } else if (this.callback) this.callback(event.message, event.value);
      if (event.message < 0) {
        this.#id = undefined;
        return false;
      }
    }
    return true;
  }
}
