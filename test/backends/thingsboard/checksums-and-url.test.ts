// Every checksum algorithm ThingsBoard offers, from the server's own notation to a match on the
// bytes the device received; and a URL package fetched over HTTP.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { nodeClock } from "../../../hosts/node/clock";
import { createNodeHttpClient } from "../../../hosts/node/http";
import { httpSource } from "../../../src/core/download/http-source";
import { matchDigest } from "../../../src/core/hash/index";
import type { HashAlgorithm } from "../../../src/core/ports";
import { toHex } from "../../../src/core/util/bytes";
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
} from "../../../tools/clouds/thingsboard/index";
import { startFirmwareServer, type FirmwareServer } from "../../../tools/fwserver/index";
import { TIERS, TITLE, TOKEN, download, image, startTier, states, type Tier } from "./support";

const CORE_NAME: Record<ChecksumAlgorithm, HashAlgorithm> = {
  MD5: "md5",
  SHA256: "sha256",
  SHA384: "sha384",
  SHA512: "sha512",
  CRC32: "crc32",
  MURMUR3_32: "murmur3_32",
  MURMUR3_128: "murmur3_128",
};

/** Guava writes the 32-bit values little-endian; the rest are the digest bytes in order. */
const NOTATION: Record<ChecksumAlgorithm, string> = {
  MD5: "hex",
  SHA256: "hex",
  SHA384: "hex",
  SHA512: "hex",
  CRC32: "little-endian hex",
  MURMUR3_32: "little-endian hex",
  MURMUR3_128: "hex",
};

for (const tierInfo of TIERS) {
  describe(`ThingsBoard checksums through ${tierInfo.name}`, { skip: tierInfo.skip }, () => {
    let tier: Tier;
    before(async () => {
      tier = await startTier(tierInfo.name);
    });
    after(async () => {
      await tier.close();
    });

    for (const algorithm of CHECKSUM_ALGORITHMS) {
      it(`${algorithm}: the server's checksum matches the received bytes`, async () => {
        // Not a multiple of the chunk size, so the last chunk is short.
        const data = image(3 * 4096 + 1234);
        const pkg = tier.cloud.assign({
          token: TOKEN,
          title: TITLE,
          version: algorithm,
          data,
          algorithm,
        });
        assert.equal(tier.cloud.attributes(TOKEN).shared.fw_checksum_algorithm, algorithm);
        const device = await tier.device();
        const offer = await device.listener.nextOffer((o) => o.version === algorithm);
        const name = CORE_NAME[algorithm];
        assert.deepEqual(offer.hashes, { [name]: pkg.checksum });
        const got = await download(device.backend.source!(offer), offer);
        assert.deepEqual(got.bytes, data);
        assert.deepEqual(matchDigest(name, got.digests[name]!, offer.hashes[name]!), {
          match: true,
          notation: NOTATION[algorithm],
        });
        // One flipped bit in the image and the same checksum no longer matches.
        const flipped = got.digests[name]!.slice();
        flipped[0] ^= 1;
        assert.equal(matchDigest(name, flipped, offer.hashes[name]!).match, false);
        await device.close();
      });
    }

    it("a CRC32 typed by hand in big-endian hex matches too, and says so", async () => {
      const data = image(5000);
      const server = tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "crc-be",
        data,
        algorithm: "CRC32",
      });
      const bigEndian = (server.checksum!.match(/../g) ?? []).reverse().join("").toUpperCase();
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "crc-be",
        data,
        algorithm: "CRC32",
        checksum: bigEndian,
      });
      const device = await tier.device();
      const offer = await device.listener.nextOffer(
        (o) => o.hashes.crc32 === bigEndian.toLowerCase(),
      );
      const got = await download(device.backend.source!(offer), offer);
      assert.equal(toHex(got.digests.crc32!), bigEndian.toLowerCase());
      assert.deepEqual(matchDigest("crc32", got.digests.crc32!, offer.hashes.crc32!), {
        match: true,
        notation: "hex",
      });
      await device.close();
    });

    it("SHA256 when fw_checksum_algorithm is absent; an unknown algorithm is refused with FAILED", async () => {
      const device = await tier.device();
      const data = image(100);
      // A checksum with no algorithm, as a hand-made attribute set would have it.
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "no-alg",
        url: "http://127.0.0.1:9/x",
        size: 100,
        checksum: "ab".repeat(32),
      });
      const offer = await device.listener.nextOffer((o) => o.version === "no-alg");
      assert.deepEqual(offer.hashes, { sha256: "ab".repeat(32) });
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "bad-alg",
        data,
        algorithm: "WHIRLPOOL" as ChecksumAlgorithm,
        checksum: "00",
      });
      await tier.cloud.waitFor((e) => /WHIRLPOOL/.test(String(e.values.fw_error)), 3000);
      assert.equal(
        tier.cloud.status(TOKEN).error,
        "Received checksum algorithm (WHIRLPOOL) is not supported (offer-unsupported)",
      );
      assert.ok(!device.listener.offers.some((o) => o.version === "bad-alg"));
      await device.close();
    });
  });

  describe(`ThingsBoard URL packages through ${tierInfo.name}`, { skip: tierInfo.skip }, () => {
    let tier: Tier;
    let server: FirmwareServer;
    let root: string;
    before(async () => {
      tier = await startTier(tierInfo.name);
      root = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-tb-url-"));
      server = await startFirmwareServer({ root });
    });
    after(async () => {
      await tier.close();
      await server.close();
      fs.rmSync(root, { recursive: true, force: true });
    });

    it("offers fw_url as an HTTP source; the bytes from it match fw_checksum", async () => {
      const data = image(50_000);
      fs.writeFileSync(path.join(root, "sensor-2.0.bin"), data);
      const url = `${server.url}/sensor-2.0.bin`;
      const pkg = tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "2.0",
        url,
        data,
        algorithm: "MD5",
      });
      assert.equal(tier.cloud.attributes(TOKEN).shared.fw_url, url);
      const device = await tier.device();
      const offer = await device.listener.nextOffer();
      assert.deepEqual(offer.source, { kind: "http", url });
      assert.equal(offer.size, 50_000);
      assert.deepEqual(offer.hashes, { md5: pkg.checksum });
      const source = httpSource({
        http: createNodeHttpClient(),
        clock: nodeClock,
        url,
        expectedSize: offer.size,
      });
      const got = await download(source, offer);
      assert.deepEqual(got.bytes, data);
      assert.equal(matchDigest("md5", got.digests.md5!, offer.hashes.md5!).match, true);
      assert.equal(tier.cloud.chunkRequests(TOKEN).length, 0);
      for (const status of ["downloading", "downloaded", "verified", "updating"] as const) {
        await device.backend.report({ offer, status });
      }
      await tier.cloud.waitFor((e) => e.values.fw_state === "UPDATING", 3000);
      assert.deepEqual(states(tier.cloud), ["DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING"]);
      await device.close();
    });

    it("a URL package without fw_size is refused: the device must know the size first", async () => {
      const url = `${server.url}/unknown-size.bin`;
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "2.1", url });
      const device = await tier.device();
      await tier.cloud.waitFor((e) => /fw_size/.test(String(e.values.fw_error)), 3000);
      assert.deepEqual(device.listener.offers, []);
      // The server removed the size, algorithm and checksum a URL package lacks.
      const shared = tier.cloud.attributes(TOKEN).shared;
      assert.equal(shared.fw_url, url);
      assert.equal("fw_size" in shared || "fw_checksum" in shared, false);
      await device.close();
    });
  });
}
