// The esp32 host's ports, one by one, inside the real XS engine (xsnap) with its intrinsics frozen
// as in a Moddable app, over faithful fakes of the Moddable modules: the slot writers against the
// simulator's NOR flash and ESP-IDF otadata rules, boot control, NVS, crypt digests, the http
// Request against a real Range server, MQTT against a real broker, the legacy socket adapter
// against a real TCP peer. The cases are in hosts/esp32/test/cases-ports.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { OtaState } from "../../hosts/node/otadata";
import { startEmbeddedBroker, type RunningBroker } from "../../tools/broker/index";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver/index";
import { buildAppImage, DEFAULT_PROJECT } from "../../tools/image/build";
import type { Outcome } from "../xs/engine";
import {
  bundleEsp32Cases,
  disposeBoard,
  mqttWrites,
  newBoard,
  runBoot,
  XS_SOURCES,
  type Esp32Board,
} from "./esp32-board";

const bundle = bundleEsp32Cases([{ name: "ports", file: path.join(XS_SOURCES, "cases-ports.ts") }]);
const factory = buildAppImage({ version: "1.0.0", size: 24 * 1024 });
const update = buildAppImage({ version: "1.1.0", size: 40 * 1024 + 16 });
/** What an earlier update left in a slot: longer than the new image. */
const older = buildAppImage({ version: "0.9.0", size: 64 * 1024 });
const boards: Esp32Board[] = [];
after(() => boards.forEach(disposeBoard));

function board(): Esp32Board {
  const created = newBoard(factory);
  created.test.image = update;
  boards.push(created);
  return created;
}

function result<T = unknown>(outcome: Outcome): T {
  if (!outcome.ok) assert.fail(outcome.error);
  return JSON.parse(outcome.result) as T;
}

async function run<T = unknown>(on: Esp32Board, name: string): Promise<T> {
  return result<T>(await runBoot(on, await bundle, `ports/${name}`));
}

function md5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

describe("esp32 update slot (embedded:update)", () => {
  it("writes an image and stages it: the bootloader boots it next, pending verification", async () => {
    const b = board();
    const written = await run<Record<string, unknown>>(
      b,
      "update slot: a whole image, then staged",
    );
    assert.deepEqual(written, {
      name: "ota_1",
      size: b.next.size,
      sectorSize: 4096,
      readBack: true,
    });
    const booted = b.powerOn();
    assert.equal(booted.slot, "ota_1");
    assert.equal(booted.image.version, "1.1.0");
    assert.equal(booted.state, "pending-verify");
  });

  it("erases what an older image left in the slot, just ahead of the writes", async () => {
    const b = board();
    b.fillSlot("ota_1", older);
    await run(b, "update slot: a whole image, then staged");
    assert.deepEqual(b.readSlot("ota_1", 0, update.length), update);
    assert.equal(b.powerOn().image.version, "1.1.0");
  });

  it("resumes after a reboot at the journal's offset, keeping the bytes before it", async () => {
    const b = board();
    b.test.until = 3 * 4096 + 500;
    assert.equal(await run(b, "update slot: the first part of an image"), "ota_1");
    // A reboot: the next boot opens a new updater, which must not wipe what is there.
    b.test.offset = 3 * 4096;
    assert.deepEqual(await run(b, "update slot: resume at an offset after a reboot, then staged"), {
      prefixKept: true,
    });
    assert.deepEqual(b.readSlot("ota_1", 0, update.length), update);
    const booted = b.powerOn();
    assert.equal(booted.image.version, "1.1.0");
  });

  it("stages after a reboot an image written in the boot before", async () => {
    const b = board();
    b.test.until = update.length;
    await run(b, "update slot: the first part of an image");
    assert.equal(await run(b, "update slot: stage after a reboot"), "ota_1");
    assert.equal(b.powerOn().image.version, "1.1.0");
  });

  it("refuses what ESP-IDF would refuse, before it reaches the flash", async () => {
    const refusals = await run<Record<string, string>>(board(), "update slot: refusals");
    assert.match(refusals.tooLarge, /^offer-too-large: an image of \d+ bytes does not fit ota_1/);
    assert.match(refusals.unaligned, /^internal: resume offset 100 is not a multiple of 4096/);
    assert.match(refusals.badMagic, /^image-invalid: OTA image has invalid magic byte .* 0x0\)/);
    assert.match(refusals.tooLong, /^body-long: /);
    assert.match(refusals.short, /^body-short: ota_1 holds 4096 of the \d+ bytes announced/);
  });

  it("cannot begin while the running image has not confirmed itself", async () => {
    const b = board();
    await run(b, "update slot: a whole image, then staged");
    const refusal = await run<string>(
      b,
      "update slot: begin while the running image is pending verification",
    );
    assert.match(refusal, /^flash: cannot open ota_0 for update \(begin failed\)/);
  });
});

describe("esp32 update slot (legacy ota module)", () => {
  it("drops the bytes sent again after a dropped connection, in the same boot", async () => {
    const b = board();
    b.fillSlot("ota_1", older);
    assert.deepEqual(await run(b, "legacy slot: a dropped connection resumes in the same boot"), {
      readBack: true,
    });
    assert.equal(b.powerOn().image.version, "1.1.0");
  });

  it("says it cannot resume after a reboot, nor stage what an earlier boot wrote", async () => {
    const refusals = await run<Record<string, string>>(
      board(),
      "legacy slot: no resume after a reboot",
    );
    assert.match(
      refusals.begin,
      /^flash: the legacy ota module writes ota_1 from byte 0 only and cannot resume at byte 8192/,
    );
    assert.match(
      refusals.stage,
      /^flash: the legacy ota module can stage only an image written since this boot/,
    );
  });
});

describe("esp32 boot control (FFI)", () => {
  it("describes the running image from its app descriptor and otadata", async () => {
    const b = board();
    assert.deepEqual(await run(b, "boot control: the running image"), {
      slot: "ota_0",
      version: "1.0.0",
      project: DEFAULT_PROJECT,
      secureVersion: 0,
      // Flashed over serial with otadata blank: the bootloader wrote an entry, VALID, at first boot.
      state: "valid",
    });
    await run(b, "update slot: a whole image, then staged");
    assert.deepEqual(await run(b, "boot control: the running image"), {
      slot: "ota_1",
      version: "1.1.0",
      project: DEFAULT_PROJECT,
      secureVersion: 0,
      state: "pending-verify",
    });
  });

  it("confirms the new image: it stays", async () => {
    const b = board();
    await run(b, "update slot: a whole image, then staged");
    assert.equal(await run(b, "boot control: confirm"), "valid");
    assert.equal(b.runningState(), OtaState.VALID);
    assert.equal(b.powerOn().slot, "ota_1");
  });

  it("rolls back: marks the image invalid and restarts into the previous one", async () => {
    const b = board();
    await run(b, "update slot: a whole image, then staged");
    assert.equal(await run(b, "boot control: roll back"), "restart");
    assert.equal(b.restarts, 1);
    const booted = b.powerOn();
    assert.deepEqual([booted.slot, booted.image.version], ["ota_0", "1.0.0"]);
  });

  it("refuses to roll back when no other image is valid", async () => {
    assert.match(
      await run<string>(board(), "boot control: roll back"),
      /^refused: esp_ota_mark_app_invalid_rollback_and_reboot refused \(0x1505\)/,
    );
  });

  it("restarts a moment after reboot(), so that the console drains", async () => {
    assert.deepEqual(await run(board(), "boot control: reboot"), { halted: "restart", at: 100 });
  });
});

describe("esp32 store (Preference over NVS)", () => {
  it("keeps NVS's limits: 15-character names, 3999 bytes of UTF-8", async () => {
    const b = board();
    const outcome = await run<Record<string, unknown>>(b, "store: NVS limits");
    assert.deepEqual(outcome, {
      maxBytes: 3999,
      roundTrip: true,
      deleted: true,
      notAString: true,
      longKey: 'internal: NVS key "sixteen-chars-ky" must be 1 to 15 characters long',
      longValue: 'internal: NVS value for "v" is 4000 bytes, more than the 3999 allowed',
      longDomain: 'internal: NVS domain "a-sixteen-chars!" must be 1 to 15 characters long',
    });
    assert.equal(b.nvs.otaflow["k15-characters!"].type, "string");
    assert.equal(b.nvs.otaflow.journal, undefined);
  });

  it("matches NVS, which refuses a string of 4000 bytes", async () => {
    assert.equal(
      await run(board(), "store: NVS itself refuses a 4000-byte string"),
      "Error: nvs set fail",
    );
  });
});

describe("esp32 digests (crypt)", () => {
  it("hashes views at any offset as Node does, once", async () => {
    const b = board();
    const text = "otaflow ".repeat(123) + "\u20ac";
    b.test.text = text;
    const digests = await run<Record<string, string>>(b, "digests: crypt over views of any offset");
    for (const algorithm of ["md5", "sha256", "sha384", "sha512"]) {
      assert.equal(digests[algorithm], createHash(algorithm).update(text, "utf8").digest("hex"));
      assert.equal(digests[algorithm + " after digest()"], "refused");
    }
    assert.equal(digests.crc32, "undefined");
    assert.equal(digests.murmur3_32, "undefined");
  });
});

describe("esp32 http (Request)", () => {
  let server: FirmwareServer;
  let root: string;
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-esp32-http-"));
    fs.writeFileSync(path.join(root, "fw.bin"), update);
    server = await startFirmwareServer({ root });
  });
  after(async () => {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("sends Range and streams the partial content", async () => {
    const b = board();
    b.test.url = `${server.url}/fw.bin`;
    b.test.from = 1000;
    const got = await run<Record<string, unknown>>(b, "http: a ranged GET, streamed");
    assert.deepEqual(got, {
      status: 206,
      contentRange: `bytes 1000-${update.length - 1}/${update.length}`,
      contentLength: String(update.length - 1000),
      length: update.length - 1000,
      md5: md5(update.subarray(1000)),
      chunks: got.chunks,
    });
    assert.equal(server.requests.at(-1)?.range, "bytes=1000-");
  });

  it("fails the read, as transient, when the body is cut short", async () => {
    const b = board();
    b.test.url = `${server.url}/fw.bin`;
    server.setFault({ kind: "short-body", bytes: 10_000, times: 1 });
    const got = await run<Record<string, unknown>>(b, "http: a body cut short");
    assert.equal(got.status, 200);
    assert.ok((got.received as number) <= 10_000);
    assert.equal(got.error, "network: connection to 127.0.0.1 failed during the body");
  });

  it("fails the request when nobody listens", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const b = board();
    b.test.url = `http://127.0.0.1:${port}/fw.bin`;
    assert.equal(
      await run(b, "http: nobody listening"),
      "network: connection to 127.0.0.1 failed before the response",
    );
  });

  it("ends the body when the reader closes the response", async () => {
    const b = board();
    b.test.url = `${server.url}/fw.bin`;
    assert.deepEqual(await run(b, "http: closed by the reader"), { first: true, after: null });
  });
});

describe("esp32 mqtt (ECMA-419 client)", () => {
  let broker: RunningBroker;
  before(async () => {
    broker = await startEmbeddedBroker();
  });
  after(() => broker.close());

  it("subscribes, publishes with QoS 1 and puts fragmented messages back together", async () => {
    const b = board();
    b.test.host = "127.0.0.1";
    b.test.port = broker.port;
    assert.deepEqual(await run(b, "mqtt: subscribe, publish, receive in fragments"), {
      granted: [1],
      connects: 1,
      topic: "esp32/in/big",
      intact: true,
    });
  });

  // On the board the client calls back from deep inside the socket's callback: a session that
  // subscribed and wrote from there overflowed XS's stack (384 slots on Moddable's Linux target).
  it("runs the session's connect and message handlers outside the client's callbacks", async () => {
    const b = board();
    b.test.host = "127.0.0.1";
    b.test.port = broker.port;
    assert.deepEqual(
      await run(b, "mqtt: the session's handlers run outside the client's callbacks"),
      {
        connect: 0,
        message: 0,
      },
    );
  });

  it("writes a publish larger than the socket's free space in pieces", async () => {
    const b = board();
    b.test.host = "127.0.0.1";
    b.test.port = broker.port;
    const first = mqttWrites.length;
    assert.deepEqual(await run(b, "mqtt: a publish larger than the socket's room goes in pieces"), {
      intact: true,
      then: "after",
      length: 20000,
    });
    const large = mqttWrites.slice(first).find((packet) => packet.topic === "esp32/large");
    assert.equal(large?.hex?.length, 2 * 20000);
  });

  it("reconnects, subscribes again and resends an unacknowledged publish as a duplicate", async () => {
    const cloud = await mqtt.connectAsync(broker.url, { clientId: "esp32-cloud" });
    await cloud.subscribeAsync("esp32/report", { qos: 1 });
    const reports: string[] = [];
    // The echo is repeated until the test ends: one published while the device's resent report
    // races its resubscription would be lost, and the point is that the subscription comes back.
    let echo: ReturnType<typeof setInterval> | undefined;
    cloud.on("message", (_topic, payload) => {
      reports.push(payload.toString());
      echo ??= setInterval(() => void cloud.publishAsync("esp32/echo", "echo", { qos: 1 }), 100);
    });
    try {
      const b = board();
      b.test.host = "127.0.0.1";
      b.test.port = broker.port;
      const first = mqttWrites.length;
      assert.deepEqual(
        await run(b, "mqtt: a dropped connection, a publish without PUBACK sent again"),
        {
          events: ["connect", "disconnect", "connect"],
          received: "echo",
          closed: "network: MQTT client closed",
        },
      );
      const publishes = mqttWrites
        .slice(first)
        .filter((packet) => packet.operation === 3 && packet.topic === "esp32/report");
      assert.deepEqual(
        publishes.map((packet) => packet.duplicate),
        [false, true],
      );
      assert.equal(publishes[0].id, publishes[1].id);
      assert.ok(reports.length >= 1 && reports.every((report) => report === "report-1"));
    } finally {
      clearInterval(echo);
      await cloud.endAsync();
    }
  });
});

describe("esp32 tcp socket (ECMA-419 over the legacy Socket)", () => {
  it("reads after the callback, in both formats, and reports the peer closing", async () => {
    const server = net.createServer((socket) =>
      socket.on("data", (data) => (data.toString() === "bye" ? socket.end() : socket.write(data))),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const b = board();
      b.test.host = "127.0.0.1";
      b.test.port = (server.address() as net.AddressInfo).port;
      assert.deepEqual(await run(b, "tcp socket: ECMA-419 reads over a legacy socket"), {
        data: "a|bc|def",
        copied: 2,
        freeAfterWrite: true,
        failed: true,
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
