// Hardened offers, Tencent: each test plays one attack through the local IoT Hub (its own broker,
// with the platform's credential check), whose update_firmware carries whatever a task was created
// with, or against the parser where JSON text must carry what the platform's API cannot (1e999),
// and shows the defence that stops it: refused with fail -5 "offer-malformed: ...", before the
// agent sees it.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MAX_URL_LENGTH } from "../../../src/backends/offer-fields";
import { createTencentBackend, parseUpdateFirmware } from "../../../src/backends/tencent/index";
import type { OtaError } from "../../../src/core/errors";
import type { MqttClient } from "../../../src/core/ports";
import { PRODUCT, clock, startTier, type Device, type Tier } from "./support";

/** A port the backend must not touch: any use throws. */
const untouchable = new Proxy({} as MqttClient, {
  get(_, property) {
    throw new Error(`the backend used mqtt.${String(property)}`);
  },
});

const UNSAFE = /[\p{C}\u2028\u2029]/u;

describe("tencent backend against hostile offers", () => {
  let tier: Tier;
  before(async () => {
    tier = await startTier("aedes");
  });
  after(() => tier.close());

  async function boot(): Promise<{ device: Device; deviceName: string }> {
    const { deviceName, secret } = tier.newDevice();
    return { device: await tier.boot(deviceName, secret, "1.0.0"), deviceName };
  }

  /** Deploys a task with these fields and resolves with the result_msg of its fail report. */
  async function refusal(
    device: Device,
    deviceName: string,
    fields: Partial<{ version: string; url: string; md5: string; size: unknown }>,
  ): Promise<string> {
    tier.cloud.deploy({
      productId: PRODUCT,
      deviceName,
      version: "2.0.0",
      url: tier.fw.url + "/fw.bin",
      md5: tier.md5,
      ...fields,
      size: (fields.size === undefined ? tier.image.length : fields.size) as number,
    });
    const task = await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000);
    assert.equal(task.status, "fail");
    assert.equal(task.resultCode, "-5");
    assert.deepEqual(device.agent.offers, []);
    return task.resultMsg!;
  }

  it("a product id or device name that would subscribe to other devices' updates (+, #, /) is refused at creation", () => {
    const create = (config: { productId: string; deviceName: string }) =>
      createTencentBackend(config, { mqtt: untouchable, clock, logger: { log() {} } });
    for (const productId of ["ABC/+", "+", "#", "$ota", "A B", "", "P".repeat(33)])
      assert.throws(
        () => create({ productId, deviceName: "dev1" }),
        (error: OtaError) =>
          error.code === "internal" &&
          /^Tencent product id .* is not 1-32 of \[A-Za-z0-9\]$/.test(error.message),
        productId,
      );
    for (const deviceName of ["dev/+", "+", "#", "dev\n1", "$sys", "", "d".repeat(49)])
      assert.throws(
        () => create({ productId: PRODUCT, deviceName }),
        (error: OtaError) =>
          error.code === "internal" &&
          /^Tencent device name .* is not 1-48 of \[a-zA-Z0-9:_@.-\]$/.test(error.message) &&
          !/\n/.test(error.message),
        deviceName,
      );
    assert.throws(
      () =>
        createTencentBackend(
          { productId: PRODUCT, deviceName: "dev1", currentVersion: "1.0\r\n" },
          { mqtt: untouchable, clock, logger: { log() {} } },
        ),
      /currentVersion holds control or format characters/,
    );
  });

  it("a file_size that is no byte count (Infinity from 1e999, negative, fractional, above 2^32, a non-number) is refused as offer-malformed", async () => {
    const { device, deviceName } = await boot();
    for (const [size, shown] of [
      [-1, "-1"],
      [1.5, "1.5"],
      [2 ** 32 + 1, "4294967297"],
      [0, "0"],
      ["", '""'],
      ["12abc", '"12abc"'],
    ] as const) {
      assert.equal(
        await refusal(device, deviceName, { size }),
        `offer-malformed: file_size must be a whole number of bytes from 1 to 4294967295, got ${shown}`,
      );
    }
    await device.down();
    // What JSON carries but the platform's API does not write: 1e999 parses as Infinity.
    const doc = JSON.parse(
      `{"type":"update_firmware","version":"2.0.0","url":"https://h/a.bin","md5sum":"${"0".repeat(32)}","file_size":1e999}`,
    );
    assert.equal(doc.file_size, Infinity);
    assert.equal(
      parseUpdateFirmware(doc),
      "file_size must be a whole number of bytes from 1 to 4294967295, got Infinity",
    );
  });

  it("an md5sum of the wrong length or with non-hex characters is refused as offer-malformed", async () => {
    const { device, deviceName } = await boot();
    for (const md5 of [tier.md5.slice(1), tier.md5 + "0", "g" + tier.md5.slice(1)]) {
      assert.match(
        await refusal(device, deviceName, { md5 }),
        /^offer-malformed: md5sum is not 32 hex digits: /,
      );
    }
    await device.down();
  });

  it("a url that would inject into the HTTP request (CR LF, space) or overflow the device's buffer is refused as offer-malformed", async () => {
    const { device, deviceName } = await boot();
    const cases: [string, RegExp][] = [
      [
        `${tier.fw.url}/fw.bin HTTP/1.1\r\nHost: evil`,
        /^offer-malformed: url holds spaces, control/,
      ],
      [`${tier.fw.url}/f w.bin`, /^offer-malformed: url holds spaces, control/],
      ["ftp://127.0.0.1/fw.bin", /^offer-malformed: url is not an http\(s\) URL/],
      [
        `${tier.fw.url}/${"a".repeat(MAX_URL_LENGTH)}`,
        /^offer-malformed: url is \d+ characters long, at most 1500 allowed$/,
      ],
    ];
    for (const [url, reason] of cases) {
      const message = await refusal(device, deviceName, { url });
      assert.match(message, reason);
      assert.ok(!UNSAFE.test(message), JSON.stringify(message));
    }
    await device.down();
  });

  it('a version that would forge a line (CR LF, U+2028) or runs past 64 characters, or is empty or not text, is refused with fail -5 on version "", and never repeated', async () => {
    const { device, deviceName } = await boot();
    const hostile: unknown[] = ["2.0\r\nstate: done", "2.0\u2028", "2".repeat(65), "", { v: 2 }];
    for (const version of hostile)
      tier.cloud.deploy({
        productId: PRODUCT,
        deviceName,
        version: version as string,
        url: tier.fw.url + "/fw.bin",
        md5: tier.md5,
        size: tier.image.length,
      });
    // Messages on the update topic arrive in order: once this offer is in, the others were read.
    tier.cloud.deploy({
      productId: PRODUCT,
      deviceName,
      version: "2.0.0",
      url: tier.fw.url + "/fw.bin",
      md5: tier.md5,
      size: tier.image.length,
    });
    const offer = await device.agent.nthOffer(1);
    assert.equal(offer.version, "2.0.0");
    assert.equal(device.agent.offers.length, 1);
    const reports = tier.cloud.device(PRODUCT, deviceName).progress;
    await tier.cloud.waitFor(() => reports.length >= hostile.length, 3000, "the fail reports");
    assert.deepEqual(
      reports.map((r) => [r.version, r.state, r.resultCode]),
      hostile.map(() => ["", "fail", "-5"]),
    );
    for (const r of reports) assert.match(r.resultMsg!, /^offer-malformed: version /);
    const refused = device.logger.lines.filter((l) =>
      /malformed update_firmware: version/.test(l.message),
    );
    assert.equal(refused.length, hostile.length);
    for (const line of refused) assert.ok(!UNSAFE.test(line.message), line.message);
    await device.down();
  });

  it("a failure that quotes hostile text (CR LF, U+2028, 5 kB) reaches result_msg as one clean, bounded line", async () => {
    const { device, deviceName } = await boot();
    tier.cloud.deploy({
      productId: PRODUCT,
      deviceName,
      version: "2.0.0",
      url: tier.fw.url + "/fw.bin",
      md5: tier.md5,
      size: tier.image.length,
    });
    const offer = await device.agent.nthOffer(1);
    await device.backend.report({
      offer,
      status: "failed",
      failure: {
        code: "image-mismatch",
        message: `image version "9.9\r\nstate: done\u2028" ${"x".repeat(5000)}`,
      },
    });
    const task = await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000);
    const message = task.resultMsg!;
    assert.ok(!UNSAFE.test(message), JSON.stringify(message));
    assert.equal(message.length, 200);
    assert.match(message, /^image-mismatch: image version "9\.9 {2}state: done " x+\.\.\.$/);
    await device.down();
  });
});
