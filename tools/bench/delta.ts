// Delta updates: bytes over the air and time to update over a slow link, patch against full image,
// for a small change (the vectors' 1.0.0 -> 1.0.1) and a larger one (a new size: 256 KiB -> 288
// KiB, the filler shifted); and the applier's compute in XS per MiB of target.
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { nodeClock } from "../../hosts/node/clock";
import { createNodeHttpClient } from "../../hosts/node/http";
import { appendedSha256 } from "../../src/core/delta/base";
import { DeltaSource } from "../../src/core/delta/source";
import { httpSource } from "../../src/core/download/http-source";
import { Journal, imageIdentity } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import type { Logger } from "../../src/core/ports";
import type { ByteSource } from "../../src/core/source";
import { transfer } from "../../src/core/transfer";
import { toHex } from "../../src/core/util/bytes";
import { bundleCases, openXs } from "../../test/xs/engine";
import { MemorySlot, MemoryStore } from "../../test/xs/memory";
import { createPatch } from "../delta/create";
import { startFirmwareServer } from "../fwserver/index";
import { buildAppImage } from "../image/build";
import { ROUNDS } from "./delta-workload";
import { figure, MiB } from "./section";

export const title = "Delta updates: bytes over the air, a slow link, XS compute";

const ONE_WAY_MS = 10;
/** 1 Mbit/s: a good cellular link; NB-IoT is slower still, which only favours the patch. */
const BYTES_PER_SECOND = 128 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));

/** TCP to `port` with `delayMs` each way and the server-to-client direction capped in rate. */
async function slowLink(port: number) {
  const sockets = new Set<net.Socket>();
  let carried = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    let free = 0;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      socket.setNoDelay(true);
    }
    client.on("data", (data) =>
      setTimeout(() => upstream.destroyed || upstream.write(data), ONE_WAY_MS),
    );
    upstream.on("data", (data) => {
      carried += data.length;
      const now = Date.now();
      free = Math.max(free, now) + (1000 * data.length) / BYTES_PER_SECOND;
      setTimeout(() => client.destroyed || client.write(data), free - now + ONE_WAY_MS);
    });
    upstream.on("close", () =>
      setTimeout(() => client.destroy(), Math.max(0, free - Date.now()) + ONE_WAY_MS),
    );
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    take: () => {
      const n = carried;
      carried = 0;
      return n;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const logger: Logger = { log: () => {} };

interface Pair {
  name: string;
  base: Uint8Array;
  target: Uint8Array;
}

/** Time (ms) and bytes carried to put `pair.target` in a slot, by the full image or the patch. */
async function update(
  pair: Pair,
  dir: string,
  link: Awaited<ReturnType<typeof slowLink>>,
  delta: boolean,
) {
  const http = createNodeHttpClient();
  const url = (file: string) => `http://127.0.0.1:${link.port}/${file}`;
  const source = (file: string, size: number): ByteSource =>
    httpSource({
      http,
      clock: nodeClock,
      url: url(file),
      expectedSize: size,
      trust: { allowPlaintext: true },
    });
  const patch = fs.readFileSync(path.join(dir, `${pair.name}.patch`));
  const target = pair.target;
  const store = new MemoryStore();
  const offer: Offer = {
    backend: "bench",
    id: pair.name,
    version: "x",
    size: target.length,
    source: { kind: "http", url: url(`${pair.name}.bin`) },
    hashes: { sha256: toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", target))) },
    context: {},
  };
  const base = {
    size: pair.base.length,
    read: async (o: number, n: number) => pair.base.slice(o, o + n),
  };
  link.take();
  const started = Date.now();
  const result = await transfer({
    offer,
    source: delta
      ? new DeltaSource({
          patch: source(`${pair.name}.patch`, patch.length),
          patchSize: patch.length,
          targetSize: target.length,
          format: "esp_delta_ota",
          base,
          baseSha256: await appendedSha256(base),
          identity: imageIdentity(offer),
          sectorSize: 4096,
          store,
          logger,
        })
      : source(`${pair.name}.bin`, target.length),
    slot: new MemorySlot(4 * MiB),
    journal: new Journal(store, logger),
    clock: nodeClock,
    logger,
    config: {
      journalIntervalBytes: 64 * 1024,
      maxAttempts: 3,
      backoff: { baseMs: 100, maxMs: 1000 },
    },
  });
  const ms = Date.now() - started;
  if (toHex(result.digests.sha256!) !== offer.hashes.sha256)
    throw new Error(`${pair.name}: wrong target`);
  return { ms, bytes: link.take() };
}

async function xsCompute(): Promise<{ apply: number; sha256: number; made: number }> {
  const xs = await openXs(
    await bundleCases([{ name: "delta", file: path.join(here, "delta-workload.ts") }]),
    "otaflow-bench",
  );
  try {
    const run = async (name: string) => {
      const outcome = await xs.run(`delta/${name}`, 600_000);
      if (!outcome.ok) throw new Error(`XS ${name}: ${outcome.error}`);
      return {
        result: JSON.parse(outcome.result) as { made?: number },
        compute: outcome.compute ?? 0,
      };
    };
    await run("load");
    const apply = await run("apply");
    const sha256 = await run("sha256");
    return { apply: apply.compute, sha256: sha256.compute, made: apply.result.made ?? 0 };
  } finally {
    await xs.close();
  }
}

export async function run(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-delta-bench-"));
  const base = buildAppImage({ version: "1.0.0", size: 262144, seed: 1 });
  const pairs: Pair[] = [
    { name: "small", base, target: buildAppImage({ version: "1.0.1", size: 262144, seed: 1 }) },
    { name: "large", base, target: buildAppImage({ version: "1.1.0", size: 294912, seed: 1 }) },
  ];
  const server = await startFirmwareServer({ root: dir });
  const link = await slowLink(server.port);
  const rows: string[] = [];
  try {
    for (const pair of pairs) {
      const patch = await createPatch(pair.base, pair.target, {
        compression: "heatshrink",
        container: "esp_delta_ota",
      });
      fs.writeFileSync(path.join(dir, `${pair.name}.patch`), patch);
      fs.writeFileSync(path.join(dir, `${pair.name}.bin`), pair.target);
      const full = await update(pair, dir, link, false);
      const delta = await update(pair, dir, link, true);
      rows.push(
        `| ${pair.name === "small" ? "1.0.0 → 1.0.1 (66 bytes differ)" : "1.0.0 → 1.1.0, 256 → 288 KiB"} | ` +
          `${pair.target.length} | ${patch.length} (${figure((100 * patch.length) / pair.target.length, 3)} %) | ` +
          `${full.bytes} | ${delta.bytes} | ${full.ms} | ${delta.ms} | ${figure(full.ms / delta.ms, 3)} |`,
      );
    }
  } finally {
    await link.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const xs = await xsCompute();
  const mib = xs.made / MiB;
  return [
    `Images made by \`otaflow image --seed 1\` (the vectors' pair, and 1.1.0 at \`--size 294912\`);`,
    "patches by `otaflow delta --container esp_delta_ota` (heatshrink 8/7; detools makes 4,187 bytes",
    "for the small pair, ours 4,188 without the container). Each update runs the core's transfer",
    "loop (HTTP Range source, SHA-256 of the target, journal) into a slot in memory, through a TCP",
    `proxy adding ${ONE_WAY_MS} ms each way and capping the download at ${BYTES_PER_SECOND / 1024} KiB/s;`,
    '"bytes carried" counts the server-to-device bytes through the proxy (HTTP headers included).',
    "",
    "| change | target (bytes) | patch (bytes, % of target) | bytes carried, full | bytes carried, delta | full (ms) | delta (ms) | full / delta time |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `XS compute (xsnap's meter summed over the case, intrinsics frozen as in a Moddable app): applying the esp_delta_ota`,
    `vector ${ROUNDS} times (${figure(mib, 3)} MiB of target, patch fed in 1 KiB pieces, base read`,
    "from memory) against the portable SHA-256 of 1 MiB in the same run (tools/bench/delta-workload.ts):",
    "",
    "| work | XS compute | per MiB of output | ratio to SHA-256 of 1 MiB |",
    "|---|---|---|---|",
    `| apply the patch | ${xs.apply} | ${Math.round(xs.apply / mib)} | ${figure(xs.apply / mib / xs.sha256, 3)} |`,
    `| portable SHA-256 | ${xs.sha256} | ${xs.sha256} | 1 |`,
  ].join("\n");
}
