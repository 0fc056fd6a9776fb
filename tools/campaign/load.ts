// Load: many simulated devices in one process update at once through mosquitto, driven by the local
// AWS IoT Jobs cloud, all downloading from one firmware server. Reports the wall time until every
// job ended and the memory the devices added to the process, per device.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runDevice } from "../../hosts/node/device";
import { FlashFile } from "../../hosts/node/flash";
import { startMosquitto } from "../../test/support/mosquitto";
import { createAwsBackend, mqttIdentity } from "../../src/backends/aws/index";
import { firmwareJobDocument, startAwsCloud } from "../clouds/aws/index";
import { startFirmwareServer } from "../fwserver/index";
import { buildAppImage } from "../image/build";

export interface LoadOptions {
  devices: number;
  imageSize: number;
  timeoutMs: number;
}

export interface LoadFigure {
  devices: number;
  imageSize: number;
  succeeded: number;
  statuses: Record<string, number>;
  /** From the deployments to the last final status. */
  wallMs: number;
  /** Per device: the time from its deployment to SUCCEEDED. */
  medianDeviceMs: number;
  maxDeviceMs: number;
  /** Peak growth of the process while the devices ran, divided by their number. */
  rssPerDeviceKiB: number;
  heapPerDeviceKiB: number;
}

export async function loadTest(options: LoadOptions): Promise<LoadFigure> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-load-"));
  const broker = await startMosquitto();
  const server = await startFirmwareServer({ root: dir });
  const aws = await startAwsCloud({ brokerUrl: broker.url });
  let powerOff!: () => void;
  const off = new Promise<void>((resolve) => (powerOff = resolve));
  const devices: Promise<void>[] = [];
  try {
    const update = buildAppImage({ version: "1.1.0", size: options.imageSize, seed: 4 });
    fs.writeFileSync(path.join(dir, "update.bin"), update);
    const template = path.join(dir, "template.flash");
    FlashFile.create(template, {
      size: 1024 * 1024,
      factoryImage: buildAppImage({ version: "1.0.0", size: 32 * 1024 }),
    }).close();
    global.gc?.();
    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakHeap = baseline.heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 50);
    const things = Array.from({ length: options.devices }, (_, i) => `load-${i}`);
    for (const thingName of things) {
      const flashPath = path.join(dir, `${thingName}.flash`);
      fs.copyFileSync(template, flashPath);
      const config = { thingName };
      devices.push(
        runDevice({
          flashPath,
          cloud: {
            brokerUrl: broker.url,
            identity: mqttIdentity(config),
            createBackend: (deps) => createAwsBackend(config, deps),
          },
          agent: { backoff: { baseMs: 200, maxMs: 2000 }, allowPlaintext: true },
          powerOff: off,
          onEvent: () => {},
        }),
      );
    }
    const document = firmwareJobDocument("plain", {
      url: `${server.url}/update.bin`,
      size: update.length,
      version: "1.1.0",
      sha256: createHash("sha256").update(update).digest("hex"),
    });
    const started = Date.now();
    const ends = await Promise.all(
      things.map(async (thingName) => {
        const jobId = await aws.deploy({ thingName, document });
        const deployedAt = Date.now();
        const end = await aws
          .waitForStatus(
            thingName,
            jobId,
            ["SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT"],
            options.timeoutMs,
          )
          .then((e) => e.status as string)
          .catch(() => "no final status");
        return { status: end, ms: Date.now() - deployedAt };
      }),
    );
    const wallMs = Date.now() - started;
    clearInterval(sampler);
    const statuses: Record<string, number> = {};
    for (const e of ends) statuses[e.status] = (statuses[e.status] ?? 0) + 1;
    const times = ends.map((e) => e.ms).sort((a, b) => a - b);
    return {
      devices: options.devices,
      imageSize: options.imageSize,
      succeeded: statuses.SUCCEEDED ?? 0,
      statuses,
      wallMs,
      medianDeviceMs: times[Math.floor(times.length / 2)],
      maxDeviceMs: times[times.length - 1],
      rssPerDeviceKiB: Math.round((peakRss - baseline.rss) / 1024 / options.devices),
      heapPerDeviceKiB: Math.round((peakHeap - baseline.heapUsed) / 1024 / options.devices),
    };
  } finally {
    powerOff();
    await Promise.allSettled(devices);
    await aws.close();
    await server.close();
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
