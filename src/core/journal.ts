// The resume journal: how much of which image is durably in the inactive slot. Written at most
// every `intervalBytes` (flash wear), always at a sector boundary, so that after a power cut the
// transfer re-hashes the prefix from the slot and continues from there.
import { CheckedRecord } from "./record";
import type { KeyValueStore, Logger } from "./ports";
import type { Offer } from "./offer";

interface JournalEntry {
  /** Identity of the image: the journal of another offer is never used. */
  image: string;
  slot: string;
  offset: number;
}

/** What identifies an image for resuming: not its URL, which a presigned refresh may change. */
export function imageIdentity(offer: Offer): string {
  const hashes: string[] = [];
  for (const algorithm of Object.keys(offer.hashes).sort()) {
    hashes.push(algorithm + "=" + offer.hashes[algorithm as keyof Offer["hashes"]]);
  }
  return [offer.backend, offer.id, offer.version, offer.size].concat(hashes).join(";");
}

export class Journal {
  private readonly record: CheckedRecord<JournalEntry>;

  constructor(store: KeyValueStore, logger: Logger) {
    this.record = new CheckedRecord<JournalEntry>(store, "ota.journal", logger);
  }

  /** The durable offset for this image in this slot, or 0. */
  async resumeOffset(
    image: string,
    slot: string,
    size: number,
    sectorSize: number,
  ): Promise<number> {
    const entry = await this.record.load();
    if (!entry || entry.image !== image || entry.slot !== slot) return 0;
    const offset = entry.offset;
    if (typeof offset !== "number" || offset < 0 || offset > size || offset % sectorSize !== 0)
      return 0;
    return offset;
  }

  save(image: string, slot: string, offset: number): Promise<void> {
    return this.record.save({ image, slot, offset });
  }

  clear(): Promise<void> {
    return this.record.clear();
  }
}
