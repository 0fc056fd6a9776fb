// Fuzzed input with fast-check for every parser that reads what the network or the flash gives:
// AWS job documents, ThingsBoard attributes, Tencent update_firmware, image headers, and the
// checksummed records of the key-value store (the resume journal). Each property: no exception
// escapes, and every rejection carries a specific reason.
import fc from "fast-check";
import { parseJobDocument } from "../../src/backends/aws/job-document";
import { parseUpdateFirmware } from "../../src/backends/tencent/index";
import { createThingsBoardBackend } from "../../src/backends/thingsboard/index";
import { isOtaError } from "../../src/core/errors";
import { buildAppImage } from "../image/build";
import { parseImageHeader, IMAGE_PREFIX_SIZE } from "../../src/core/image/esp-image";
import { Journal } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import { decide } from "../../src/core/policy";
import type {
  Clock,
  Logger,
  MqttClient,
  MqttMessage,
  RunningImage,
  SlotWriter,
} from "../../src/core/ports";
import { utf8Encode } from "../../src/core/util/bytes";

export interface FuzzFigure {
  target: string;
  cases: number;
  seed: number;
  accepted: number;
  /** Rejections by reason code. */
  rejected: Record<string, number>;
  /** The first counterexample, when the property failed. */
  failure?: string;
}

const ODD_STRINGS = [
  "",
  "\u0000",
  "\ud800",
  "\udfff\ud800",
  "\u202e1.0.0",
  "１．０．０",
  "e\u0301",
  "😀".repeat(300),
  "x".repeat(70_000),
  "../../../etc/passwd",
  "__proto__",
  "constructor",
  "http://",
  "ftp://example.com/a.bin",
  "https://a/" + "%".repeat(3000),
];
const ODD_NUMBERS = [
  0,
  -0,
  -1,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  1e308,
  -1e308,
  5e-324,
  NaN,
  Infinity,
  -Infinity,
];

const oddString = fc.oneof(
  fc.constantFrom(...ODD_STRINGS),
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.stringMatching(/^[0-9a-f]{0,70}$/),
);
const oddNumber = fc.oneof(fc.constantFrom(...ODD_NUMBERS), fc.integer(), fc.double());

/** A value nested `depth` levels deep in arrays or objects. */
function nested(depth: number, leaf: unknown, asArray: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
  return value;
}

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: oddString },
  { weight: 3, arbitrary: oddNumber },
  fc.constantFrom(null, true, false, undefined),
  fc.jsonValue({ maxDepth: 4 }),
  fc
    .tuple(fc.integer({ min: 50, max: 1000 }), fc.boolean())
    .map(([depth, asArray]) => nested(depth, "x", asArray)),
);

/** A valid document with some fields replaced by odd values, some dropped, some added. */
function mutated(valid: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(valid);
  return fc
    .tuple(
      fc.subarray(keys),
      fc.subarray(keys),
      fc.array(oddValue, { minLength: keys.length, maxLength: keys.length }),
      fc.dictionary(oddString, oddValue, { maxKeys: 3 }),
    )
    .map(([replaced, dropped, values, extra]) => {
      const doc: Record<string, unknown> = { ...extra, ...valid };
      replaced.forEach((k, i) => (doc[k] = values[i]));
      for (const k of dropped) if (!replaced.includes(k)) delete doc[k];
      return doc;
    });
}

function tally(figure: FuzzFigure, reason: string | undefined): void {
  if (reason === undefined) figure.accepted++;
  else figure.rejected[reason] = (figure.rejected[reason] ?? 0) + 1;
}

const RUNNING: RunningImage = {
  slot: "ota_0",
  version: "1.0.0",
  project: "otaflow-sim",
  secureVersion: 0,
  state: "valid",
};
const SLOT = { name: "ota_1", size: 0x180000, sectorSize: 4096 } as SlotWriter;

/**
 * An offer a parser let through, judged as the agent does before it erases anything: the policy
 * must accept only what fits the slot, and refuse the rest with a specific reason. Returns the
 * refusal code, or undefined when the offer would be downloaded.
 */
function judgeOffer(offer: Offer): string | undefined {
  if (typeof offer.version !== "string") throw new Error("parsed an offer without a version");
  if (offer.source.kind === "http" && typeof offer.source.url !== "string")
    throw new Error("parsed an offer without a URL");
  const decision = decide(offer, RUNNING, SLOT, { allowDowngrade: false });
  if (decision.kind === "refuse") {
    if (!decision.error.code || !decision.error.message)
      throw new Error("refused without a reason");
    return `policy: ${decision.error.code}`;
  }
  if (decision.kind === "current") return "policy: current";
  if (!(Number.isInteger(offer.size) && offer.size > 0 && offer.size <= SLOT.size))
    throw new Error(`policy accepted an offer of ${offer.size} bytes for a ${SLOT.size}-byte slot`);
  return undefined;
}

const MD5 = "0123456789abcdef0123456789abcdef";
const SHA256 = MD5 + MD5;
const AWS_DOCS: Record<string, unknown>[] = [
  {
    operation: "app_fw_update",
    fwversion: "1.2.0",
    size: 1000,
    location: { protocol: "https:", host: "h", path: "a.bin" },
  },
  {
    operation: "fota",
    bc_idx: 1,
    bc_crc: MD5,
    bc_size: 1000,
    bc_url: "https://h/a.bin",
    version: "1.2.0",
  },
  {
    afr_ota: {
      streamname: "s",
      protocols: ["HTTP"],
      files: [
        {
          filepath: "f",
          filesize: 1000,
          fileid: 0,
          certfile: "c",
          fileType: 0,
          update_data_url: "https://h/a.bin",
          sig_sha256_ecdsa: "AAAA",
        },
      ],
    },
  },
  { url: "https://h/a.bin", size: 1000, version: "1.2.0", md5: MD5, sha256: SHA256 },
];

const awsDocument = fc.oneof(...AWS_DOCS.map(mutated), fc.jsonValue({ maxDepth: 6 }), oddValue);

export function fuzzAws(numRuns: number, seed: number): FuzzFigure {
  const figure: FuzzFigure = {
    target: "AWS job documents",
    cases: numRuns,
    seed,
    accepted: 0,
    rejected: {},
  };
  const jobId = fc.oneof(fc.constant("job-1"), oddString);
  run(
    figure,
    fc.property(jobId, awsDocument, (id, doc) => {
      const parsed = parseJobDocument(id, doc);
      if (parsed.kind === "offer") tally(figure, judgeOffer(parsed.offer));
      else if (parsed.kind === "refused") {
        if (!parsed.message) throw new Error("refused without a message");
        tally(figure, parsed.code);
      } else tally(figure, "custom (not a firmware job)");
    }),
    numRuns,
    seed,
  );
  return figure;
}

export function fuzzTencent(numRuns: number, seed: number): FuzzFigure {
  const figure: FuzzFigure = {
    target: "Tencent update_firmware",
    cases: numRuns,
    seed,
    accepted: 0,
    rejected: {},
  };
  const valid = {
    type: "update_firmware",
    version: "1.2.0",
    url: "https://h/a.bin",
    md5sum: MD5,
    file_size: 1000,
  };
  run(
    figure,
    fc.property(fc.oneof(mutated(valid), fc.dictionary(oddString, oddValue)), (doc) => {
      const parsed = parseUpdateFirmware(doc);
      if (typeof parsed === "string") {
        if (parsed.length === 0) throw new Error("rejected without a reason");
        tally(figure, parsed.split(/[:(]/)[0].trim());
      } else tally(figure, judgeOffer(parsed));
    }),
    numRuns,
    seed,
  );
  return figure;
}

export function fuzzImageHeader(numRuns: number, seed: number): FuzzFigure {
  const figure: FuzzFigure = {
    target: "image headers",
    cases: numRuns,
    seed,
    accepted: 0,
    rejected: {},
  };
  const valid = buildAppImage({ version: "1.2.0", size: 4096 }).subarray(0, IMAGE_PREFIX_SIZE);
  const flipped = fc
    .array(fc.tuple(fc.nat(IMAGE_PREFIX_SIZE - 1), fc.nat(255)), { maxLength: 12 })
    .map((edits) => {
      const bytes = valid.slice();
      for (const [at, value] of edits) bytes[at] = value;
      return bytes;
    });
  const bytes = fc.oneof(flipped, fc.uint8Array({ maxLength: IMAGE_PREFIX_SIZE + 64 }));
  run(
    figure,
    fc.property(bytes, (prefix) => {
      try {
        const header = parseImageHeader(prefix);
        if (typeof header.version !== "string" || typeof header.project !== "string")
          throw new Error("header strings are not strings");
        tally(figure, undefined);
      } catch (error) {
        if (!isOtaError(error) || !error.message) throw error;
        tally(figure, error.code);
      }
    }),
    numRuns,
    seed,
  );
  return figure;
}

export async function fuzzJournal(numRuns: number, seed: number): Promise<FuzzFigure> {
  const figure: FuzzFigure = {
    target: "journal records",
    cases: numRuns,
    seed,
    accepted: 0,
    rejected: {},
  };
  const size = 300_000;
  const image = "scripted;job;1.2.0;300000;md5=" + MD5;
  // What the store may hold: junk, a torn valid record, or a correctly checksummed odd body.
  const validBody = JSON.stringify({ image, slot: "ota_1", offset: 65536 });
  const raw = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.nat(validBody.length + 9).map((n) => (validBody + "|00000000").substring(0, n)),
    fc
      .record({
        image: fc.oneof(fc.constant(image), oddValue),
        slot: fc.oneof(fc.constant("ota_1"), oddValue),
        offset: fc.oneof(
          oddValue,
          fc.nat(80).map((n) => n * 4096),
        ),
      })
      .map((body) => ({ body })),
  );
  const { CheckedRecord } = await import("../../src/core/record");
  const logger: Logger = { log: () => {} };
  await run(
    figure,
    fc.asyncProperty(raw, async (value) => {
      const data: Record<string, string> = {};
      const store = {
        get: async (key: string) => data[key],
        set: async (key: string, text: string) => void (data[key] = text),
        delete: async (key: string) => void delete data[key],
      };
      if (typeof value === "string") data["ota.journal"] = value;
      else await new CheckedRecord<unknown>(store, "ota.journal", logger).save(value.body);
      const offset = await new Journal(store, logger).resumeOffset(image, "ota_1", size, 4096);
      if (!(offset >= 0 && offset <= size && offset % 4096 === 0))
        throw new Error(`resume offset ${offset} from ${JSON.stringify(value)}`);
      tally(figure, offset === 0 ? "resume from 0" : undefined);
    }),
    numRuns,
    seed,
  );
  return figure;
}

/** A ThingsBoard backend over an MQTT port that only delivers what the property gives it. */
export async function fuzzThingsBoard(numRuns: number, seed: number): Promise<FuzzFigure> {
  const figure: FuzzFigure = {
    target: "ThingsBoard attributes",
    cases: numRuns,
    seed,
    accepted: 0,
    rejected: {},
  };
  const valid = {
    fw_title: "otaflow-sim",
    fw_version: "1.2.0",
    fw_size: 1000,
    fw_checksum_algorithm: "SHA256",
    fw_checksum: SHA256,
  };
  const message = fc.oneof(
    mutated(valid).map((doc) => JSON.stringify({ shared: doc })),
    mutated(valid).map((doc) => JSON.stringify(doc)),
    fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary", maxLength: 200 }),
    // Nesting deeper than any stack: JSON.parse itself gives up.
    fc
      .integer({ min: 1000, max: 20_000 })
      .map((n) => `{"shared":${"[".repeat(n)}${"]".repeat(n)}}`),
  );
  const clock: Clock = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    random: () => 0.5,
  } as Clock;
  await run(
    figure,
    fc.asyncProperty(message, async (payload) => {
      let deliver!: (m: MqttMessage) => void;
      const published: { topic: string; payload: string }[] = [];
      const mqtt: MqttClient = {
        connected: true,
        publish: async (topic, body) => void published.push({ topic, payload: String(body) }),
        subscribe: async (filters) => filters.map(() => 1),
        unsubscribe: async () => {},
        onMessage: (handler) => (deliver = handler),
        onConnect: () => {},
        onDisconnect: () => {},
        close: async () => {},
      };
      const offers: Offer[] = [];
      const backend = createThingsBoardBackend(
        { accessToken: "t", title: "otaflow-sim", currentVersion: "1.0.0" },
        { mqtt, clock, logger: { log: () => {} } },
      );
      await backend.start({ offer: (o) => offers.push(o), cancel: () => {}, connected: () => {} });
      const request = published.find((p) =>
        p.topic.startsWith("v1/devices/me/attributes/request/"),
      );
      const topic = request
        ? "v1/devices/me/attributes/response/" + request.topic.split("/").pop()
        : "v1/devices/me/attributes";
      deliver({ topic, payload: utf8Encode(payload) });
      deliver({ topic: "v1/devices/me/attributes", payload: utf8Encode(payload) });
      await new Promise((resolve) => setImmediate(resolve));
      await backend.stop();
      const judged = offers.map(judgeOffer);
      const failed = published.find((p) => /"fw_state":"FAILED"/.test(p.payload));
      if (failed) {
        const error = (JSON.parse(failed.payload) as { fw_error?: string }).fw_error;
        if (!error) throw new Error("FAILED without fw_error");
        tally(figure, error.split("(")[0].trim());
      } else if (judged.length > 0) tally(figure, judged[0]);
      else tally(figure, "ignored (no package named)");
    }),
    numRuns,
    seed,
  );
  return figure;
}

/** A counterexample for the report: deeply nested ones defeat every stringifier. */
function shown(value: unknown): string {
  try {
    return JSON.stringify(value).substring(0, 500);
  } catch {
    return "(a value too deeply nested to print)";
  }
}

function run<Ts extends [unknown, ...unknown[]]>(
  figure: FuzzFigure,
  property: fc.IRawProperty<Ts>,
  numRuns: number,
  seed: number,
): Promise<void> | void {
  const report = (details: fc.RunDetails<Ts>) => {
    if (details.failed)
      figure.failure = `${String(details.errorInstance)} on ${shown(details.counterexample)}`;
  };
  const details = fc.check(property, { numRuns, seed, endOnFailure: true });
  if (details instanceof Promise) return details.then(report);
  report(details);
}

export const FUZZ_TARGETS: Record<
  string,
  (numRuns: number, seed: number) => FuzzFigure | Promise<FuzzFigure>
> = {
  aws: fuzzAws,
  thingsboard: fuzzThingsBoard,
  tencent: fuzzTencent,
  "image-header": fuzzImageHeader,
  journal: fuzzJournal,
};
