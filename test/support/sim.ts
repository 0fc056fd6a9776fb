// Runs a simulated device in-process on a temporary flash file, with a firmware server beside it.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import type { AgentConfig } from "../../src/core/agent/agent";
import type { Backend } from "../../src/core/backend";
import type { Offer } from "../../src/core/offer";
import type { Chip } from "../../hosts/node/chips";
import { runDevice, type DeviceEvent, type TlsMaterial } from "../../hosts/node/device";
import { buildAppImage, type AppImageOptions } from "../../tools/image/build";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver/index";
import { ScriptedCloud } from "./scripted-cloud";

/** A report that ends an update for the cloud: succeeded, failed or rejected. */
export function finalReport(event: DeviceEvent): boolean {
  return event.event === "report" && ["succeeded", "failed", "rejected"].includes(event.status);
}

/** What a cloud reduced to its contract (ScriptedCloud) offers for `image`. */
export function offerOf(image: SimImage, version: string, extra: Partial<Offer> = {}): Offer {
  return {
    backend: "scripted",
    id: `job-${version}`,
    version,
    size: image.size,
    source: { kind: "http", url: image.url },
    hashes: { md5: image.md5 },
    context: {},
    ...extra,
  };
}

export interface SimImage {
  file: string;
  url: string;
  size: number;
  md5: string;
  sha256: string;
  bytes: Uint8Array;
}

export class SimBench {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-sim-"));
  readonly flashPath = path.join(this.dir, "device.flash");
  server!: FirmwareServer;

  /** `tls`: the firmware server's certificate and key, for https:// (plain http:// otherwise). */
  static async start(options: { tls?: { cert: string; key: string } } = {}): Promise<SimBench> {
    const bench = new SimBench();
    bench.server = await startFirmwareServer({ root: bench.dir, tls: options.tls });
    return bench;
  }

  image(name: string, options: AppImageOptions): SimImage {
    return this.file(name, buildAppImage(options));
  }

  /** Serves `bytes` as `name` (a signed or tampered image). */
  file(name: string, bytes: Uint8Array): SimImage {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, bytes);
    return {
      file,
      url: `${this.server.url}/${name}`,
      size: bytes.length,
      md5: createHash("md5").update(bytes).digest("hex"),
      sha256: createHash("sha256").update(bytes).digest("hex"),
      bytes,
    };
  }

  /**
   * Runs the device until `until` returns true for an event (then powers it off), or until the
   * timeout. Returns every event of the run.
   */
  async run(options: {
    factory?: SimImage;
    backend: () => Backend;
    agent?: Partial<AgentConfig>;
    /** What the device trusts (and shows) for https://. */
    tls?: TlsMaterial;
    /** The board's chip (default the ESP32). */
    chip?: Chip;
    until: (event: DeviceEvent, events: DeviceEvent[]) => boolean;
    timeoutMs?: number;
  }): Promise<DeviceEvent[]> {
    const events: DeviceEvent[] = [];
    let powerOff!: () => void;
    const off = new Promise<void>((resolve) => (powerOff = resolve));
    const timer = setTimeout(powerOff, options.timeoutMs ?? 20_000);
    await runDevice({
      flashPath: this.flashPath,
      factoryImagePath: options.factory?.file,
      chip: options.chip,
      cloud: {
        brokerUrl: "mqtt://127.0.0.1:1",
        identity: { clientId: "sim" },
        tls: options.tls,
        createBackend: () => options.backend(),
      },
      agent: {
        backoff: { baseMs: 10, maxMs: 50 },
        selfTestTimeoutMs: 3000,
        // The bench's own server on loopback: plain http:// is allowed explicitly, as a device's
        // development settings would.
        allowPlaintext: this.server.url.startsWith("http:"),
        ...options.agent,
      },
      watchdogMs: 300,
      powerOff: off,
      onEvent: (event) => {
        events.push(event);
        if (options.until(event, events)) powerOff();
      },
    });
    clearTimeout(timer);
    return events;
  }

  /** A fresh flash file with `factory` in ota_0, booted once with nothing offered. */
  async provision(factory: SimImage): Promise<void> {
    fs.rmSync(this.flashPath, { force: true });
    await this.run({
      factory,
      backend: () => new ScriptedCloud().backend(),
      until: (event) => event.event === "boot",
    });
  }

  async close(): Promise<void> {
    await this.server.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function boots(events: DeviceEvent[]): { version: string; slot: string; state: string }[] {
  return events.flatMap((e) =>
    e.event === "boot" ? [{ version: e.version, slot: e.slot, state: e.state }] : [],
  );
}
