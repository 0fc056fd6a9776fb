// The Node side of the ESP32 board the esp32 host runs on in the tests: the XS engine (xsnap, with
// the harness of test/xs) runs the host's modules, bundled with fakes of the Moddable modules
// (hosts/esp32/test/fakes) that reach this side through host operations. Here the board is the simulator's
// flash file (hosts/node: partition table, otadata and the ESP-IDF bootloader rules), an NVS,
// and real network connections (HTTP, TCP, MQTT through mqtt.js) to real servers on loopback.
// A boot is one xsnap worker: RAM is lost at every reset, the flash and NVS are not.
import { createHash, createPrivateKey, X509Certificate, type Hash } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { preloadPlugin } from "../xs/preload";
import mqtt from "mqtt";
import { boot, verifyAppImage, type BootResult } from "../../hosts/node/bootloader";
import { FlashFile } from "../../hosts/node/flash";
import {
  activeOtadata,
  entryValid,
  markActive,
  OtaState,
  readOtadata,
  selectOtadata,
  setBootSlot,
  slotOfSeq,
  stateOfSlot,
} from "../../hosts/node/otadata";
import {
  otadataPartition,
  otaSlots,
  readPartitionTable,
  type PartitionEntry,
} from "../../hosts/node/partitions";
import { readSimBehaviour } from "../../tools/image/build";
import { HOST_OPERATIONS, openXs, type Outcome } from "../xs/engine";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The XS side of these tests: the fakes and the case modules (type-checked with the host). */
export const XS_SOURCES = path.join(ROOT, "hosts", "esp32", "test");
const SECTOR = 4096;
/** lwIP's TCP_SND_BUF on Moddable's ESP32 builds: what a legacy socket's write() reports free. */
const TCP_SEND_BUFFER = 5744;
const ESP_ERR_OTA_ROLLBACK_FAILED = 0x1505;

type Stored = { type: string; value: unknown };

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function bytes(text: string): Buffer {
  return Buffer.from(text, "hex");
}

/** One board: its flash, NVS and console survive resets; everything else is per boot. */
export class Esp32Board {
  readonly flash: FlashFile;
  readonly nvs: Record<string, Record<string, Stored>> = {};
  readonly console: string[] = [];
  readonly resources: Record<string, Uint8Array> = {};
  /** What the app's settings are (mc/config). */
  config: Record<string, unknown> = {};
  /** Values a test hands to the case it runs. */
  test: Record<string, unknown> = {};
  /** Asks the app case to end (it polls): the test has seen what it waited for. */
  stopRequested = false;
  booted!: BootResult;
  /** esp_restart calls, in order. */
  restarts = 0;
  /** Set by a power cut: until the next boot every operation fails, as nothing runs. */
  halted = false;
  /** Where the File module's files live (the Linux target's slots and otadata). */
  readonly fileRoot: string;
  /** Called before each file write; true cuts the power before it happens. */
  onFileWrite: ((file: string, position: number, data: Buffer) => boolean) | undefined;
  /** Flash erases and writes of this boot, for tests that cut the power after some of them. */
  onFlashOperation:
    ((kind: "erase" | "write", offset: number, length: number) => number | void) | undefined;
  private readonly slots: PartitionEntry[];
  private readonly otadata: PartitionEntry;

  constructor(
    readonly flashPath: string,
    factoryImage: Uint8Array,
    size = 1024 * 1024,
  ) {
    this.flash = FlashFile.create(flashPath, { factoryImage, size });
    this.fileRoot = path.join(path.dirname(flashPath), "files") + path.sep;
    fs.mkdirSync(this.fileRoot);
    this.flash.beforeOperation = (kind, _index, offset, length) =>
      this.onFlashOperation ? this.onFlashOperation(kind, offset, length) : undefined;
    const table = readPartitionTable(this.flash);
    this.slots = otaSlots(table);
    this.otadata = otadataPartition(table);
  }

  /** Power-on: the ESP-IDF bootloader picks and checks the slot, as on the board. */
  powerOn(): BootResult {
    this.halted = false;
    this.stopRequested = false;
    this.booted = boot(this.flash);
    return this.booted;
  }

  get running(): PartitionEntry {
    return this.slots[this.booted.slotIndex];
  }

  get next(): PartitionEntry {
    return this.slots[(this.booted.slotIndex + 1) % this.slots.length];
  }

  partition(name: string): PartitionEntry {
    if (name === "running") return this.running;
    if (name === "nextota") return this.next;
    throw new Error("can't find partition");
  }

  /** The running image's state in otadata, as esp_ota_get_state_partition gives it. */
  runningState(): number | undefined {
    return stateOfSlot(
      readOtadata(this.flash, this.otadata),
      this.booted.slotIndex,
      this.slots.length,
    );
  }

  /** Where a slot starts in the flash. */
  slotOffset(label: string): number {
    return this.slots.find((p) => p.label === label)!.offset;
  }

  /** Puts bytes in a slot as an earlier update would have left them. */
  fillSlot(label: string, data: Uint8Array): void {
    const part = this.slots.find((p) => p.label === label)!;
    this.flash.erase(part.offset, Math.ceil(data.length / SECTOR) * SECTOR);
    this.flash.write(part.offset, data);
  }

  /** Reads a whole slot's image prefix, e.g. to check what a download left there. */
  readSlot(label: string, offset: number, length: number): Uint8Array {
    const part = this.slots.find((p) => p.label === label)!;
    return this.flash.read(part.offset + offset, length);
  }

  close(): void {
    this.flash.close();
  }

  /** The host operations of the fakes, run on this board. */
  operations(): Record<string, (argument: never) => unknown> {
    const inPartition = (name: string, offset: number, length: number): PartitionEntry => {
      const part = this.partition(name);
      if (offset < 0 || length < 0 || offset + length > part.size)
        throw new Error(`out of range: ${length} bytes at ${offset} of ${name} (${part.size})`);
      return part;
    };
    return {
      "esp32.partition": ({ path: name }: { path: string }) => ({
        size: this.partition(name).size,
        blockLength: SECTOR,
      }),
      "esp32.read": ({
        path: name,
        offset,
        length,
      }: {
        path: string;
        offset: number;
        length: number;
      }) => hex(this.flash.read(inPartition(name, offset, length).offset + offset, length)),
      "esp32.write": ({
        path: name,
        offset,
        hex: data,
      }: {
        path: string;
        offset: number;
        hex: string;
      }) => {
        const buffer = bytes(data);
        this.flash.write(inPartition(name, offset, buffer.length).offset + offset, buffer);
      },
      "esp32.erase": ({
        path: name,
        offset,
        length,
      }: {
        path: string;
        offset: number;
        length: number;
      }) => this.flash.erase(inPartition(name, offset, length).offset + offset, length),
      // esp_ota_begin: refused while the running image is on trial; erases up front unless sequential.
      "esp32.otaBegin": ({
        sequential,
        eraseLength,
      }: {
        sequential: boolean;
        eraseLength: number;
      }) => {
        if (this.runningState() === OtaState.PENDING_VERIFY) throw new Error("begin failed");
        if (sequential) return;
        const size = eraseLength === 0 ? this.next.size : Math.ceil(eraseLength / SECTOR) * SECTOR;
        this.flash.erase(this.next.offset, size);
      },
      // esp_ota_end (image check) then esp_ota_set_boot_partition.
      "esp32.otaEnd": () => {
        if (!verifyAppImage(this.flash, this.next).ok) throw new Error("end failed");
        setBootSlot(this.flash, this.otadata, this.slots.indexOf(this.next), this.slots.length);
      },
      "esp32.ffi": ({ name }: { name: string }) => this.ffi(name),
      "esp32.nvs.get": ({ domain, key }: { domain: string; key: string }) =>
        this.nvs[domain]?.[key] ?? null,
      "esp32.nvs.set": ({
        domain,
        key,
        stored,
      }: {
        domain: string;
        key: string;
        stored: Stored;
      }) => {
        (this.nvs[domain] ??= {})[key] = stored;
      },
      "esp32.nvs.delete": ({ domain, key }: { domain: string; key: string }) => {
        if (this.nvs[domain]) delete this.nvs[domain][key];
      },
      "esp32.nvs.keys": ({ domain }: { domain: string }) => Object.keys(this.nvs[domain] ?? {}),
      "esp32.console": ({ text }: { text: string }) => {
        this.console.push(text);
        if (process.env.OTAFLOW_XS_CONSOLE) process.stdout.write(text);
      },
      "esp32.resource": ({ name }: { name: string }) => {
        const resource = this.resources[name];
        if (!resource) throw new Error(`resource ${name} not found`);
        return hex(resource);
      },
      "esp32.resource.exists": ({ name }: { name: string }) => name in this.resources,
      "esp32.config": () => this.config,
      "esp32.test": ({ key }: { key: string }) => this.test[key],
      "esp32.testLength": ({ key }: { key: string }) => (this.test[key] as Uint8Array).length,
      "esp32.testBytes": ({
        key,
        offset,
        length,
      }: {
        key: string;
        offset: number;
        length: number;
      }) => hex((this.test[key] as Uint8Array).subarray(offset, offset + length)),
      "esp32.stopRequested": () => this.stopRequested,
      ...this.fileOperations(),
      "esp32.selfTest": () =>
        readSimBehaviour(this.flash.read(this.running.offset, this.booted.image.length)),
    };
  }

  /** The File module's operations, confined to fileRoot. */
  private fileOperations(): Record<string, (argument: never) => unknown> {
    const inRoot = (file: string): string => {
      const resolved = path.resolve(file);
      if (!resolved.startsWith(this.fileRoot)) throw new Error(`${file} is outside the file root`);
      return resolved;
    };
    return {
      "file.open": ({ path: file, write }: { path: string; write: boolean }) => {
        const resolved = inRoot(file);
        if (!fs.existsSync(resolved)) {
          if (!write) throw new Error("file not found");
          fs.writeFileSync(resolved, "");
        }
      },
      "file.length": ({ path: file }: { path: string }) => fs.statSync(inRoot(file)).size,
      "file.read": ({
        path: file,
        position,
        length,
      }: {
        path: string;
        position: number;
        length: number;
      }) => {
        const out = Buffer.alloc(length);
        const fd = fs.openSync(inRoot(file), "r");
        try {
          const read = fs.readSync(fd, out, 0, length, position);
          return out.subarray(0, read).toString("hex");
        } finally {
          fs.closeSync(fd);
        }
      },
      "file.write": ({
        path: file,
        position,
        hex: data,
      }: {
        path: string;
        position: number;
        hex: string;
      }) => {
        const buffer = bytes(data);
        if (this.onFileWrite?.(file, position, buffer)) {
          this.halted = true;
          throw new Error(`power cut: before a write of ${buffer.length} bytes to ${file}`);
        }
        const fd = fs.openSync(inRoot(file), "r+");
        try {
          fs.writeSync(fd, buffer, 0, buffer.length, position);
        } finally {
          fs.closeSync(fd);
        }
      },
      "file.exists": ({ path: file }: { path: string }) => fs.existsSync(inRoot(file)),
      "file.delete": ({ path: file }: { path: string }) => {
        const resolved = inRoot(file);
        if (!fs.existsSync(resolved)) return false;
        fs.rmSync(resolved);
        return true;
      },
      "file.rename": ({ from, to }: { from: string; to: string }) => {
        const target = to.startsWith("/") ? to : path.join(path.dirname(from), to);
        fs.renameSync(inRoot(from), inRoot(target));
        return true;
      },
      "file.mkdir": ({ path: directory }: { path: string }) => fs.mkdirSync(inRoot(directory)),
    };
  }

  private ffi(name: string): unknown {
    switch (name) {
      case "esp_restart":
        this.restarts++;
        return null;
      case "esp_ota_mark_app_valid_cancel_rollback":
        markActive(this.flash, this.otadata, true, this.slots.length);
        return 0;
      case "esp_ota_mark_app_invalid_rollback_and_reboot": {
        if (!this.rollbackPossible()) return ESP_ERR_OTA_ROLLBACK_FAILED;
        markActive(this.flash, this.otadata, false, this.slots.length);
        this.restarts++;
        return 0;
      }
      case "otaflow_running_state": {
        const state = this.runningState();
        return state === undefined ? -2 : state === OtaState.UNDEFINED ? -1 : state;
      }
      case "otaflow_running_label":
        return this.running.label;
      case "otaflow_next_label":
        return this.next.label;
    }
    throw new Error(`no native function ${name}`);
  }

  /** esp_ota_check_rollback_is_possible, as hosts/node/boot-control.ts does it. */
  private rollbackPossible(): boolean {
    const two = readOtadata(this.flash, this.otadata);
    const valid: [boolean, boolean] = [entryValid(two[0]), entryValid(two[1])];
    const active = selectOtadata(two, valid, true);
    if (active === -1 || activeOtadata(two) === -1) return false;
    const last = active === 0 ? 1 : 0;
    if (!valid[last]) return false;
    return verifyAppImage(this.flash, this.slots[slotOfSeq(two[last].seq, this.slots.length)]).ok;
  }
}

// ---------------------------------------------------------------------------------------------
// Network: real connections made on this side, their events queued until the fakes poll.

interface TlsRequest {
  ca?: string;
  cert?: string;
  key?: string;
  verify: boolean;
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** SecureSocket's DER material as Node's tls options. */
interface TlsOptions {
  rejectUnauthorized: boolean;
  servername: string;
  ca?: string;
  cert?: string;
  key?: string;
}

function tlsOptions(request: TlsRequest, host: string): TlsOptions {
  const options: TlsOptions = { rejectUnauthorized: request.verify, servername: host };
  if (request.ca) options.ca = new X509Certificate(bytes(request.ca)).toString();
  if (request.cert) options.cert = pem("CERTIFICATE", bytes(request.cert));
  if (request.key) {
    const der = bytes(request.key);
    const key = ["pkcs8", "sec1", "pkcs1"]
      .map((type) => {
        try {
          return createPrivateKey({ key: der, format: "der", type: type as "pkcs8" });
        } catch {
          return undefined;
        }
      })
      .find(Boolean);
    if (!key) throw new Error("client key is not a DER private key");
    options.key = key.export({ format: "pem", type: "pkcs8" }) as string;
  }
  return options;
}

interface Connection<E> {
  events: E[];
  close(): void;
}

let nextConnection = 1;
const connections = new Map<number, Connection<unknown>>();

function open<E>(connection: Connection<E>): number {
  const id = nextConnection++;
  connections.set(id, connection as Connection<unknown>);
  return id;
}

/** Hex characters of data in one poll's reply (see CHUNK_BYTES in the fakes' board.ts). */
const POLL_HEX = 2048;

/** The events queued for a connection, data split so that one reply stays small. */
function take(id: number): unknown[] {
  const connection = connections.get(id);
  if (!connection) return [{ message: -2 }];
  const events = connection.events as { hex?: string; kind?: string }[];
  const out: unknown[] = [];
  let budget = POLL_HEX;
  while (events.length > 0 && budget > 0) {
    const event = events[0];
    // MQTT messages go whole: the fake hands each one over as a unit.
    if (event.hex === undefined || event.kind !== undefined || event.hex.length <= budget) {
      out.push(events.shift());
      budget -= event.hex ? event.hex.length : 0;
    } else {
      out.push({ ...event, hex: event.hex.slice(0, budget) });
      event.hex = event.hex.slice(budget);
      budget = 0;
    }
  }
  return out;
}

function closeConnection(id: number): void {
  connections.get(id)?.close();
  connections.delete(id);
}

/** Every MQTT client the fakes opened, for tests that break a connection. */
export const mqttClients = new Map<number, mqtt.MqttClient>();
/** Every packet the fake MQTT client was asked to send, in order. */
export const mqttWrites: MqttPacket[] = [];

const networkOperations: Record<string, (argument: never) => unknown> = {
  "http.open": (request: {
    host: string;
    port: number;
    path: string;
    method: string;
    headers: string[];
    tls?: TlsRequest;
  }) => {
    const events: object[] = [];
    const headers: Record<string, string> = { connection: "close" };
    for (let i = 0; i + 1 < request.headers.length; i += 2)
      headers[request.headers[i]] = request.headers[i + 1];
    const options = {
      host: request.host,
      port: request.port,
      path: request.path,
      method: request.method,
      headers,
      agent: false as const,
    };
    let failed = false;
    const fail = () => {
      if (!failed) events.push({ message: -2 });
      failed = true;
    };
    const req = request.tls
      ? https.request({ ...options, ...tlsOptions(request.tls, request.host) })
      : http.request(options);
    req.on("response", (res) => {
      events.push({ message: 1, value: res.statusCode });
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
        events.push({
          message: 2,
          value: res.rawHeaders[i].toLowerCase(),
          etc: res.rawHeaders[i + 1],
        });
      events.push({ message: 3 });
      res.on("data", (chunk: Buffer) => events.push({ message: 4, hex: chunk.toString("hex") }));
      res.on("end", () => {
        if (!failed) events.push({ message: 5 });
        failed = true;
      });
      res.on("error", fail);
      res.on("aborted", fail);
    });
    req.on("error", fail);
    req.end();
    return open({ events, close: () => req.destroy() });
  },
  "http.poll": ({ id }: { id: number }) => take(id),
  "http.close": ({ id }: { id: number }) => closeConnection(id),

  "tcp.open": ({ host, port, tls: secure }: { host: string; port: number; tls?: TlsRequest }) => {
    const events: object[] = [];
    const socket = secure
      ? tls.connect({ host, port, ...tlsOptions(secure, host) })
      : net.connect({ host, port });
    let gone = false;
    const end = (message: number) => {
      if (!gone) events.push({ message });
      gone = true;
    };
    socket.on(secure ? "secureConnect" : "connect", () => events.push({ message: 1 }));
    socket.on("data", (chunk: Buffer) => events.push({ message: 2, hex: chunk.toString("hex") }));
    socket.on("drain", () =>
      events.push({ message: 3, value: TCP_SEND_BUFFER - socket.writableLength }),
    );
    socket.on("end", () => end(-1));
    socket.on("close", () => end(-1));
    socket.on("error", () => end(-2));
    const id = open({ events, close: () => socket.destroy() });
    tcpSockets.set(id, socket);
    return id;
  },
  "tcp.poll": ({ id }: { id: number }) => take(id),
  "tcp.free": ({ id }: { id: number }) =>
    Math.max(0, TCP_SEND_BUFFER - (tcpSockets.get(id)?.writableLength ?? 0)),
  "tcp.write": ({ id, hex: data }: { id: number; hex: string }) => {
    tcpSockets.get(id)?.write(bytes(data));
  },
  "tcp.close": ({ id }: { id: number }) => {
    tcpSockets.delete(id);
    closeConnection(id);
  },

  "mqtt.open": (request: {
    host: string;
    port: number;
    clientId: string;
    username?: string;
    password?: string;
    clean: boolean;
    keepAliveMs?: number;
    tls?: TlsRequest;
  }) => {
    const events: object[] = [];
    const client = mqtt.connect({
      protocol: request.tls ? "mqtts" : "mqtt",
      host: request.host,
      port: request.port,
      clientId: request.clientId,
      username: request.username,
      password: request.password,
      clean: request.clean,
      keepalive: Math.ceil((request.keepAliveMs ?? 0) / 1000),
      reconnectPeriod: 0,
      protocolVersion: 4,
      ...(request.tls ? tlsOptions(request.tls, request.host) : {}),
    });
    let gone = false;
    const end = () => {
      if (!gone) events.push({ kind: "error" });
      gone = true;
      client.end(true);
    };
    client.on("connect", () => events.push({ kind: "connack" }));
    client.on("message", (topic, payload, packet) =>
      events.push({ kind: "message", topic, qos: packet.qos, hex: payload.toString("hex") }),
    );
    client.on("close", end);
    client.on("error", end);
    const id = open({ events, close: () => client.end(true) });
    mqttClients.set(id, client);
    return id;
  },
  "mqtt.poll": ({ id }: { id: number }) => take(id),
  "mqtt.write": ({ id, packet }: { id: number; packet: MqttPacket }) => {
    mqttWrites.push(packet);
    const client = mqttClients.get(id);
    const connection = connections.get(id);
    if (!client || !connection) return;
    const events = connection.events as object[];
    switch (packet.operation) {
      case 3: {
        if (dropOnPublish) {
          // The packet left the board and the network failed under it: no PUBACK can come.
          dropOnPublish = false;
          dropMqttConnections();
          return;
        }
        const qos = (packet.QoS ?? 0) as 0 | 1;
        client.publish(
          packet.topic!,
          bytes(packet.hex ?? ""),
          { qos, dup: packet.duplicate },
          (error) => {
            if (!error && qos === 1) events.push({ kind: "puback", id: packet.id });
          },
        );
        return;
      }
      case 8: {
        const items = packet.items ?? [];
        const map = Object.fromEntries(
          items.map((item) => [item.topic, { qos: (item.QoS ?? 0) as 0 | 1 }]),
        );
        client.subscribe(map, (error, granted) => {
          if (error) return;
          events.push({
            kind: "suback",
            id: packet.id,
            granted: items.map((item) => granted?.find((g) => g.topic === item.topic)?.qos ?? 128),
          });
        });
        return;
      }
      case 10:
        client.unsubscribe(
          (packet.items ?? []).map((item) => item.topic),
          () => events.push({ kind: "unsuback", id: packet.id }),
        );
        return;
      case 14:
        client.end();
        return;
    }
  },
  "mqtt.close": ({ id }: { id: number }) => {
    mqttClients.delete(id);
    closeConnection(id);
  },
  "esp32.digest.begin": ({ algorithm }: { algorithm: string }) => {
    const id = nextConnection++;
    digests.set(id, createHash(algorithm));
    return id;
  },
  "esp32.digest.update": ({ id, hex: data }: { id: number; hex: string }) => {
    digests.get(id)!.update(bytes(data));
  },
  "esp32.digest.end": ({ id }: { id: number }) => {
    const digest = digests.get(id)!;
    digests.delete(id);
    return digest.digest("hex");
  },
  /** A test's own operation: the network fails under every MQTT connection. */
  "test.dropMqttOnPublish": () => (dropOnPublish = true),
};

export interface MqttPacket {
  operation: number;
  id?: number;
  topic?: string;
  QoS?: number;
  duplicate?: boolean;
  items?: { topic: string; QoS?: number }[];
  hex?: string;
}

const tcpSockets = new Map<number, net.Socket>();
const digests = new Map<number, Hash>();

/** The next PUBLISH the board writes breaks the network under it. */
let dropOnPublish = false;

/** Breaks the network under every MQTT connection the fakes have open (the broker stays up). */
export function dropMqttConnections(): number {
  let dropped = 0;
  for (const client of mqttClients.values()) {
    client.stream.destroy();
    dropped++;
  }
  return dropped;
}

// ---------------------------------------------------------------------------------------------
// Bundles and boots.

/** Makes `board` the one the fakes reach (host operations are global to the test process). */
export function useBoard(board: Esp32Board): void {
  const operations = board.operations();
  for (const name of Object.keys(operations)) {
    HOST_OPERATIONS[name] = (argument: never) => {
      if (board.halted) throw new Error("power cut: the board is off");
      try {
        return operations[name](argument);
      } catch (error) {
        if (error instanceof Error && (error as { powerCut?: boolean }).powerCut) {
          board.halted = true;
          throw new Error(`power cut: ${error.message}`, { cause: error });
        }
        throw error;
      }
    };
  }
  Object.assign(HOST_OPERATIONS, networkOperations);
}

const FAKES: Record<string, string> = {
  timer: "timer",
  time: "time",
  preference: "preference",
  crypt: "crypt",
  http: "http",
  socket: "socket",
  securesocket: "securesocket",
  Resource: "resource",
  flash: "flash-legacy",
  ota: "ota",
  "mc/ffi": "ffi",
  "embedded:storage/flash": "flash",
  "embedded:update": "update",
  "embedded:network/mqtt/client": "mqtt-client",
  file: "file",
  "mc/config": "mc-config",
};

/** The fakes in place of the Moddable modules: every specifier of FAKES resolves to fakes/. */
const fakeModules: esbuild.Plugin = {
  name: "moddable-fakes",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const fake = FAKES[args.path];
      return fake ? { path: path.join(XS_SOURCES, "fakes", fake + ".ts") } : undefined;
    });
  },
};

/**
 * The case modules with the harness runtime, as one script for openXs (test/xs/engine.ts); built
 * here rather than with bundleCases because the Moddable specifiers must resolve to the fakes.
 */
export async function bundleEsp32Cases(modules: { name: string; file: string }[]): Promise<string> {
  const runtime = path.join(ROOT, "test", "xs", "runtime.ts");
  const lines = [`import { install } from ${JSON.stringify(runtime)};`];
  modules.forEach((module, i) => lines.push(`import m${i} from ${JSON.stringify(module.file)};`));
  lines.push(
    `install({ ${modules.map((m, i) => `${JSON.stringify(m.name)}: m${i}`).join(", ")} });`,
  );
  const result = await esbuild.build({
    stdin: {
      contents: lines.join("\n"),
      resolveDir: XS_SOURCES,
      loader: "ts",
      sourcefile: "esp32-cases.ts",
    },
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    platform: "neutral",
    mainFields: ["module", "main"],
    banner: { js: '"use strict";' },
    logLevel: "silent",
    plugins: [fakeModules, preloadPlugin()],
  });
  return result.outputFiles[0].text;
}

/** Powers the board on and runs one case in a fresh XS engine: one boot, until the case ends. */
export async function runBoot(
  board: Esp32Board,
  bundle: string,
  caseName: string,
  timeoutMs = 60_000,
): Promise<Outcome> {
  board.powerOn();
  useBoard(board);
  const engine = await openXs(bundle, "otaflow-esp32");
  try {
    return await engine.run(caseName, timeoutMs);
  } finally {
    await engine.close();
    for (const id of [...connections.keys()]) closeConnection(id);
    mqttClients.clear();
    tcpSockets.clear();
  }
}

/** A fresh board in a temporary directory, with `factoryImage` in ota_0. */
export function newBoard(factoryImage: Uint8Array): Esp32Board {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-esp32-"));
  return new Esp32Board(path.join(directory, "board.flash"), factoryImage);
}

/** Removes a board's temporary directory. */
export function disposeBoard(board: Esp32Board): void {
  board.close();
  fs.rmSync(path.dirname(board.flashPath), { recursive: true, force: true });
}
