// Tencent key authentication in the portable core: SHA-1, HMAC and base64 checked against Node's
// crypto on random inputs, and the MQTT identity checked the way the platform checks it.

import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hmac } from "../../../src/backends/tencent/hmac";
import { base64Decode } from "../../../src/core/util/bytes";
import { mqttIdentity, NO_EXPIRY } from "../../../src/backends/tencent/index";
import { Sha1 } from "../../../src/backends/tencent/sha1";
import { toHex } from "../../../src/core/util/bytes";

const bytes = fc.uint8Array({ maxLength: 300 });

describe("SHA-1", () => {
  it("gives FIPS 180's value for abc and for the 448-bit message", () => {
    const hash = (text: string) => {
      const digest = new Sha1();
      digest.update(new TextEncoder().encode(text));
      return toHex(digest.digest());
    };
    assert.equal(hash("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert.equal(
      hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    );
  });

  it("matches node:crypto whatever the length and however the input is split", () => {
    fc.assert(
      fc.property(bytes, fc.array(fc.nat({ max: 300 }), { maxLength: 4 }), (data, cuts) => {
        const digest = new Sha1();
        let at = 0;
        for (const cut of cuts.sort((a, b) => a - b)) {
          const end = Math.min(cut, data.length);
          if (end > at) digest.update(data.subarray(at, end));
          at = Math.max(at, end);
        }
        digest.update(data.subarray(at));
        assert.equal(toHex(digest.digest()), createHash("sha1").update(data).digest("hex"));
      }),
    );
  });
});

describe("HMAC", () => {
  for (const algorithm of ["sha1", "sha256"] as const) {
    it(`HMAC-${algorithm.toUpperCase()} matches node:crypto, keys longer than a block included`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), bytes, (key, message) => {
          assert.equal(
            toHex(hmac(algorithm, key, message)),
            createHmac(algorithm, key).update(message).digest("hex"),
          );
        }),
      );
    });
  }
});

describe("base64Decode", () => {
  it("decodes what Buffer encodes, with or without padding", () => {
    fc.assert(
      fc.property(bytes, (data) => {
        const text = Buffer.from(data).toString("base64");
        assert.deepEqual(base64Decode(text), new Uint8Array(data));
        assert.deepEqual(base64Decode(text.replace(/=+$/, "")), new Uint8Array(data));
      }),
    );
  });

  it("refuses what is not base64", () => {
    for (const text of ["abc!", "A", "AAAAA", "QUJD===", "QU=JD", "Q U J D", "QUJD-_"])
      assert.equal(base64Decode(text), undefined, text);
  });
});

describe("mqttIdentity", () => {
  const secret = "vX6PQqazsGsMyf5SMfs6OA6y";
  const config = { productId: "S3EUVBRJLB", deviceName: "test_device", deviceSecret: secret };
  const verify = (username: string, hex: string, algorithm: "sha1" | "sha256") =>
    assert.equal(
      hex,
      createHmac(algorithm, Buffer.from(secret, "base64")).update(username).digest("hex"),
    );

  it("signs <productId><deviceName>;12010126;<connid>;<expiry> with HMAC-SHA256 of the decoded secret", () => {
    const identity = mqttIdentity(config);
    assert.equal(identity.clientId, "S3EUVBRJLBtest_device");
    assert.match(identity.username, /^S3EUVBRJLBtest_device;12010126;[A-Za-z0-9]{5};2147483647$/);
    const [hex, method] = identity.password!.split(";");
    assert.equal(method, "hmacsha256");
    verify(identity.username, hex, "sha256");
  });

  it("signs with HMAC-SHA1 as the C SDK does, with its sdkappid when asked", () => {
    const identity = mqttIdentity({ ...config, signMethod: "hmacsha1", sdkAppId: "21010406" });
    assert.match(identity.username, /^S3EUVBRJLBtest_device;21010406;[A-Za-z0-9]{5};\d+$/);
    const [hex, method] = identity.password!.split(";");
    assert.equal(method, "hmacsha1");
    assert.match(hex, /^[0-9a-f]{40}$/);
    verify(identity.username, hex, "sha1");
  });

  it("expires the signature after its lifetime when the time is known, never otherwise", () => {
    const now = 1_700_000_000_999;
    assert.equal(mqttIdentity(config, now).username.split(";")[3], "1700003600");
    const short = mqttIdentity({ ...config, signatureLifetimeSeconds: 60 }, now);
    assert.equal(short.username.split(";")[3], "1700000060");
    assert.equal(mqttIdentity(config).username.split(";")[3], String(NO_EXPIRY));
  });

  it("draws a new connection id from the random source", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add(mqttIdentity(config).username.split(";")[2]);
    assert.ok(ids.size > 15);
    assert.equal(mqttIdentity(config, undefined, () => 0).username.split(";")[2], "aaaaa");
    assert.equal(mqttIdentity(config, undefined, () => 0.999).username.split(";")[2], "99999");
  });

  it("has no password for a certificate device", () => {
    const identity = mqttIdentity({ productId: "P1", deviceName: "d1" });
    assert.deepEqual(Object.keys(identity).sort(), ["clientId", "username"]);
  });

  it("refuses a secret that is not base64", () => {
    assert.throws(() => mqttIdentity({ ...config, deviceSecret: "not base64!" }), {
      code: "internal",
    });
  });
});
