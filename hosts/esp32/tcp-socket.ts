// An ECMA-419 TCP socket (the interface the ECMA-419 MQTT client drives) over Moddable's legacy
// Socket, or SecureSocket for TLS. The legacy stack is the one the "http" Request uses: a
// Moddable app can carry only one of the two TLS stacks (tls.json and tls_419.json both claim the
// "ssl/session" module), so MQTT over TLS goes through this adapter rather than through
// embedded:io/socket/tcp/tls. The legacy socket also resolves host names itself.
//
// A legacy socket's data can be read only inside its callback, while the MQTT client reads later
// (from timers): every dataReceived is copied into a queue here, at once.
import { Socket } from "socket";
import SecureSocket from "securesocket";

export interface LegacyTcpOptions {
  host: string;
  port: number;
  /** SecureSocket's `secure` dictionary; absent for plain TCP. */
  secure?: Record<string, unknown>;
  onReadable?: (count: number) => void;
  onWritable?: (count: number) => void;
  onError?: () => void;
}

/** What both legacy socket classes offer (their typings differ in details). */
interface LegacyStream {
  callback: (message: number, value?: number) => void;
  read(type: typeof ArrayBuffer): ArrayBuffer;
  /** Without data: the bytes that can be written now. */
  write(): number;
  write(...data: ArrayBuffer[]): void;
  close(): void;
}

const CONNECT = 1;
const DATA_RECEIVED = 2;
const DATA_SENT = 3;

type Bytes = ArrayBuffer | ArrayBufferView;

function view(data: Bytes): Uint8Array {
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

export class LegacyTcp {
  /** "number" makes read() return one byte; set by the client as it parses. */
  format: "buffer" | "number" = "buffer";
  private readonly socket: LegacyStream;
  private readonly received: Uint8Array[] = [];
  private available = 0;
  /** Parts written with {more: true}, sent together by the next write without it. */
  private readonly pending: ArrayBuffer[] = [];
  private pendingBytes = 0;
  private failed = false;

  constructor(options: LegacyTcpOptions) {
    const settings = { host: options.host, port: options.port, secure: options.secure };
    this.socket = (options.secure
      ? new SecureSocket(settings)
      : new Socket(settings)) as unknown as LegacyStream;
    this.socket.callback = (message, value) => {
      try {
        this.dispatch(options, message, value);
      } catch {
        // An exception that leaves a host callback stops the app. On Moddable's Linux target a
        // refused connection is reported as CONNECT, then write() throws "write failed".
        this.fail(options);
      }
    };
  }

  private dispatch(options: LegacyTcpOptions, message: number, value?: number): void {
    if (message === CONNECT) {
      if (options.onWritable) options.onWritable(this.socket.write());
    } else if (message === DATA_RECEIVED) {
      const bytes = new Uint8Array(this.socket.read(ArrayBuffer));
      if (bytes.length === 0) return;
      this.received.push(bytes);
      this.available += bytes.length;
      if (options.onReadable) options.onReadable(this.available);
    } else if (message === DATA_SENT) {
      if (options.onWritable) options.onWritable(value as number);
    } else if (message < 0) this.fail(options);
  }

  private fail(options: LegacyTcpOptions): void {
    if (this.failed) return;
    this.failed = true;
    if (options.onError) options.onError();
  }

  read(what?: number | Bytes): number | ArrayBuffer | undefined {
    if (this.format === "number") {
      if (this.available === 0) return undefined;
      const byte = this.received[0][0];
      this.consume(1);
      return byte;
    }
    if (what === undefined || typeof what === "number") {
      const count = Math.min(what === undefined ? this.available : what, this.available);
      const out = new Uint8Array(count);
      this.copyInto(out);
      return out.buffer;
    }
    const target = view(what);
    const count = Math.min(target.length, this.available);
    this.copyInto(target.subarray(0, count));
    return count;
  }

  /** Returns the bytes that can still be written. */
  write(data: Bytes, options?: { more?: boolean }): number {
    const bytes = view(data).slice();
    this.pending.push(bytes.buffer as ArrayBuffer);
    this.pendingBytes += bytes.length;
    if (!(options && options.more)) {
      const parts = this.pending.splice(0, this.pending.length);
      this.pendingBytes = 0;
      this.socket.write(...parts);
    }
    return Math.max(0, this.socket.write() - this.pendingBytes);
  }

  close(): void {
    this.failed = true;
    this.socket.close();
  }

  private copyInto(target: Uint8Array): void {
    let at = 0;
    while (at < target.length) {
      const head = this.received[0];
      const take = Math.min(head.length, target.length - at);
      target.set(head.subarray(0, take), at);
      at += take;
      this.consume(take);
    }
  }

  private consume(count: number): void {
    const head = this.received[0];
    if (count === head.length) this.received.shift();
    else this.received[0] = head.subarray(count);
    this.available -= count;
  }
}
