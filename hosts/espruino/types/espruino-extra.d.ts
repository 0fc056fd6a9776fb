// What the Espruino host uses and @types/espruino 1.95 does not declare (or declares for another
// board): require() of the built-in modules, Storage, net/tls sockets, crypto, the timers, console
// and the E functions. Signatures follow the Espruino 2v2x reference.

interface EspruinoStorage {
  /** A memory-mapped string of the file (or of `length` bytes from `offset`); undefined if absent. */
  read(name: string, offset?: number, length?: number): string | undefined;
  readJSON(name: string, noExceptions: boolean): unknown;
  /** Creates the file (of `size` bytes) when offset is 0; writes only into erased bytes otherwise. */
  write(name: string, data: string | Uint8Array, offset?: number, size?: number): boolean;
  writeJSON(name: string, data: unknown): boolean;
  erase(name: string): void;
  list(pattern?: RegExp): string[];
  getFree(): number;
}

interface EspruinoSocket {
  on(event: "data", listener: (data: string) => void): void;
  on(event: "close", listener: () => void): void;
  on(event: "error", listener: (error: { code?: number; message?: string }) => void): void;
  write(data: string): boolean;
  end(): void;
}

interface EspruinoNet {
  connect(options: Record<string, unknown>, onConnect: () => void): EspruinoSocket;
}

interface EspruinoHttpResponse {
  /** The status code as the server sent it: a string. */
  statusCode: string;
  headers: Record<string, string>;
  on(event: "data", listener: (data: string) => void): void;
  on(event: "close", listener: () => void): void;
  on(event: "error", listener: (error: { code?: number; message?: string }) => void): void;
}

interface EspruinoHttpRequest {
  on(event: "error", listener: (error: { code?: number; message?: string }) => void): void;
  end(): void;
}

interface EspruinoHttp {
  request(
    options: Record<string, unknown>,
    callback: (response: EspruinoHttpResponse) => void,
  ): EspruinoHttpRequest;
}

interface EspruinoCrypto {
  /** One-shot digests (there is no incremental form); absent on builds without USE_SHA256. */
  SHA256?: (data: string | Uint8Array) => ArrayBuffer;
}

declare function require(name: "Storage"): EspruinoStorage;
declare function require(name: "net" | "tls"): EspruinoNet;
declare function require(name: "http"): EspruinoHttp;
declare function require(name: "crypto"): EspruinoCrypto;

declare function setTimeout(callback: () => void, ms: number): number;

declare const console: { log(...values: unknown[]): void };

declare namespace E {
  /** Standard CRC-32 (IEEE, reflected, initial and final XOR 0xFFFFFFFF) of all the data, unsigned. */
  function CRC32(data: string | Uint8Array): number;
  function reboot(): void;
  /** A Uint8Array of each character's (or element's) low 8 bits: a copy, made natively. */
  function toUint8Array(data: string | Uint8Array): Uint8Array;
  /** A binary string of the bytes: the backing string itself for an unshifted Uint8Array. */
  function toString(data: Uint8Array): string;
}
