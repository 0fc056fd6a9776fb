// An Espruino device inside Node, for tests: each boot is a fresh node:vm realm from which what
// Espruino 2v2x lacks has been removed (docs/ENGINES.md), with Storage faked faithfully to its API
// and limits, and require("http"), require("net") and require("crypto") over Node's. Storage
// outlives the boots; E.reboot() ends a boot (its timers and sockets go with it).
import { createHash } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import * as vm from "node:vm";
import { crc32 } from "../../src/core/hash/crc32";

/** Storage on an ESP32 Espruino build: file names of at most 28 characters, a bounded area. */
const MAX_NAME = 28;
const ERASED = 0xff;
/** A TCP segment's payload on Ethernet/WiFi. */
const SEGMENT = 1460;

export class FakeStorage {
  readonly files = new Map<string, Uint8Array>();

  constructor(readonly capacity = 1024 * 1024) {}

  private check(name: string): void {
    if (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME)
      throw new Error(`Storage: bad file name ${JSON.stringify(name)}`);
  }

  private used(): number {
    let total = 0;
    for (const file of this.files.values()) total += file.length;
    return total;
  }

  read(name: string, offset = 0, length?: number): string | undefined {
    this.check(name);
    const file = this.files.get(name);
    if (!file) return undefined;
    const end = length === undefined ? file.length : Math.min(file.length, offset + length);
    return Buffer.from(file.subarray(offset, end)).toString("latin1");
  }

  /** Espruino's jsfWriteFile: offset 0 (re)creates the file; elsewhere only erased bytes. */
  write(name: string, data: unknown, offset = 0, size = 0): boolean {
    this.check(name);
    let bytes: Uint8Array;
    if (typeof data === "string") bytes = Buffer.from(data, "latin1");
    else if (ArrayBuffer.isView(data) || Array.isArray(data))
      bytes = Uint8Array.from(data as ArrayLike<number>);
    else {
      bytes = Buffer.from(JSON.stringify(data), "latin1");
      offset = 0;
      size = 0;
    }
    let file = this.files.get(name);
    if (offset === 0) {
      const length = size || bytes.length;
      if (length === 0) throw new Error("Can't create zero length file");
      if (this.used() - (file ? file.length : 0) + length > this.capacity)
        throw new Error("Unable to find or create file");
      file = new Uint8Array(length).fill(ERASED);
      this.files.set(name, file);
    }
    if (!file) throw new Error("Unable to find or create file");
    if (offset + bytes.length > file.length) throw new Error("Too much data for file size");
    for (let i = 0; i < bytes.length; i++)
      if (file[offset + i] !== ERASED) throw new Error("File already written with different data");
    file.set(bytes, offset);
    return true;
  }

  erase(name: string): void {
    this.check(name);
    this.files.delete(name);
  }

  list(): string[] {
    return [...this.files.keys()];
  }

  getFree(): number {
    return this.capacity - this.used();
  }
}

/** Runs inside the realm first: takes away what Espruino 2v2x does not have (docs/ENGINES.md). */
const RESTRICT = `(function () {
  var g = globalThis;
  ["Map", "Set", "WeakMap", "WeakSet", "WeakRef", "Symbol", "Proxy", "Reflect", "BigInt",
   "TextEncoder", "TextDecoder", "queueMicrotask", "setImmediate", "SharedArrayBuffer",
   "FinalizationRegistry", "AggregateError"].forEach(function (n) { delete g[n]; });
  var TypedArray = Object.getPrototypeOf(Uint8Array);
  [[Array, ["from", "of"]], [TypedArray, ["from", "of"]], [ArrayBuffer, ["isView"]],
   [Math, ["imul", "clz32", "trunc", "sign"]], [Object, ["freeze"]],
   [Promise, ["race", "allSettled", "any"]], [String, ["fromCodePoint", "raw"]],
   [Number, ["isInteger", "isFinite", "isNaN", "MAX_SAFE_INTEGER", "EPSILON"]],
   [Promise.prototype, ["finally"]], [ArrayBuffer.prototype, ["slice"]],
   [String.prototype, ["at", "trimStart", "codePointAt", "search"]], [Array.prototype, ["at", "flat"]]]
    .forEach(function (e) { e[1].forEach(function (n) { delete e[0][n]; }); });
  var applyOf = Function.prototype.call.bind(Function.prototype.apply);
  // A typed array's slice() gives a plain Array of its numbers.
  var arraySlice = Array.prototype.slice;
  Object.defineProperty(TypedArray.prototype, "slice", { configurable: true, writable: true,
    value: function (start, end) { return applyOf(arraySlice, this, [start, end]); } });
  // Trap 9: apply takes at most 256 arguments.
  Object.defineProperty(Function.prototype, "apply", { configurable: true, writable: true,
    value: function (self, args) {
      if (args && args.length > 256) throw new Error("Array passed to Function.apply is too big");
      return applyOf(this, self, args);
    } });
  // Trap 2: a method read through its prototype is undefined; instances still reach it. Writing
  // it (the prelude does) makes a plain property.
  var prototypes = [Object.prototype, Function.prototype, Array.prototype, String.prototype,
    Number.prototype, Boolean.prototype, TypedArray.prototype, Uint8Array.prototype,
    Promise.prototype, Date.prototype, RegExp.prototype, Error.prototype];
  function isPrototype(value) {
    for (var i = 0; i < prototypes.length; i++) if (prototypes[i] === value) return true;
    return false;
  }
  // Every built-in method reached from a value is counted, those the prelude copied onto their
  // prototype too: a budget per byte of an update shows JavaScript that runs per byte, which
  // Espruino, an interpreter, cannot afford.
  g.__builtinCalls = 0;
  // Read through \`owner\` (a prototype): undefined until the prelude writes it there.
  function method(owner, name, value, onPrototype) {
    Object.defineProperty(owner, name, {
      configurable: true,
      get: function () {
        if (isPrototype(this)) return onPrototype && this === owner ? value : undefined;
        g.__builtinCalls++;
        return value;
      },
      set: function (copy) {
        if (isPrototype(this)) method(this, name, copy, true);
        else Object.defineProperty(this, name, { value: copy, writable: true, configurable: true });
      },
    });
  }
  function trap(proto, name) {
    var d = Object.getOwnPropertyDescriptor(proto, name);
    if (name === "constructor" || typeof d.value !== "function") return;
    method(proto, name, d.value, false);
  }
  for (var p = 0; p < prototypes.length; p++) {
    var names = Object.getOwnPropertyNames(prototypes[p]);
    for (var n = 0; n < names.length; n++) trap(prototypes[p], names[n]);
  }
})();`;

export type BootEnd = "reboot" | "stopped" | "power cut";

export interface Boot {
  /** Settles when the application calls E.reboot(), or when stop() is called. */
  ended: Promise<BootEnd>;
  stop(): void;
  /** What the application printed. */
  console: string[];
  /** Built-in methods the boot's code has reached from a value (a string's charCodeAt...). */
  builtinCalls(): number;
}

export class EspruinoDevice {
  readonly storage = new FakeStorage();
  /** Every line printed, over all boots. */
  readonly console: string[] = [];
  boots = 0;
  /** Asked before every Storage write of the application: true cuts the power instead. */
  powerCut?: (name: string, offset: number, length: number) => boolean;

  /** A power-on: the realm runs Storage ".boot0", as Espruino does. */
  boot(): Boot {
    this.boots++;
    const storage = this.storage;
    const timers = new Set<NodeJS.Timeout>();
    const sockets = new Set<net.Socket>();
    const lines: string[] = [];
    let finish!: (end: BootEnd) => void;
    const ended = new Promise<BootEnd>((resolve) => (finish = resolve));
    let over = false;
    const end = (how: BootEnd) => {
      if (over) return;
      over = true;
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      finish(how);
    };
    // A boot that goes on after E.reboot() (flash, timers, sockets) is a bug in the code under test.
    const alive = () => {
      if (over) throw new Error("the device has rebooted");
    };

    const context = vm.createContext({});
    vm.runInContext(RESTRICT, context);
    const realmJson = vm.runInContext("JSON", context) as typeof JSON;
    const realmError = vm.runInContext("Error", context) as ErrorConstructor;
    const fail = (message: string) => new realmError(message);
    const realmUint8Array = vm.runInContext("Uint8Array", context) as Uint8ArrayConstructor;

    const storageApi = {
      read: (name: string, offset?: number, length?: number) => {
        alive();
        return storage.read(name, offset, length);
      },
      readJSON: (name: string, noExceptions?: boolean) => {
        alive();
        const text = storage.read(name);
        if (text === undefined) return undefined;
        try {
          return realmJson.parse(text);
        } catch (error) {
          if (noExceptions) return undefined;
          throw error;
        }
      },
      write: (name: string, data: unknown, offset?: number, size?: number) => {
        alive();
        const length =
          typeof data === "string" || ArrayBuffer.isView(data)
            ? (data as { length: number }).length
            : 0;
        if (this.powerCut && this.powerCut(name, offset || 0, length)) {
          end("power cut");
          throw fail("power cut");
        }
        try {
          return storage.write(name, data, offset, size);
        } catch (error) {
          throw fail((error as Error).message);
        }
      },
      writeJSON: (name: string, data: unknown) => {
        alive();
        return storage.write(name, realmJson.stringify(data));
      },
      erase: (name: string) => {
        alive();
        storage.erase(name);
      },
      list: () => storage.list(),
      getFree: () => storage.getFree(),
    };

    const connect = (options: { host: string; port: number }, onConnect: () => void) => {
      alive();
      const socket = net.connect({ host: options.host, port: options.port }, () => {
        if (!over) onConnect();
      });
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      return {
        on(event: string, listener: (value?: unknown) => void) {
          if (event === "data")
            socket.on("data", (data: Buffer) => !over && listener(data.toString("latin1")));
          else if (event === "close") socket.on("close", () => !over && listener());
          else if (event === "error")
            socket.on("error", (error) => !over && listener({ message: error.message }));
        },
        write(data: string) {
          alive();
          return socket.write(Buffer.from(data, "latin1"));
        },
        end() {
          socket.end();
        },
      };
    };

    const httpApi = {
      request(
        options: { host: string; port: number; path: string; headers?: Record<string, string> },
        callback: (response: unknown) => void,
      ) {
        alive();
        const listeners: Record<string, ((value?: unknown) => void)[]> = {};
        const request = http.request(
          {
            host: options.host,
            port: options.port,
            path: options.path,
            method: "GET",
            headers: options.headers,
          },
          (response) => {
            if (over) return response.destroy();
            sockets.add(response.socket);
            // Espruino keeps the header names as sent and the status code as a string.
            const headers: Record<string, string> = {};
            for (let i = 0; i < response.rawHeaders.length; i += 2)
              headers[response.rawHeaders[i]] = response.rawHeaders[i + 1];
            callback({
              statusCode: String(response.statusCode),
              headers,
              on(event: string, listener: (value?: unknown) => void) {
                // Espruino hands the body over as the network delivers it: a segment at a time.
                if (event === "data")
                  response.on("data", (data: Buffer) => {
                    for (let at = 0; at < data.length && !over; at += SEGMENT)
                      listener(data.subarray(at, at + SEGMENT).toString("latin1"));
                  });
                else if (event === "close") response.on("close", () => !over && listener());
                else if (event === "error")
                  response.on("error", (error) => !over && listener({ message: error.message }));
              },
            });
          },
        );
        request.on("error", (error) => {
          if (!over)
            for (const listener of listeners.error || []) listener({ message: error.message });
        });
        return {
          on(event: string, listener: (value?: unknown) => void) {
            (listeners[event] = listeners[event] || []).push(listener);
          },
          end() {
            request.end();
          },
        };
      },
    };

    const modules: Record<string, unknown> = {
      Storage: storageApi,
      http: httpApi,
      net: { connect },
      crypto: {
        SHA256: (message: string) => {
          const digest = createHash("sha256").update(Buffer.from(message, "latin1")).digest();
          return new Uint8Array(digest).buffer;
        },
      },
    };
    const globals: Record<string, unknown> = {
      require: (name: string) => {
        if (!(name in modules)) throw fail(`Module ${name} not found`);
        return modules[name];
      },
      E: {
        // Espruino's E.CRC32: the standard CRC-32 of all the data, as an unsigned number.
        CRC32: (data: string) => crc32(Buffer.from(data, "latin1")),
        // On a board it never returns; here the boot is over and nothing of it runs any more.
        reboot: () => end("reboot"),
        toUint8Array: (data: string | Uint8Array) =>
          new realmUint8Array(
            typeof data === "string" ? Buffer.from(data, "latin1") : Uint8Array.from(data),
          ),
        toString: (data: Uint8Array) => Buffer.from(data).toString("latin1"),
      },
      getTime: () => Date.now() / 1000,
      setTimeout: (callback: () => void, ms: number) => {
        alive();
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!over) callback();
        }, ms);
        timers.add(timer);
        return timer;
      },
      clearTimeout: (timer: NodeJS.Timeout) => {
        if (timer === undefined) throw fail("clearTimeout(undefined) not allowed");
        clearTimeout(timer);
        timers.delete(timer);
      },
      console: {
        log: (...values: unknown[]) => {
          if (over) return;
          const line = values.map(String).join(" ");
          lines.push(line);
          this.console.push(line);
        },
      },
    };
    for (const name of Object.keys(globals)) context[name] = globals[name];
    context.global = vm.runInContext("globalThis", context);
    const boot0 = storage.read(".boot0");
    try {
      if (boot0 === undefined) throw new Error("no .boot0 in Storage");
      vm.runInContext(boot0, context, { filename: ".boot0" });
    } catch (error) {
      if (!over) {
        lines.push(`Uncaught ${String(error)}`);
        this.console.push(`Uncaught ${String(error)}`);
      }
    }
    return {
      ended,
      stop: () => end("stopped"),
      console: lines,
      builtinCalls: () => vm.runInContext("__builtinCalls", context) as number,
    };
  }
}
