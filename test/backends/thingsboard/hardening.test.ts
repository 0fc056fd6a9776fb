// Hardened offers, ThingsBoard: each test plays one attack through the local ThingsBoard (its own
// MQTT server), whose shared attributes an administrator, or whoever holds the tenant's account,
// fills with any JSON, and shows the defence that stops it: the assignment is refused with FAILED
// and a specific fw_error, before the agent sees it.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { nodeClock } from "../../../hosts/node/clock";
import { MAX_URL_LENGTH } from "../../../src/backends/offer-fields";
import { createThingsBoardBackend } from "../../../src/backends/thingsboard/index";
import type { OtaError } from "../../../src/core/errors";
import type { MqttClient } from "../../../src/core/ports";
import { MAX_REPORT_TEXT } from "../../../src/core/util/text";
import type { AssignOptions, ChecksumAlgorithm } from "../../../tools/clouds/thingsboard/index";
import { TITLE, TOKEN, image, startTier, type Device, type Tier } from "./support";

/** A port the backend must not touch: any use throws. */
const untouchable = new Proxy({} as MqttClient, {
  get(_, property) {
    throw new Error(`the backend used mqtt.${String(property)}`);
  },
});

const UNSAFE = /[\p{C}\u2028\u2029]/u;

describe("ThingsBoard backend against hostile offers", () => {
  let tier: Tier;
  let assignments = 0;
  before(async () => {
    tier = await startTier("aedes");
  });
  after(() => tier.close());

  /**
   * Assigns a package with these fields and resolves with the fw_error the device answered; the
   * device must offer nothing.
   */
  async function refusal(device: Device, fields: Partial<AssignOptions>): Promise<string> {
    const version = `v${++assignments}`;
    const offers = device.listener.offers.length;
    const before = tier.cloud.telemetry(TOKEN).length;
    tier.cloud.assign({ token: TOKEN, title: TITLE, version, data: image(100), ...fields });
    const entry = await tier.cloud.waitFor(
      (e) =>
        tier.cloud.telemetry(TOKEN).indexOf(e) >= before &&
        e.source === "device" &&
        e.values.fw_state === "FAILED",
      3000,
    );
    assert.equal(device.listener.offers.length, offers, "nothing was offered");
    const error = String(entry.values.fw_error);
    assert.ok(!UNSAFE.test(error), JSON.stringify(error));
    return error;
  }

  it("an access token with spaces or control characters, and a title or version that would break a line, are refused at creation without echoing the token", () => {
    const create = (config: Record<string, unknown>) =>
      createThingsBoardBackend(
        { accessToken: TOKEN, title: TITLE, ...config },
        { mqtt: untouchable, clock: nodeClock, logger: { log() {} } },
      );
    for (const accessToken of ["secret token", "secret\ntoken", "", "s".repeat(257), "sécret"])
      assert.throws(
        () => create({ accessToken }),
        (error: OtaError) =>
          error.code === "internal" &&
          error.message ===
            "the ThingsBoard access token must be 1-256 printable ASCII characters without spaces",
      );
    assert.throws(() => create({ title: "sensor\r\nfw_state" }), /title holds control or format/);
    assert.throws(() => create({ title: "" }), /title is empty/);
    assert.throws(() => create({ currentVersion: "1.0\u2028" }), /currentVersion holds control/);
  });

  it("an fw_size that is no byte count ('', '1e999', negative, fractional, 2^32, hex) is refused as offer-malformed", async () => {
    const device = await tier.device();
    const cases: [unknown, string][] = [
      ["", '""'],
      ["1e999", '"1e999"'],
      [-5, "-5"],
      [1.5, "1.5"],
      [2 ** 32, "4294967296"],
      ["0x10", '"0x10"'],
      [0, "0"],
    ];
    for (const [size, shown] of cases) {
      assert.equal(
        await refusal(device, { size: size as number }),
        `fw_size must be a whole number of bytes from 1 to 4294967295, got ${shown} (offer-malformed)`,
      );
    }
    // The same device takes a sound package afterwards, its size given as digits.
    tier.cloud.assign({ token: TOKEN, title: TITLE, version: "sound", data: image(100) });
    const offer = await device.listener.nextOffer((o) => o.version === "sound");
    assert.equal(offer.size, 100);
    await device.close();
  });

  it("a checksum of the wrong length or with non-hex characters is refused as offer-malformed", async () => {
    const device = await tier.device();
    const cases: [ChecksumAlgorithm, string, string][] = [
      ["MD5", "a".repeat(31), "32 hex digits of MD5"],
      ["SHA256", "g" + "a".repeat(63), "64 hex digits of SHA256"],
      ["SHA256", "", "64 hex digits of SHA256"],
      ["SHA512", "a".repeat(64), "128 hex digits of SHA512"],
      ["CRC32", "123456789", "1-8 hex digits of CRC32"],
      ["MURMUR3_128", "a\nb", "32 hex digits of MURMUR3_128"],
    ];
    for (const [algorithm, checksum, expected] of cases) {
      const error = await refusal(device, { algorithm, checksum });
      assert.match(
        error,
        new RegExp(`^fw_checksum must be ${expected}, got .* \\(offer-malformed\\)$`),
      );
    }
    await device.close();
  });

  it("a title, version or tag that would forge a line (CR LF, NUL, U+2028) or runs past 255 characters is refused, and fw_error quotes it escaped", async () => {
    const device = await tier.device();
    assert.equal(
      await refusal(device, { version: "1.0\nfw_state: UPDATED" }),
      'fw_version holds control or format characters: "1.0\\nfw_state: UPDATED" (offer-malformed)',
    );
    assert.match(
      await refusal(device, { title: TITLE + "\r\n" }),
      /^fw_title holds control or format characters: .* \(offer-malformed\)$/,
    );
    assert.match(
      await refusal(device, { tag: "stable\u2028forged" }),
      /^fw_tag holds control or format characters: .* \(offer-malformed\)$/,
    );
    assert.match(
      await refusal(device, { tag: "t".repeat(256) }),
      /^fw_tag is 256 characters long, at most 255 allowed \(offer-malformed\)$/,
    );
    assert.match(
      await refusal(device, { version: "v\u0000".repeat(300) }),
      /^fw_version is 600 characters long/,
    );
    await device.close();
  });

  it("an fw_url that would inject into the HTTP request (CR LF, space) or overflow the device's buffer is refused; 1500 characters pass", async () => {
    const device = await tier.device();
    const cases: [string, RegExp][] = [
      ["http://127.0.0.1:9/a.bin HTTP/1.1\r\nHost: evil", /holds spaces, control or non-ASCII/],
      ["http://127.0.0.1:9/a b.bin", /holds spaces, control or non-ASCII/],
      ["ftp://127.0.0.1/a.bin", /is not an http\(s\) URL/],
      ["http://127.0.0.1:9/" + "a".repeat(MAX_URL_LENGTH), /at most 1500 allowed/],
      ["", /is empty/],
    ];
    for (const [url, reason] of cases) {
      const error = await refusal(device, { url, size: 100 });
      assert.match(error, /^fw_url /);
      assert.match(error, reason);
    }
    const longest = "http://127.0.0.1:9/" + "a".repeat(MAX_URL_LENGTH - 19);
    assert.equal(longest.length, MAX_URL_LENGTH);
    tier.cloud.assign({
      token: TOKEN,
      title: TITLE,
      version: "long-url",
      url: longest,
      data: image(100),
    });
    const offer = await device.listener.nextOffer((o) => o.version === "long-url");
    assert.deepEqual(offer.source, { kind: "http", url: longest });
    await device.close();
  });

  it("an fw_version or fw_title that is not text (an object, an empty string) is refused with FAILED, not taken for an unassignment", async () => {
    const device = await tier.device();
    const cases: [Partial<AssignOptions>, RegExp][] = [
      [
        { version: { major: 1 } as unknown as string },
        /^fw_version must be a non-empty string or number, got \{"major":1\}/,
      ],
      [{ version: "" }, /^fw_version must be a non-empty string or number, got ""/],
      [{ title: [TITLE] as unknown as string }, /^fw_title must be a non-empty string or number/],
    ];
    for (const [fields, reason] of cases) {
      const error = await refusal(device, fields);
      assert.match(error, reason);
      assert.match(error, /\(offer-malformed\)$/);
    }
    await device.close();
  });

  it("a package with no fw_checksum is refused unless the policy allows it", async () => {
    const device = await tier.device();
    const url = "http://127.0.0.1:9/unchecked.bin";
    const error = await refusal(device, { url, size: 100, data: undefined });
    assert.match(error, /^The firmware package has no fw_checksum: nothing would check its bytes/);
    await device.close();
    const allowing = await tier.device({ allowMissingChecksum: true });
    tier.cloud.assign({ token: TOKEN, title: TITLE, version: "unchecked", url, size: 100 });
    const offer = await allowing.listener.nextOffer((o) => o.version === "unchecked");
    assert.deepEqual(offer.hashes, {});
    await allowing.close();
  });

  it("a failure that quotes hostile text (CR LF, U+2028, 5 kB) reaches fw_error as one clean, bounded line", async () => {
    const device = await tier.device();
    tier.cloud.assign({ token: TOKEN, title: TITLE, version: "report", data: image(100) });
    const offer = await device.listener.nextOffer((o) => o.version === "report");
    await device.backend.report({
      offer,
      status: "failed",
      failure: {
        code: "image-mismatch",
        message: `image version "9.9\r\nfw_state: UPDATED\u2028" ${"x".repeat(5000)}`,
      },
    });
    const entry = await tier.cloud.waitFor(
      (e) => e.source === "device" && /^image version/.test(String(e.values.fw_error)),
      3000,
    );
    const error = String(entry.values.fw_error);
    assert.ok(!UNSAFE.test(error), JSON.stringify(error));
    assert.equal(error.length, MAX_REPORT_TEXT);
    assert.match(error, /^image version "9\.9 {2}fw_state: UPDATED " x+\.\.\. \(image-mismatch\)$/);
    await device.close();
  });
});
