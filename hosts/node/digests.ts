// Node's crypto as the host's native digests, as a board has its hardware SHA and Moddable's crypt
// module; the core's TypeScript hashes cover what is missing here (CRC32, Murmur3).
//
// nodeDigests hashes on a worker thread, as a board's hash peripheral works beside its CPU while
// the network stack runs on the other core: update() copies the bytes into a batch that goes to the
// worker when full, and digest() waits (Atomics.wait) for the worker's result. Meanwhile this thread
// receives, writes and checks the next bytes. Where no worker can run (or it died), and after
// useHashWorker(false), the hashing stays on the calling thread.
import { createHash } from "node:crypto";
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
  type MessagePort,
} from "node:worker_threads";
import { otaError } from "../../src/core/errors";
import type { Digest, NativeDigests } from "../../src/core/ports";

const NAMES: Record<string, string> = {
  md5: "md5",
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
};

/** Node's hashes on the calling thread. */
const onThisThread: NativeDigests = (algorithm) => {
  const name = NAMES[algorithm];
  if (!name) return undefined;
  const hash = createHash(name);
  return {
    update: (data) => void hash.update(data),
    digest: () => new Uint8Array(hash.digest()),
  };
};

/** Bytes gathered before they go to the worker: a message per batch, not per small update. */
const BATCH = 256 * 1024;
/** Bytes sent and not yet hashed above which update() waits for the worker to catch up. */
const BACKLOG = 8 * 1024 * 1024;
/** A worker that takes this long to take a batch or give a digest is taken for dead. */
const ANSWER_MS = 60_000;

// Int32 cells of the block shared with the worker.
/** 0 while a digest is awaited, 1 once it is in the result block, -1 if the worker failed. */
const STATUS = 0;
/** Bytes of the digest in the result block. */
const LENGTH = 1;
/** Bytes sent to the worker and not hashed yet. */
const PENDING = 2;

// Messages: {id, algorithm} starts a hash, {id, bytes, length} feeds it (and the buffer comes
// back through the returns port to be filled again), {id, done} ends it into the result block,
// {id, drop} forgets it. A hash that failed once gives no digest.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const control = new Int32Array(workerData.control);
const result = new Uint8Array(workerData.result);
const returns = workerData.returns;
const hashes = new Map();
parentPort.on("message", (message) => {
  const id = message.id;
  if (message.algorithm) hashes.set(id, createHash(message.algorithm));
  else if (message.drop) hashes.delete(id);
  else if (message.bytes) {
    try {
      hashes.get(id).update(new Uint8Array(message.bytes, 0, message.length));
    } catch {
      hashes.set(id, undefined);
    }
    Atomics.sub(control, ${PENDING}, message.length);
    Atomics.notify(control, ${PENDING});
    returns.postMessage(message.bytes, [message.bytes]);
  } else if (message.done) {
    let digest;
    try {
      digest = hashes.get(id).digest();
      result.set(digest);
      control[${LENGTH}] = digest.length;
    } catch {
      digest = undefined;
    }
    hashes.delete(id);
    Atomics.store(control, ${STATUS}, digest ? 1 : -1);
    Atomics.notify(control, ${STATUS});
  }
});
`;

interface HashWorker {
  worker: Worker;
  control: Int32Array;
  result: Uint8Array;
  alive: boolean;
  next: number;
  /**
   * Where the worker hands back the batch buffers it has hashed, taken synchronously (as the
   * bootloader's read-back never yields): a buffer used again costs a copy, a new one the page
   * faults of new memory as well, several times the copy.
   */
  returns: MessagePort;
}

let shared: HashWorker | undefined;
let cannotStart = false;

/** The process's hash worker, started on first use; undefined once it has failed. */
function hashWorker(): HashWorker | undefined {
  if (shared || cannotStart) return shared?.alive ? shared : undefined;
  const control = new SharedArrayBuffer(3 * 4);
  const result = new SharedArrayBuffer(64);
  const returns = new MessageChannel();
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { control, result, returns: returns.port2 },
      transferList: [returns.port2],
    });
  } catch {
    cannotStart = true;
    return undefined;
  }
  const started: HashWorker = {
    worker,
    control: new Int32Array(control),
    result: new Uint8Array(result),
    alive: true,
    next: 0,
    returns: returns.port1,
  };
  const dead = () => (started.alive = false);
  worker.on("error", dead);
  worker.on("exit", dead);
  // A digest waits for the worker synchronously, so the worker never keeps the process alive.
  worker.unref();
  return (shared = started);
}

/** A digest dropped before its digest() has its hash dropped by the worker too. */
const dropped = new FinalizationRegistry((drop: () => void) => drop());

function wait(control: Int32Array, cell: number, value: number, what: string): void {
  if (Atomics.wait(control, cell, value, ANSWER_MS) === "timed-out")
    throw otaError("internal", `the hash worker did not ${what} in ${ANSWER_MS} ms`);
}

function workerDigest(owner: HashWorker, algorithm: string): Digest {
  const { worker, control, result, returns } = owner;
  const id = owner.next++;
  worker.postMessage({ id, algorithm });
  const fresh = () =>
    new Uint8Array(
      (receiveMessageOnPort(returns)?.message as ArrayBuffer) ?? new ArrayBuffer(BATCH),
    );
  let batch = fresh();
  let filled = 0;
  /** Hands the batch to the worker, which hashes its first `filled` bytes and gives it back. */
  const flush = () => {
    Atomics.add(control, PENDING, filled);
    worker.postMessage({ id, bytes: batch.buffer, length: filled }, [batch.buffer]);
    batch = fresh();
    filled = 0;
    for (let pending; (pending = Atomics.load(control, PENDING)) > BACKLOG;)
      wait(control, PENDING, pending, "catch up");
  };
  const digest: Digest = {
    update(data) {
      for (let at = 0; at < data.length;) {
        const take = Math.min(BATCH - filled, data.length - at);
        batch.set(data.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === BATCH) flush();
      }
    },
    digest() {
      dropped.unregister(digest);
      if (filled > 0) flush();
      Atomics.store(control, STATUS, 0);
      worker.postMessage({ id, done: true });
      wait(control, STATUS, 0, `give the ${algorithm} digest`);
      if (Atomics.load(control, STATUS) !== 1)
        throw otaError("internal", `the hash worker failed on ${algorithm}`);
      return result.slice(0, control[LENGTH]);
    },
  };
  dropped.register(digest, () => worker.postMessage({ id, drop: true }), digest);
  return digest;
}

let workerWanted = true;

/** Whether nodeDigests hashes on the worker (the default) or on the calling thread from now on. */
export function useHashWorker(wanted: boolean): void {
  workerWanted = wanted;
}

/** Node's hashes on the process's hash worker (on this thread where it cannot run). */
export const nodeDigests: NativeDigests = (algorithm) => {
  const name = NAMES[algorithm];
  if (!name) return undefined;
  const worker = workerWanted ? hashWorker() : undefined;
  return worker ? workerDigest(worker, name) : onThisThread(algorithm);
};
