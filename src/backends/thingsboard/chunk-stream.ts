// One pass over a ThingsBoard package in chunks (v2/fw|sw/request/<id>/chunk/<n>), with a window
// of requests in flight: the byte stream the backend hands the transfer loop.
import { otaError } from "../../core/errors";
import type { OtaError } from "../../core/errors";
import type { Offer } from "../../core/offer";
import type { Clock, Logger, MqttClient, TimerHandle } from "../../core/ports";
import type { ByteStream } from "../../core/source";
import { MAX_CHUNK_SIZE, MAX_WINDOW, prefixOf, type PackageKind } from "./package";

interface Waiter {
  resolve(value: Uint8Array | null): void;
  reject(error: OtaError): void;
}

interface ChunkRequest {
  timer: TimerHandle;
  tries: number;
}

export interface StreamOptions {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
  kind: PackageKind;
  requestId: number;
  offer: Offer;
  offset: number;
  chunkSize: number;
  window: number;
  maxBytesInFlight: number;
  timeoutMs: number;
  retries: number;
  onEnd(stream: ChunkStream): void;
}

/**
 * One pass over a package in chunks, from `offset`. Up to `window` chunks are requested or held
 * at once (so memory stays within window x chunkSize), and they are handed out in index order
 * whatever order they arrive in; a duplicate or a chunk nobody asked for is dropped. A chunk not
 * answered within the timeout is asked for again, up to `retries` times.
 */
export class ChunkStream implements ByteStream {
  readonly offset: number;
  readonly offerId: string;
  readonly requestId: string;
  private next: number;
  private skip: number;
  private requestNext: number;
  /** Index of the chunk expected to end the transfer: short, or empty at an exact multiple. */
  private last: number;
  private ended = false;
  private pending: Record<number, ChunkRequest> = {};
  private held: Record<number, Uint8Array> = {};
  private failure: OtaError | undefined;
  private finished = false;
  private fillTimer: TimerHandle | undefined;
  private waiter: Waiter | undefined;
  private readonly requestTopic: string;
  /** Chunk size and window now: as configured, or grown (see ThingsBoardConfig.maxBytesInFlight). */
  private size: number;
  private window: number;
  private answered = false;

  constructor(private readonly o: StreamOptions) {
    this.offset = o.offset;
    this.offerId = o.offer.id;
    this.requestId = String(o.requestId);
    this.size = o.chunkSize;
    this.window = o.window;
    this.next = Math.floor(o.offset / o.chunkSize);
    this.skip = o.offset - this.next * o.chunkSize;
    this.requestNext = this.next;
    this.last = Math.floor(o.offer.size / o.chunkSize);
    this.requestTopic = "v2/" + prefixOf(o.kind) + "/request/" + o.requestId + "/chunk/";
    this.fill();
  }

  read(): Promise<Uint8Array | null> {
    if (this.failure) return Promise.reject(this.failure);
    const data = this.take();
    if (data !== undefined || this.finished)
      return Promise.resolve(data === undefined ? null : data);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(): void {
    this.finish();
    this.wake();
  }

  /** A response on v2/<kind>/response/<requestId>/chunk/<index>. */
  receive(index: number, data: Uint8Array): void {
    const request = this.pending[index];
    if (this.finished || !request) return;
    this.o.clock.clearTimeout(request.timer);
    delete this.pending[index];
    this.answered = true;
    if (data.length < this.size) {
      this.ended = true;
      this.last = index;
      // Requests past the end only ever get empty chunks.
      for (const key of Object.keys(this.pending)) {
        if (+key > index) this.drop(+key);
      }
    } else if (index >= this.last && !this.ended) {
      // fw_size was short of the package: only the empty chunk tells the end now.
      this.last = Infinity;
    }
    this.held[index] = data;
    this.wake();
  }

  fail(error: OtaError): void {
    if (this.finished) return;
    this.failure = error;
    this.finish();
    this.wake();
  }

  private take(): Uint8Array | null | undefined {
    for (;;) {
      if (this.ended && this.next > this.last) {
        this.finish();
        return null;
      }
      const data = this.held[this.next];
      if (data === undefined) return undefined;
      delete this.held[this.next];
      this.next++;
      this.fill();
      const skip = this.skip;
      this.skip = 0;
      if (data.length > skip) return skip > 0 ? data.subarray(skip) : data;
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
      return;
    }
    const data = this.take();
    if (data === undefined && !this.finished) return;
    this.waiter = undefined;
    waiter.resolve(data === undefined ? null : data);
  }

  /**
   * Requests the free part of the window as one batch, never while a request is pending. With
   * Nagle's algorithm on the device's socket (lwIP's default, and Node's), a request written while
   * an earlier one is unacknowledged waits for that acknowledgement, which the server sends with
   * its response: requests trickled out one per consumed chunk would go out a round trip late, and
   * a window of 8 would do the work of 4. A batch leaves in one segment once the previous one was
   * answered. When the reader has drained every chunk the whole window goes out at once; while it
   * still holds some, the batch waits a turn of the event loop for a fast reader to catch up, and
   * then goes out if half the window (or the rest of the package) is free.
   */
  private fill(): void {
    if (this.finished || Object.keys(this.pending).length > 0) return;
    if (Object.keys(this.held).length === 0) {
      if (this.answered) this.grow();
      this.requestFree(1);
    } else if (this.fillTimer === undefined) {
      this.fillTimer = this.o.clock.setTimeout(() => {
        this.fillTimer = undefined;
        if (!this.finished && Object.keys(this.pending).length === 0) {
          this.requestFree(Math.min(Math.ceil(this.window / 2), this.last - this.requestNext + 1));
        }
      }, 0);
    }
  }

  /**
   * The reader has taken every chunk and nothing is asked for: the network, not the reader, is
   * the bottleneck. Doubles the chunk size (fewer messages for the same bytes) and then the
   * window, each as far as maxBytesInFlight allows, the window only up to the budget's number of
   * 64 KiB chunks: up to four times the bytes per round trip. The chunk size changes only here, where no chunk is pending or held, and only at an offset that is a
   * whole number of new chunks, since the server places chunk n at n x the size asked for.
   */
  private grow(): void {
    const budget = this.o.maxBytesInFlight;
    const size = this.size * 2;
    const at = this.next * this.size;
    if (
      size <= MAX_CHUNK_SIZE &&
      this.window * size <= budget &&
      at % size === 0 &&
      !this.ended &&
      this.last !== Infinity
    ) {
      this.size = size;
      this.next = at / size;
      this.requestNext = this.next;
      this.last = Math.floor(this.o.offer.size / size);
    }
    // The window grows only as far as it leaves room for chunks of the largest size.
    const windowCap = Math.min(MAX_WINDOW, Math.max(1, Math.floor(budget / MAX_CHUNK_SIZE)));
    if (this.window * 2 <= windowCap && this.window * 2 * this.size <= budget) this.window *= 2;
  }

  private requestFree(atLeast: number): void {
    let end = Math.min(this.last, this.next + this.window - 1);
    // Adapting, a batch ends where possible on a whole number of chunks of twice the size, so
    // that the chunk size may double once it is drained.
    if (this.o.maxBytesInFlight > 0 && end % 2 === 0 && end > this.requestNext) end--;
    if (end - this.requestNext + 1 < Math.max(1, atLeast)) return;
    while (this.requestNext <= end) this.request(this.requestNext++, 0);
  }

  private request(index: number, tries: number): void {
    const timer = this.o.clock.setTimeout(() => this.timedOut(index), this.o.timeoutMs);
    this.pending[index] = { timer, tries };
    // QoS 0: the timer is the retry; a refused request (PAYLOAD_TOO_LARGE) is never acknowledged.
    this.o.mqtt.publish(this.requestTopic + index, String(this.size), 0).catch((error) => {
      this.o.logger.log("debug", "chunk request not sent", { index, error: String(error) });
    });
  }

  private timedOut(index: number): void {
    const request = this.pending[index];
    if (this.finished || !request) return;
    if (request.tries >= this.o.retries) {
      this.fail(
        otaError(
          "timeout",
          "chunk " +
            index +
            " of " +
            this.o.offer.id +
            ": no answer to " +
            (request.tries + 1) +
            " requests of " +
            this.o.timeoutMs +
            " ms each",
          true,
        ),
      );
      return;
    }
    this.o.logger.log("debug", "chunk request timed out, asking again", {
      index,
      tries: request.tries + 1,
    });
    this.window = Math.max(this.o.window, Math.floor(this.window / 2));
    this.request(index, request.tries + 1);
  }

  private drop(index: number): void {
    const request = this.pending[index];
    if (!request) return;
    this.o.clock.clearTimeout(request.timer);
    delete this.pending[index];
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.fillTimer !== undefined) this.o.clock.clearTimeout(this.fillTimer);
    for (const key of Object.keys(this.pending)) this.drop(+key);
    this.held = {};
    this.o.onEnd(this);
  }
}
