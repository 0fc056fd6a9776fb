// The transfer loop: bytes from a ByteSource into the inactive slot, hashed and checked as they
// flow, resumable from the journal's durable offset after a dropped connection or a power cut.
// The image is never held in memory: one chunk at a time goes source -> checks -> slot.
import { backoffDelay, type BackoffPolicy } from "./download/backoff";
import { asOtaError, otaError } from "./errors";
import { createDigest } from "./hash/index";
import {
  EspImageVerifier,
  IMAGE_PREFIX_SIZE,
  checkImageHeader,
  parseImageHeader,
} from "./image/esp-image";
import type { ImageExpectation, ImageHeader, ImageVerification } from "./image/esp-image";
import { imageIdentity, type Journal } from "./journal";
import type { Offer } from "./offer";
import type {
  Clock,
  Digest,
  HashAlgorithm,
  Logger,
  NativeDigests,
  NativeSignatures,
  SlotWriter,
} from "./ports";
import { SignatureCheck } from "./signature/check";
import type { TrustedKey } from "./signature/keys";
import type { ByteSource } from "./source";

export interface TransferConfig {
  /**
   * Least bytes between two journal writes (rounded to sectors): flash wear against bytes fetched
   * again. Images above 256 times this are journaled 256 times, at size/256.
   */
  journalIntervalBytes: number;
  /** Transient failures in a row, without a byte of progress, before giving up. */
  maxAttempts: number;
  backoff: BackoffPolicy;
}

export interface TransferContext {
  offer: Offer;
  source: ByteSource;
  slot: SlotWriter;
  journal: Journal;
  clock: Clock;
  logger: Logger;
  nativeDigests?: NativeDigests;
  nativeSignatures?: NativeSignatures;
  config: TransferConfig;
  /** Keys one of which must have signed the image; none: the image is not signature-checked. */
  trustedKeys?: TrustedKey[];
  /**
   * What the ESP-IDF image header must say (chip, version, project, secure version). Without it the
   * bytes are a package, not an app image, and only the offer's digests judge them.
   */
  expect?: ImageExpectation;
  /** Further judgement of the header, as soon as it has arrived; throws to refuse the image. */
  onHeader?: (header: ImageHeader) => void;
  /** A fresh source after the URL expired (403), or undefined if the cloud has none. */
  refresh?: () => Promise<ByteSource | undefined>;
  onProgress?: (bytes: number, total: number) => void;
  /** Told the durable offset a transfer resumes from. */
  onResume?: (offset: number) => void;
  /** Polled between chunks: a cancelled transfer stops at the next chunk. */
  cancelled?: () => boolean;
}

/** Every byte is in the slot, not yet finished: the caller judges the result, then calls slot.finish(). */
export interface TransferResult {
  /** Final digest of every algorithm the offer gave a value for. */
  digests: Partial<Record<HashAlgorithm, Uint8Array>>;
  /**
   * Judges the image's structure, checksum byte and appended SHA-256 (throws image-invalid); gives
   * undefined for a package, which has no such structure, and for a slot whose finish() judges them
   * (SlotWriter.verifiesImage).
   */
  verifyImage: () => ImageVerification | undefined;
  /** Throws signature-invalid unless a trusted key signed the image (no-op without keys). */
  verifySignature: () => void;
  /** Offset the transfer resumed from (0 for a fresh one). */
  resumedFrom: number;
  /** Bytes that came over the network in this transfer. */
  fetched: number;
}

/** Everything that is fed every byte of the image, in order. */
class Checks {
  readonly digests: { algorithm: HashAlgorithm; digest: Digest }[] = [];
  readonly verifier: EspImageVerifier | undefined;
  readonly signature: SignatureCheck | undefined;
  private prefix = new Uint8Array(IMAGE_PREFIX_SIZE);
  private seen = 0;

  constructor(private readonly context: TransferContext) {
    const hostDigests = context.nativeDigests;
    for (const algorithm of Object.keys(context.offer.hashes) as HashAlgorithm[]) {
      this.digests.push({ algorithm, digest: createDigest(algorithm, hostDigests) });
    }
    // The header checks below run either way; the rest of the image is judged once, by the slot
    // when its finish() reads the image back as esp_ota_end does.
    if (context.expect && !context.slot.verifiesImage)
      this.verifier = new EspImageVerifier(() => createDigest("sha256", hostDigests));
    const keys = context.trustedKeys;
    if (keys && keys.length > 0)
      this.signature = new SignatureCheck(
        context.offer.size,
        context.offer.signature ? context.offer.signature.value : undefined,
        keys,
        hostDigests,
        context.nativeSignatures,
      );
  }

  update(chunk: Uint8Array): void {
    // The image header is judged as soon as its 288 bytes are in, long before the image ends.
    const expect = this.context.expect;
    if (expect && this.seen < IMAGE_PREFIX_SIZE) {
      const take = Math.min(IMAGE_PREFIX_SIZE - this.seen, chunk.length);
      this.prefix.set(chunk.subarray(0, take), this.seen);
      this.seen += take;
      if (this.seen === IMAGE_PREFIX_SIZE) {
        const header = parseImageHeader(this.prefix);
        checkImageHeader(header, expect);
        if (this.context.onHeader) this.context.onHeader(header);
      }
    }
    if (this.verifier) this.verifier.update(chunk);
    if (this.signature) this.signature.update(chunk);
    for (let i = 0; i < this.digests.length; i++) this.digests[i].digest.update(chunk);
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

const REHASH_CHUNK = 4096;
const JOURNAL_WRITES_PER_IMAGE = 256;

/**
 * Bytes between two journal writes for an image of `size`. At most JOURNAL_WRITES_PER_IMAGE writes,
 * however large the image: the flash wear of an update stays bounded, and what a cut costs stays
 * under 1/JOURNAL_WRITES_PER_IMAGE of the image.
 */
export function journalInterval(config: TransferConfig, sectorSize: number, size: number): number {
  return Math.max(
    sectorSize,
    config.journalIntervalBytes,
    Math.ceil(size / JOURNAL_WRITES_PER_IMAGE),
  );
}

export async function transfer(context: TransferContext): Promise<TransferResult> {
  const { offer, slot, journal, clock, logger, config } = context;
  const image = imageIdentity(offer);
  if (offer.size > slot.size) {
    throw otaError(
      "offer-too-large",
      `image of ${offer.size} bytes does not fit ${slot.name} (${slot.size} bytes)`,
    );
  }
  let offset = await journal.resumeOffset(image, slot.name, offer.size, slot.sectorSize);
  let checks = new Checks(context);
  await slot.begin(offset, offer.size);
  if (offset > 0) {
    logger.log("info", `resuming ${offer.id} at byte ${offset} of ${offer.size}`);
    if (context.onResume) context.onResume(offset);
    try {
      for (let at = 0; at < offset; at += REHASH_CHUNK) {
        checks.update(await slot.read(at, Math.min(REHASH_CHUNK, offset - at)));
      }
    } catch (thrown) {
      // The slot does not hold what the journal says (a corrupt or forged journal): its bytes
      // steer nothing, the image is fetched from the start.
      const error = asOtaError(thrown);
      if (error.transient) throw error;
      logger.log(
        "warn",
        `the journaled prefix is not this image (${error.message}); starting from 0`,
      );
      offset = 0;
      checks = new Checks(context);
      await journal.clear();
      await slot.begin(0, offer.size);
    }
  }

  const resumedFrom = offset;
  let source = context.source;
  let failures = 0;
  let refreshed = 0;
  let fetched = 0;
  let journaled = offset;
  const interval = journalInterval(config, slot.sectorSize, offer.size);

  while (offset < offer.size) {
    const startedAt = offset;
    try {
      const stream = await source.open(offset);
      try {
        if (stream.offset !== offset) {
          if (stream.offset !== 0)
            throw otaError("internal", `source opened at ${stream.offset}, asked ${offset}`);
          // The server cannot resume: start again from zero with fresh hashes.
          logger.log("warn", `server ignored the resume request at ${offset}; restarting from 0`);
          offset = 0;
          journaled = 0;
          checks = new Checks(context);
          await journal.clear();
          await slot.begin(0, offer.size);
        }
        for (;;) {
          if (context.cancelled && context.cancelled())
            throw otaError("cancelled", "update cancelled");
          const chunk = await stream.read();
          if (chunk === null) break;
          if (chunk.length === 0) continue;
          if (offset + chunk.length > offer.size) {
            throw otaError(
              "body-long",
              `the source sent more than the announced ${offer.size} bytes`,
            );
          }
          checks.update(chunk);
          await slot.write(chunk);
          offset += chunk.length;
          fetched += chunk.length;
          if (context.onProgress) context.onProgress(offset, offer.size);
          if (offset - journaled >= interval && offset < offer.size) {
            journaled = offset - (offset % slot.sectorSize);
            await journal.save(image, slot.name, journaled);
          }
        }
      } finally {
        stream.close();
      }
      if (offset < offer.size) {
        throw otaError("body-short", `the source ended at byte ${offset} of ${offer.size}`, true);
      }
    } catch (thrown) {
      const error = asOtaError(thrown);
      if (error.code === "url-expired" && context.refresh && refreshed < 3) {
        refreshed++;
        const fresh = await context.refresh();
        if (fresh) {
          logger.log("info", "download URL expired; continuing with a fresh one");
          source = fresh;
          continue;
        }
      }
      if (!error.transient) throw error;
      if (offset > startedAt) failures = 0;
      if (++failures >= config.maxAttempts) {
        throw otaError("retries-exhausted", `gave up after ${failures} attempts: ${error.message}`);
      }
      const retryAfter = (error as { retryAfterMs?: number }).retryAfterMs;
      const delay = backoffDelay(failures - 1, config.backoff, () => clock.random(), retryAfter);
      logger.log(
        "warn",
        `transfer interrupted at ${offset}: ${error.message}; retry in ${delay} ms`,
      );
      await sleep(clock, delay);
    }
  }

  const digests: Partial<Record<HashAlgorithm, Uint8Array>> = {};
  for (let i = 0; i < checks.digests.length; i++) {
    digests[checks.digests[i].algorithm] = checks.digests[i].digest.digest();
  }
  const verifier = checks.verifier;
  const signature = checks.signature;
  return {
    digests,
    verifyImage: () => (verifier ? verifier.finish(offer.size) : undefined),
    verifySignature: () => {
      if (signature) signature.finish();
    },
    resumedFrom,
    fetched,
  };
}
