// The esp32 host's ports one by one, inside XS with frozen intrinsics, over the fakes of the
// Moddable modules. Each case is one boot of the board; the Node side (esp32.test.ts) prepares the
// board, hands values over with esp32.test, and checks the flash, NVS and network afterwards.
import { isOtaError } from "../../../src/core/errors";
import type { SlotWriter } from "../../../src/core/ports";
import { concatBytes, toHex, utf8Decode, utf8Encode } from "../../../src/core/util/bytes";
import { ffiBootControl, nextSlotName } from "../boot";
import { cryptDigests } from "../digests";
import { requestHttpClient } from "../http";
import { connectMqtt } from "../mqtt";
import { openSlot as openLegacySlot, readRunning as readRunningLegacy } from "../slot-ota";
import { openSlot, readRunning } from "../slot-update";
import { MAX_VALUE_BYTES, preferenceStore } from "../store";
import { LegacyTcp } from "../tcp-socket";
import { clock, host, type Cases } from "../../../test/xs/runtime";
import { call, installTrace, testBytes, whenHalted } from "./fakes/board";
import { hexOf } from "./fakes/hex";
import { callbacksRunning } from "./fakes/mqtt-client";
import Preference from "./fakes/preference";

installTrace();

const logger = { log: (level: string, message: string) => trace(`${level}: ${message}\n`) };

function test<T>(key: string): T {
  return call<T>("esp32.test", { key });
}

function image(): Uint8Array {
  return testBytes("image");
}

async function failure(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    return isOtaError(error)
      ? `${error.code}: ${error.message}`
      : `not an OtaError: ${String(error)}`;
  }
  return "no failure";
}

/** Writes image[from, to) in pieces of `piece` bytes. */
async function writeRange(
  slot: SlotWriter,
  bytes: Uint8Array,
  from: number,
  to: number,
  piece: number,
) {
  for (let at = from; at < to; at += piece)
    await slot.write(bytes.subarray(at, Math.min(at + piece, to)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

// Virtual time runs far ahead of the real network (a tick takes well under a millisecond), so
// the budget is generous: under load a reconnection over real loopback takes seconds of real
// time, many virtual minutes. The case's real-time limit still bounds it.
async function until(condition: () => boolean, ms = 3_600_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > ms) throw new Error("condition not met in time");
    await sleep(5);
  }
}

function md5(bytes: Uint8Array): string {
  return host<string>("digest", { algorithm: "md5", hex: hexOf(bytes) });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export default {
  async "update slot: a whole image, then staged"() {
    const bytes = image();
    const slot = openSlot(nextSlotName());
    await slot.begin(0, bytes.length);
    await writeRange(slot, bytes, 0, bytes.length, 1500);
    await slot.finish();
    const same = equalBytes(await slot.read(0, bytes.length), bytes);
    await ffiBootControl(slot, readRunning).setNextBoot(slot.name);
    return { name: slot.name, size: slot.size, sectorSize: slot.sectorSize, readBack: same };
  },

  async "update slot: the first part of an image"() {
    const bytes = image();
    const slot = openSlot(nextSlotName());
    await slot.begin(0, bytes.length);
    await writeRange(slot, bytes, 0, test<number>("until"), 1000);
    return slot.name;
  },

  async "update slot: resume at an offset after a reboot, then staged"() {
    const bytes = image();
    const offset = test<number>("offset");
    const slot = openSlot(nextSlotName());
    await slot.begin(offset, bytes.length);
    const prefixKept = equalBytes(await slot.read(0, offset), bytes.subarray(0, offset));
    await writeRange(slot, bytes, offset, bytes.length, 1000);
    await slot.finish();
    await ffiBootControl(slot, readRunning).setNextBoot(slot.name);
    return { prefixKept };
  },

  async "update slot: stage after a reboot"() {
    const slot = openSlot(nextSlotName());
    await ffiBootControl(slot, readRunning).setNextBoot(slot.name);
    return slot.name;
  },

  async "update slot: refusals"() {
    const bytes = image();
    const slot = openSlot(nextSlotName());
    const tooLarge = await failure(() => slot.begin(0, slot.size + 1));
    const unaligned = await failure(() => slot.begin(100, bytes.length));
    await slot.begin(0, bytes.length);
    const badMagic = await failure(() => slot.write(new Uint8Array([0x00, 1, 2, 3])));
    await slot.write(bytes.subarray(0, 4096));
    const tooLong = await failure(() => slot.write(new Uint8Array(bytes.length)));
    const short = await failure(() => slot.finish());
    await slot.abort();
    return { tooLarge, unaligned, badMagic, tooLong, short };
  },

  async "update slot: begin while the running image is pending verification"() {
    const slot = openSlot(nextSlotName());
    return failure(() => slot.begin(0, 8192));
  },

  async "legacy slot: a dropped connection resumes in the same boot"() {
    const bytes = image();
    const slot = openLegacySlot(nextSlotName());
    await slot.begin(0, bytes.length);
    const cut = 3 * 4096 + 1234;
    await writeRange(slot, bytes, 0, cut, 1000);
    // The journal's sector-aligned offset: the bytes up to the cut come again and are dropped.
    await slot.begin(3 * 4096, bytes.length);
    await writeRange(slot, bytes, 3 * 4096, bytes.length, 777);
    await slot.finish();
    const same = equalBytes(await slot.read(0, bytes.length), bytes);
    await ffiBootControl(slot, readRunningLegacy).setNextBoot(slot.name);
    return { readBack: same };
  },

  async "legacy slot: no resume after a reboot"() {
    const slot = openLegacySlot(nextSlotName());
    const begin = await failure(() => slot.begin(8192, 65536));
    const stage = await failure(() =>
      ffiBootControl(slot, readRunningLegacy).setNextBoot(slot.name),
    );
    return { begin, stage };
  },

  async "boot control: the running image"() {
    const slot = openSlot(nextSlotName());
    return ffiBootControl(slot, readRunning).running();
  },

  async "boot control: confirm"() {
    const boot = ffiBootControl(openSlot(nextSlotName()), readRunning);
    await boot.markValid();
    return (await boot.running()).state;
  },

  async "boot control: roll back"() {
    const boot = ffiBootControl(openSlot(nextSlotName()), readRunning);
    const refused = boot.markInvalidAndReboot().then(
      () => "returned",
      (error: Error) => "refused: " + error.message,
    );
    return Promise.race([whenHalted(), refused]);
  },

  async "boot control: reboot"() {
    void ffiBootControl(openSlot(nextSlotName()), readRunning).reboot();
    const halted = await whenHalted();
    return { halted, at: clock.now() };
  },

  async "store: NVS limits"() {
    const store = preferenceStore("otaflow");
    const euro = "\u20ac";
    let longest = "";
    for (let i = 0; i < MAX_VALUE_BYTES / 3; i++) longest += euro;
    await store.set("k15-characters!", longest);
    const read = await store.get("k15-characters!");
    await store.set("journal", "x|1");
    await store.delete("journal");
    Preference.set("otaflow", "number", 7);
    return {
      maxBytes: MAX_VALUE_BYTES,
      roundTrip: read === longest,
      deleted: (await store.get("journal")) === undefined,
      notAString: (await store.get("number")) === undefined,
      longKey: await failure(() => store.set("sixteen-chars-ky", "v")),
      longValue: await failure(() => store.set("v", longest + "a")),
      longDomain: await failure(async () => preferenceStore("a-sixteen-chars!")),
    };
  },

  "store: NVS itself refuses a 4000-byte string"() {
    let value = "";
    for (let i = 0; i < 4000; i++) value += "a";
    try {
      Preference.set("otaflow", "big", value);
      return "accepted";
    } catch (error) {
      return String(error);
    }
  },

  "digests: crypt over views of any offset"() {
    const data = utf8Encode(test<string>("text"));
    const padded = new Uint8Array(data.length + 7);
    padded.set(data, 3);
    const results: Record<string, string> = {};
    for (const algorithm of ["md5", "sha256", "sha384", "sha512"] as const) {
      const digest = cryptDigests(algorithm)!;
      const view = padded.subarray(3, 3 + data.length);
      for (let at = 0; at < view.length; at += 100) digest.update(view.subarray(at, at + 100));
      results[algorithm] = toHex(digest.digest());
      let again = "accepted";
      try {
        digest.update(data);
      } catch {
        again = "refused";
      }
      results[algorithm + " after digest()"] = again;
    }
    results.crc32 = String(cryptDigests("crc32"));
    results.murmur3_32 = String(cryptDigests("murmur3_32"));
    return results;
  },

  async "http: a ranged GET, streamed"() {
    const response = await requestHttpClient().get({
      url: test<string>("url"),
      headers: { range: `bytes=${test<number>("from")}-` },
    });
    const chunks: Uint8Array[] = [];
    for (let chunk = await response.read(); chunk; chunk = await response.read())
      chunks.push(chunk);
    const body = concatBytes(chunks);
    return {
      status: response.status,
      contentRange: response.headers["content-range"],
      contentLength: response.headers["content-length"],
      length: body.length,
      md5: md5(body),
      chunks: chunks.length,
    };
  },

  async "http: a body cut short"() {
    const response = await requestHttpClient().get({ url: test<string>("url"), headers: {} });
    let received = 0;
    const error = await failure(async () => {
      for (let chunk = await response.read(); chunk; chunk = await response.read())
        received += chunk.length;
    });
    return { status: response.status, received, error };
  },

  async "http: nobody listening"() {
    return failure(() => requestHttpClient().get({ url: test<string>("url"), headers: {} }));
  },

  async "http: closed by the reader"() {
    const response = await requestHttpClient().get({ url: test<string>("url"), headers: {} });
    const first = await response.read();
    response.close();
    const after = await response.read();
    return { first: first ? first.length > 0 : false, after };
  },

  async "mqtt: subscribe, publish, receive in fragments"() {
    const mqtt = connectMqtt({
      host: test<string>("host"),
      port: test<number>("port"),
      identity: () => ({ clientId: "esp32-case" }),
      clock,
      logger,
    });
    const received: { topic: string; text: string }[] = [];
    mqtt.onMessage((message) =>
      received.push({ topic: message.topic, text: utf8Decode(message.payload) }),
    );
    let connects = 0;
    mqtt.onConnect(() => connects++);
    await until(() => mqtt.connected);
    const granted = await mqtt.subscribe(["esp32/in/#"], 1);
    let big = "";
    while (big.length < 2500) big += "payload-" + big.length + ";";
    await mqtt.publish("esp32/in/big", big, 1);
    await until(() => received.length === 1);
    await mqtt.unsubscribe(["esp32/in/#"]);
    await mqtt.close();
    return { granted, connects, topic: received[0].topic, intact: received[0].text === big };
  },

  async "mqtt: the session's handlers run outside the client's callbacks"() {
    const mqtt = connectMqtt({
      host: test<string>("host"),
      port: test<number>("port"),
      identity: () => ({ clientId: "esp32-stack" }),
      clock,
      logger,
    });
    // Client callbacks on the stack when each handler ran.
    const under: { connect?: number; message?: number } = {};
    mqtt.onConnect(() => (under.connect = callbacksRunning()));
    mqtt.onMessage(() => (under.message = callbacksRunning()));
    await until(() => mqtt.connected);
    await mqtt.subscribe(["esp32/stack"], 1);
    await mqtt.publish("esp32/stack", "hello", 1);
    await until(() => under.message !== undefined);
    await mqtt.close();
    return under;
  },

  async "mqtt: a publish larger than the socket's room goes in pieces"() {
    const mqtt = connectMqtt({
      host: test<string>("host"),
      port: test<number>("port"),
      identity: () => ({ clientId: "esp32-large" }),
      clock,
      logger,
    });
    const received: string[] = [];
    mqtt.onMessage((message) => received.push(utf8Decode(message.payload)));
    await until(() => mqtt.connected);
    await mqtt.subscribe(["esp32/large"], 1);
    let large = "";
    while (large.length < 20000) large += "piece-" + large.length + ";";
    await mqtt.publish("esp32/large", large, 1);
    await mqtt.publish("esp32/large", "after", 1);
    await until(() => received.length === 2);
    await mqtt.close();
    return { intact: received[0] === large, then: received[1], length: large.length };
  },

  async "mqtt: a dropped connection, a publish without PUBACK sent again"() {
    const mqtt = connectMqtt({
      host: test<string>("host"),
      port: test<number>("port"),
      identity: () => ({ clientId: "esp32-drop" }),
      clock,
      logger,
    });
    const events: string[] = [];
    mqtt.onConnect(() => events.push("connect"));
    mqtt.onDisconnect(() => events.push("disconnect"));
    const received: string[] = [];
    mqtt.onMessage((message) => received.push(utf8Decode(message.payload)));
    await until(() => mqtt.connected);
    await mqtt.subscribe(["esp32/echo"], 1);
    // The PUBLISH leaves, then the network fails before any PUBACK can come back.
    host("test.dropMqttOnPublish", {});
    await mqtt.publish("esp32/report", "report-1", 1);
    // The subscription is back after the reconnection: the cloud's echo arrives.
    await until(() => received.length > 0);
    await mqtt.close();
    const closed = await failure(() => mqtt.publish("esp32/report", "late", 1));
    return { events, received: received[0], closed };
  },

  async "tcp socket: ECMA-419 reads over a legacy socket"() {
    const chunks: string[] = [];
    let writable = 0;
    let failed = false;
    let readable = 0;
    const socket: LegacyTcp = new LegacyTcp({
      host: test<string>("host"),
      port: test<number>("port"),
      onWritable: (count) => (writable = count),
      onReadable: (count) => (readable = count),
      onError: () => (failed = true),
    });
    await until(() => writable > 0);
    socket.write(utf8Encode("ab"), { more: true });
    const free = socket.write(utf8Encode("cdef"));
    await until(() => readable >= 6);
    // Read later than the callback, in the client's two formats.
    socket.format = "number";
    const first = socket.read() as number;
    socket.format = "buffer";
    const two = new Uint8Array(2);
    const copied = socket.read(two);
    const rest = new Uint8Array(socket.read(10) as ArrayBuffer);
    chunks.push(String.fromCharCode(first), utf8Decode(two), utf8Decode(rest));
    socket.write(utf8Encode("bye"));
    await until(() => failed);
    return { data: chunks.join("|"), copied, freeAfterWrite: free > 0, failed };
  },
} satisfies Cases;
