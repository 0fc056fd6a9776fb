// Moddable's legacy HTTP client Request (modules/network/http/http.js), with the real request made
// by Node on the Node side. Callback messages as at runtime: status 1, header 2 (lower-case name),
// headersComplete 3, responseFragment 4 (the byte count; read them inside the callback, unread
// bytes are skipped), responseComplete 5, error -2, after which the request is closed.
import { bytesOf } from "./hex";
import { call, every } from "./board";
import SecureSocket from "./securesocket";
import { tlsRequest } from "./tls";

const POLL_MS = 2;

interface HttpEvent {
  message: number;
  value?: number | string;
  etc?: string;
  hex?: string;
}

export class Request {
  static readonly requestFragment = 0;
  static readonly status = 1;
  static readonly header = 2;
  static readonly headersComplete = 3;
  static readonly responseFragment = 4;
  static readonly responseComplete = 5;
  static readonly error = -2;

  callback: ((message: number, value?: unknown, etc?: unknown) => void) | undefined;
  #id: number | undefined;
  #fragment: Uint8Array | undefined;

  constructor(options: Record<string, unknown>) {
    const secure = options.Socket === SecureSocket;
    this.#id = call<number>("http.open", {
      host: options.host,
      port: options.port === undefined ? 80 : options.port,
      path: options.path === undefined ? "/" : options.path,
      method: options.method === undefined ? "GET" : options.method,
      headers: options.headers || [],
      tls: secure ? tlsRequest(options.secure as Record<string, unknown>) : undefined,
    });
    every(POLL_MS, () => this.#poll());
  }

  read(type?: unknown, count?: number): unknown {
    const fragment = this.#fragment;
    if (type === undefined) return fragment ? fragment.length : 0;
    if (!fragment) throw new Error("nothing to read outside responseFragment");
    if (type !== ArrayBuffer) throw new Error("this fake reads ArrayBuffers only");
    const take = count === undefined ? fragment.length : Math.min(count, fragment.length);
    this.#fragment = fragment.subarray(take);
    return fragment.slice(0, take).buffer;
  }

  close(): void {
    if (this.#id !== undefined) call("http.close", { id: this.#id });
    this.#id = undefined;
    this.callback = undefined;
  }

  #poll(): boolean {
    if (this.#id === undefined) return false;
    for (const event of call<HttpEvent[]>("http.poll", { id: this.#id })) {
      const callback = this.callback;
      if (this.#id === undefined || !callback) return false;
      if (event.message === Request.responseFragment) {
        this.#fragment = bytesOf(event.hex!);
        callback(event.message, this.#fragment.length);
        this.#fragment = undefined;
      } else callback(event.message, event.value, event.etc);
      if (event.message === Request.responseComplete || event.message < 0) {
        this.close();
        return false;
      }
    }
    return true;
  }
}
