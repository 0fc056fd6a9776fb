// A whole stream-to-slot run through the core inside the engine: chunks of random sizes from a
// source, the transfer loop, the journal, the incremental hashes and the image checks, into a slot
// in memory; then a power cut in the middle and a resume from the journal's durable offset.
import { otaError } from "../../../src/core/errors";
import { Journal } from "../../../src/core/journal";
import type { Offer } from "../../../src/core/offer";
import type { KeyValueStore, Logger, SlotWriter } from "../../../src/core/ports";
import type { ByteSource } from "../../../src/core/source";
import { trustedKeys, type TrustedKey } from "../../../src/core/signature/keys";
import { transfer, type TransferResult } from "../../../src/core/transfer";
import { fromHex, toHex } from "../../../src/core/util/bytes";
import { check, checkEqual, clock, host, type Cases } from "../runtime";

const SECTOR = 4096;
/** A P-256 public point that signed nothing here. */
const STRANGER =
  "0463456dbb8607ffb964bcd8b55384a14301bdef1bb3791af5a5d2b480ec2010afea1561c08ebbc644faa95a0073971839245d7d948b7f5b3d50605dee087bfbca";

class MemorySlot implements SlotWriter {
  readonly name = "ota_1";
  readonly sectorSize = SECTOR;
  readonly bytes: Uint8Array;
  private position = 0;
  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size).fill(0xff);
  }
  async begin(offset: number) {
    this.position = offset;
    this.bytes.fill(0xff, offset);
  }
  async write(data: Uint8Array) {
    this.bytes.set(data, this.position);
    this.position += data.length;
  }
  async finish() {}
  async abort() {}
  async read(offset: number, length: number) {
    return this.bytes.slice(offset, offset + length);
  }
}

class MemoryStore implements KeyValueStore {
  private values: Record<string, string> = {};
  async get(key: string) {
    return Object.prototype.hasOwnProperty.call(this.values, key) ? this.values[key] : undefined;
  }
  async set(key: string, value: string) {
    this.values[key] = value;
  }
  async delete(key: string) {
    delete this.values[key];
  }
}

const logger: Logger = { log: () => {} };

/** Serves `image` in chunks of 1..3000 bytes; with `cutAt`, the power fails at that byte. */
function chunkedSource(image: Uint8Array, cutAt?: number): ByteSource & { opened: number[] } {
  const opened: number[] = [];
  return {
    opened,
    async open(offset: number) {
      opened.push(offset);
      let at = offset;
      return {
        offset,
        async read() {
          if (cutAt !== undefined && at >= cutAt) throw otaError("internal", "power cut");
          if (at >= image.length) return null;
          const end = Math.min(image.length, at + 1 + Math.floor(clock.random() * 3000));
          const chunk = image.slice(at, end);
          at = end;
          return chunk;
        },
        close() {},
      };
    },
  };
}

function setup(size: number) {
  const { md5, sha256 } = host<{ md5: string; sha256: string }>("appImage", {
    version: "2.3.4",
    size,
    seed: 7,
  });
  const image = new Uint8Array(size);
  for (let at = 0; at < size; at += 2048) {
    image.set(fromHex(host<string>("imageSlice", { offset: at, length: 2048 }))!, at);
  }
  const offer: Offer = {
    backend: "xs",
    id: "job-xs",
    version: "2.3.4",
    size: image.length,
    source: { kind: "http", url: "http://unused/" },
    hashes: { md5, sha256 },
    context: {},
  };
  return { image, offer, md5, sha256 };
}

function run(
  offer: Offer,
  source: ByteSource,
  slot: SlotWriter,
  journal: Journal,
  trustedKeys: TrustedKey[] = [],
) {
  return transfer({
    trustedKeys,
    offer,
    source,
    slot,
    journal,
    clock,
    logger,
    config: {
      journalIntervalBytes: 16 * 1024,
      maxAttempts: 3,
      backoff: { baseMs: 10, maxMs: 100 },
    },
    expect: { chipId: 0, version: offer.version },
  });
}

function summary(result: TransferResult) {
  const image = result.verifyImage();
  return {
    md5: toHex(result.digests.md5!),
    sha256: toHex(result.digests.sha256!),
    imageLength: image?.imageLength,
    resumedFrom: result.resumedFrom,
    fetched: result.fetched,
  };
}

export default {
  async "an image streams into the slot with every check passing"() {
    const { image, offer, md5, sha256 } = setup(200_000);
    const slot = new MemorySlot(1024 * 1024);
    const result = summary(
      await run(offer, chunkedSource(image), slot, new Journal(new MemoryStore(), logger)),
    );
    checkEqual(result.md5, md5, "md5");
    checkEqual(result.sha256, sha256, "sha256");
    for (let i = 0; i < image.length; i++) {
      if (slot.bytes[i] !== image[i]) throw new Error(`slot differs from the image at byte ${i}`);
    }
    return result;
  },
  async "a power cut mid-stream resumes from the journal, re-hashing the prefix"() {
    const { image, offer, md5 } = setup(300_000);
    const slot = new MemorySlot(1024 * 1024);
    const store = new MemoryStore();
    let cut = "";
    try {
      await run(offer, chunkedSource(image, 170_000), slot, new Journal(store, logger));
    } catch (error) {
      cut = (error as Error).message;
    }
    checkEqual(cut, "power cut", "first attempt");
    // After the "reboot": new journal object, same store and slot.
    const source = chunkedSource(image);
    const result = summary(await run(offer, source, slot, new Journal(store, logger)));
    check(
      result.resumedFrom > 0 && result.resumedFrom % SECTOR === 0,
      `resumed from ${result.resumedFrom}`,
    );
    check(
      170_000 - result.resumedFrom <= 16 * 1024 + SECTOR,
      "refetched at most one journal interval",
    );
    checkEqual(source.opened[0], result.resumedFrom, "first range");
    checkEqual(result.fetched, image.length - result.resumedFrom, "bytes fetched after resume");
    checkEqual(result.md5, md5, "md5 over resumed stream");
    return result;
  },
  async "a corrupted image is caught by its checksum and by the image check"() {
    const { image, offer } = setup(100_000);
    const bad = image.slice();
    bad[50_000] ^= 0x01;
    const result = await run(
      offer,
      chunkedSource(bad),
      new MemorySlot(1024 * 1024),
      new Journal(new MemoryStore(), logger),
    );
    let verdict = "";
    try {
      result.verifyImage();
    } catch (error) {
      verdict = (error as { code: string }).code + ": " + (error as Error).message;
    }
    check(toHex(result.digests.md5!) !== offer.hashes.md5, "md5 differs");
    check(verdict.indexOf("image-invalid") === 0, verdict);
    return verdict;
  },
  async "a signed image verifies, and one signed by another key is refused, naming both keys"() {
    const { offer } = setup(120_000);
    const signed = host<{ size: number; md5: string; publicKey: string }>("signImage", {});
    const image = new Uint8Array(signed.size);
    for (let at = 0; at < signed.size; at += 2048) {
      const length = Math.min(2048, signed.size - at);
      image.set(fromHex(host<string>("imageSlice", { offset: at, length }))!, at);
    }
    const signedOffer: Offer = { ...offer, size: signed.size, hashes: { md5: signed.md5 } };
    const verdicts: string[] = [];
    for (const key of [signed.publicKey, STRANGER]) {
      const result = await run(
        signedOffer,
        chunkedSource(image),
        new MemorySlot(1024 * 1024),
        new Journal(new MemoryStore(), logger),
        trustedKeys([key]),
      );
      try {
        result.verifySignature();
        result.verifyImage();
        verdicts.push("verified");
      } catch (error) {
        verdicts.push((error as { code: string }).code + ": " + (error as Error).message);
      }
    }
    checkEqual(verdicts[0], "verified", "the signing key");
    check(
      /^signature-invalid: signature key: the image is signed with key [0-9a-f]{64} \(block 0, ECDSA P-256\); this device trusts [0-9a-f]{64}$/.test(
        verdicts[1],
      ),
      verdicts[1],
    );
    // The key digests differ from run to run; what the engines must agree on is the verdicts' form.
    return verdicts.map((verdict) => verdict.replace(/[0-9a-f]{64}/g, "<digest>"));
  },
} satisfies Cases;
