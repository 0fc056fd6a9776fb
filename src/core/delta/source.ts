// A delta as a ByteSource: the patch's bytes come from another source (HTTP Range, MQTT chunks),
// the base from the running slot, and the target image's bytes flow out to the transfer loop,
// which hashes, checks and writes them like any image's.
//
// Resume: output is handed out in pieces that never cross a sector boundary, and at every boundary
// the applier's state is copied (a few numbers and the 256-byte heatshrink history). When the
// transfer journals an offset (always a boundary) it first calls checkpoint(), which stores that
// copy in the key-value store. After a power cut, open(offset) restores it and fetches the patch
// from the byte the state had reached; after a dropped connection it restores the latest copy in
// memory and decodes again up to the requested offset (less than one sector), discarding it.
import { otaError } from "../errors";
import type { KeyValueStore, Logger } from "../ports";
import { CheckedRecord } from "../record";
import type { ByteSource, ByteStream } from "../source";
import { fromHex, toHex } from "../util/bytes";
import {
  MAX_WINDOW_BITS,
  PatchApplier,
  emptyPatchState,
  type BaseReader,
  type PatchFormat,
  type PatchState,
} from "./patch";

/** Target bytes handed out at a time, at most. */
const PIECE = 4096;

export interface DeltaSourceOptions {
  patch: ByteSource;
  /** Size of the patch as the offer announces it. */
  patchSize: number;
  /** Size of the target image as the offer announces it; the patch must make exactly this many. */
  targetSize: number;
  format: PatchFormat;
  base: BaseReader;
  /** The SHA-256 appended to the running image (the esp_delta_ota container must name it). */
  baseSha256: Uint8Array;
  /** Identity of this delta (the target image's and the patch's), so another's state is never used. */
  identity: string;
  /** The slot's sector size: the transfer journals at these boundaries. */
  sectorSize: number;
  store: KeyValueStore;
  logger: Logger;
}

interface SavedState {
  identity: string;
  offset: number;
  state: Record<string, number>;
  history: string;
}

const NUMBERS = [
  "stage",
  "compression",
  "windowBits",
  "lookaheadBits",
  "toSize",
  "toOffset",
  "fromOffset",
  "left",
  "patchOffset",
] as const;
const HEATSHRINK_NUMBERS = ["state", "bits", "bitCount", "distance", "count", "head"] as const;

function encodeState(identity: string, state: PatchState): SavedState {
  const numbers: Record<string, number> = {};
  for (let i = 0; i < NUMBERS.length; i++) numbers[NUMBERS[i]] = state[NUMBERS[i]];
  for (let i = 0; i < HEATSHRINK_NUMBERS.length; i++)
    numbers["hs." + HEATSHRINK_NUMBERS[i]] = state.heatshrink[HEATSHRINK_NUMBERS[i]];
  const history = state.heatshrink.history.subarray(0, 1 << state.windowBits);
  return { identity, offset: state.toOffset, state: numbers, history: toHex(history) };
}

/** The saved state, or undefined if any field is missing or out of shape. */
function decodeState(saved: SavedState): PatchState | undefined {
  const state = emptyPatchState();
  const numbers = saved.state;
  if (typeof numbers !== "object" || numbers === null) return undefined;
  for (let i = 0; i < NUMBERS.length; i++) {
    const value = numbers[NUMBERS[i]];
    if (typeof value !== "number" || value < 0 || value !== Math.floor(value)) return undefined;
    state[NUMBERS[i]] = value;
  }
  for (let i = 0; i < HEATSHRINK_NUMBERS.length; i++) {
    const value = numbers["hs." + HEATSHRINK_NUMBERS[i]];
    if (typeof value !== "number" || value < 0 || value !== Math.floor(value)) return undefined;
    state.heatshrink[HEATSHRINK_NUMBERS[i]] = value;
  }
  if (state.windowBits > MAX_WINDOW_BITS) return undefined;
  const history = typeof saved.history === "string" ? fromHex(saved.history) : undefined;
  if (!history || (state.compression !== 0 && history.length !== 1 << state.windowBits))
    return undefined;
  state.heatshrink.history = history;
  return state;
}

export class DeltaSource implements ByteSource {
  private readonly record: CheckedRecord<SavedState>;
  /** The applier's state at the latest sector boundary reached in this boot. */
  private readonly latest = emptyPatchState();
  private latestValid = false;

  constructor(private readonly options: DeltaSourceOptions) {
    this.record = new CheckedRecord<SavedState>(options.store, "ota.delta", options.logger);
  }

  /** Stores the state at `offset` before the transfer journals it; called at sector boundaries. */
  async checkpoint(offset: number): Promise<void> {
    if (this.latestValid && this.latest.toOffset === offset) {
      await this.record.save(encodeState(this.options.identity, this.latest));
    } else {
      // Not a point this source stopped at: a resume from there starts the patch again.
      await this.record.clear();
    }
  }

  async open(offset: number): Promise<ByteStream> {
    const options = this.options;
    const applier = new PatchApplier(options.base, {
      format: options.format,
      baseSha256: options.baseSha256,
    });
    const state = await this.stateAtOrBefore(offset);
    if (state) applier.restore(state);
    const patchAt = state ? state.patchOffset : 0;
    const stream = await options.patch.open(patchAt);
    if (stream.offset !== patchAt) {
      if (stream.offset !== 0) {
        stream.close();
        throw otaError("internal", `patch source opened at ${stream.offset}, asked ${patchAt}`);
      }
      // The patch's server cannot resume: the target starts again from 0.
      const fresh = new PatchApplier(options.base, {
        format: options.format,
        baseSha256: options.baseSha256,
      });
      return this.streamFrom(fresh, stream, 0);
    }
    return this.streamFrom(applier, stream, offset);
  }

  private async stateAtOrBefore(offset: number): Promise<PatchState | undefined> {
    if (offset === 0) return undefined;
    if (this.latestValid && this.latest.toOffset <= offset) return this.latest;
    const saved = await this.record.load();
    if (!saved || saved.identity !== this.options.identity || saved.offset > offset) {
      this.options.logger.log("info", `no saved patch state at or before ${offset}; from 0`);
      return undefined;
    }
    const state = decodeState(saved);
    if (!state) this.options.logger.log("warn", "the saved patch state is malformed; from 0");
    return state;
  }

  private streamFrom(applier: PatchApplier, patch: ByteStream, offset: number): ByteStream {
    const options = this.options;
    const sector = options.sectorSize;
    // A restored state may lie before the offset asked for: decode up to it, discarding.
    let skip = offset - applier.targetOffset;
    let ended = false;
    let cleared = false;
    const read = async (): Promise<Uint8Array | null> => {
      for (;;) {
        if (applier.done) {
          applier.finish();
          // Whatever the patch source still holds is past the target's end.
          while (!ended) {
            const rest = await patch.read();
            if (rest === null) ended = true;
            else if (rest.length > 0)
              throw otaError("delta-invalid", "the patch continues past the end of its target");
          }
          if (!cleared) {
            // The target is whole: a later resume re-decodes rather than keep about 1 KB in NVS.
            cleared = true;
            await this.record.clear();
          }
          return null;
        }
        const at = applier.targetOffset;
        let room = sector - (at % sector);
        if (room > PIECE) room = PIECE;
        if (skip > 0 && room > skip) room = skip;
        const out = new Uint8Array(room);
        const n = await applier.pull(out, room);
        const size = applier.targetSize;
        if (size >= 0 && size !== options.targetSize)
          throw otaError(
            "delta-invalid",
            `the patch makes ${size} bytes, the offer announces ${options.targetSize}`,
          );
        if (n > 0 && applier.targetOffset % sector === 0) {
          applier.save(this.latest);
          this.latestValid = true;
        }
        if (n > 0 && skip > 0) {
          skip -= n;
          continue;
        }
        if (n > 0) return n === room ? out : out.subarray(0, n);
        if (!applier.needsInput) continue;
        const chunk = ended ? null : await patch.read();
        if (chunk === null) {
          ended = true;
          if (applier.patchOffset < options.patchSize) return null;
          throw otaError(
            "delta-invalid",
            `the patch ended at target byte ${applier.targetOffset} of ${applier.targetSize}`,
          );
        }
        applier.feed(chunk);
      }
    };
    return { offset, read, close: () => patch.close() };
  }
}
