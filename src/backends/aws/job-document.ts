// A JobExecution's jobDocument, read as one of the four firmware-update forms the seeds use, or
// recognised as somebody else's job. The forms (reference: protocols-and-peers.md 2.1, 3.1, 6):
//   nRF aws_fota  {operation:"app_fw_update", fwversion, size, location:{protocol, host, path}}
//   Zerynth       {operation?:"fota", bc_idx, bc_crc (MD5), bc_size, bc_url, version?}
//   AWS OTA       {afr_ota:{protocols, files:[{filesize, update_data_url, auth_scheme, sig-...}]},
//                  version?}
//   plain         {url, size, version, md5 | sha256, secure_version?, delta?}, delta: {url, size, sha256?,
//                  base_sha256, format?: "esp_delta_ota" | "detools"}; a document with a delta may
//                  leave out url (no full image to fall back to)
// A document in none of these forms is a custom job for the application (AWS OTA's
// OtaJobEventParseCustomJob, Zerynth's job_cbk): it is never failed here.

import type { FailureCode } from "../../core/errors";
import type { HashAlgorithm } from "../../core/ports";
import type { Offer } from "../../core/offer";
import {
  isAlphanumericText,
  isBase64Text,
  isHexText,
  isPrintableAsciiText,
} from "../../core/util/chars";
import { quoted } from "../../core/util/text";
import {
  MAX_URL_LENGTH,
  MAX_VERSION_LENGTH,
  readSize,
  sizeProblem,
  urlProblem,
} from "../offer-fields";
import { isJobId } from "./topics";

export type JobDocumentFormat = "nrf" | "zerynth" | "afr_ota" | "plain";

export type ParsedJob =
  | { kind: "offer"; format: JobDocumentFormat; offer: Offer }
  /** A firmware job the device cannot take: the backend reports it REJECTED with the reason. */
  | {
      kind: "refused";
      format: JobDocumentFormat;
      code: Extract<FailureCode, "offer-malformed" | "offer-unsupported">;
      message: string;
    }
  | { kind: "custom" };

/** Base64 of the 384 bytes AWS OTA allows for a signature. */
export const MAX_SIGNATURE_LENGTH = 512;

/** Thrown inside this module only, and turned into a "refused" result. */
interface Refusal {
  refusal: true;
  code: "offer-malformed" | "offer-unsupported";
  message: string;
}

function refuse(message: string, code: Refusal["code"] = "offer-malformed"): Refusal {
  return { refusal: true, code, message };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !(value instanceof Array);
}

function text(doc: Record<string, unknown>, key: string, max: number, what: string): string {
  const value = doc[key];
  if (typeof value !== "string")
    throw refuse(what + ' "' + key + '" must be a string, got ' + quoted(value));
  if (value.length === 0) throw refuse(what + ' "' + key + '" is empty');
  if (value.length > max)
    throw refuse(
      what + ' "' + key + '" is ' + value.length + " characters long, at most " + max + " allowed",
    );
  // Printable ASCII only: what survives in an HTTP request line and in statusDetails.
  if (!isPrintableAsciiText(value))
    throw refuse(what + ' "' + key + '" holds spaces or control characters: ' + quoted(value));
  return value;
}

function size(doc: Record<string, unknown>, key: string, what: string): number {
  const bytes = readSize(doc[key], false);
  if (bytes === undefined) throw refuse(sizeProblem(what + ' "' + key + '"', doc[key]));
  return bytes;
}

/** The image's anti-rollback secure_version, when the document says: a uint32. */
function secureVersion(doc: Record<string, unknown>, key: string, what: string): number {
  const value = doc[key];
  if (
    typeof value !== "number" ||
    !(value >= 0) ||
    value > 0xffffffff ||
    Math.floor(value) !== value
  )
    throw refuse(
      what + ' "' + key + '" must be a whole number from 0 to 4294967295, got ' + quoted(value),
    );
  return value;
}

function url(doc: Record<string, unknown>, key: string, what: string): string {
  const value = doc[key];
  const problem = urlProblem(value);
  if (problem !== undefined) throw refuse(what + ' "' + key + '" ' + problem);
  return value as string;
}

function digest(
  doc: Record<string, unknown>,
  key: string,
  algorithm: HashAlgorithm,
  length: number,
  what: string,
): string {
  const value = doc[key];
  if (typeof value !== "string" || !isHexText(value, length, length))
    throw refuse(
      what +
        ' "' +
        key +
        '" must be the ' +
        length +
        "-digit hex " +
        algorithm +
        ", got " +
        quoted(value),
    );
  return value.toLowerCase();
}

function version(doc: Record<string, unknown>, key: string, what: string): string {
  return text(doc, key, MAX_VERSION_LENGTH, what);
}

function optionalVersion(doc: Record<string, unknown>, key: string, what: string): string {
  return doc[key] === undefined ? "" : version(doc, key, what);
}

function offer(
  jobId: string,
  fields: Pick<Offer, "version" | "size" | "source" | "hashes"> & Partial<Offer>,
  format: JobDocumentFormat,
  context: Offer["context"] = {},
): Offer {
  const result: Offer = {
    backend: "aws",
    id: jobId,
    version: fields.version,
    size: fields.size,
    source: fields.source,
    hashes: fields.hashes,
    context: { format },
  };
  if (fields.signature) result.signature = fields.signature;
  if (fields.delta) result.delta = fields.delta;
  if (fields.secureVersion !== undefined) result.secureVersion = fields.secureVersion;
  for (const key in context) result.context[key] = context[key];
  return result;
}

function nrf(jobId: string, doc: Record<string, unknown>): Offer {
  const what = "nRF job document:";
  const fwversion = version(doc, "fwversion", what);
  const bytes = size(doc, "size", what);
  const location = doc.location;
  if (!isObject(location))
    throw refuse(
      what + ' "location" must be an object with host and path, got ' + quoted(location),
    );
  // aws_fota uses host and path only; the protocol is "http:" in the doc's example. Without one,
  // TLS, as the library's sec_tag would give.
  let protocol = "https:";
  if (location.protocol !== undefined) {
    const given = String(location.protocol).toLowerCase();
    if (
      typeof location.protocol !== "string" ||
      !(given === "http" || given === "http:" || given === "https" || given === "https:")
    )
      throw refuse(
        what + ' "location.protocol" must be "http:" or "https:", got ' + quoted(location.protocol),
      );
    protocol = given.charAt(given.length - 1) === ":" ? given : given + ":";
  }
  const host = text(location, "host", 253, what + " location");
  if (!isAlphanumericText(host, 1, host.length, ".:[]-"))
    throw refuse(what + ' "location.host" is not a host name: ' + quoted(host));
  const path = text(location, "path", MAX_URL_LENGTH, what + " location");
  const full = protocol + "//" + host + "/" + (path.charAt(0) === "/" ? path.substring(1) : path);
  const problem = urlProblem(full);
  if (problem !== undefined) throw refuse(what + " the URL made of host and path " + problem);
  return offer(
    jobId,
    { version: fwversion, size: bytes, source: { kind: "http", url: full }, hashes: {} },
    "nrf",
  );
}

function zerynth(jobId: string, doc: Record<string, unknown>): Offer {
  const what = "Zerynth job document:";
  const context: Offer["context"] = {};
  if (doc.bc_idx !== undefined) {
    const idx = doc.bc_idx;
    if (typeof idx !== "number" || idx !== Math.floor(idx) || idx < 0 || idx > 255)
      throw refuse(what + ' "bc_idx" must be a slot number 0-255, got ' + quoted(idx));
    context.bcIdx = idx;
  }
  return offer(
    jobId,
    {
      version: optionalVersion(doc, "version", what),
      size: size(doc, "bc_size", what),
      source: { kind: "http", url: url(doc, "bc_url", what) },
      hashes: { md5: digest(doc, "bc_crc", "md5", 32, what) },
    },
    "zerynth",
    context,
  );
}

function afrOta(jobId: string, doc: Record<string, unknown>): Offer {
  const what = "AWS OTA job document:";
  const ota = doc.afr_ota;
  if (!isObject(ota)) throw refuse(what + ' "afr_ota" must be an object, got ' + quoted(ota));
  const protocols = ota.protocols;
  if (!(protocols instanceof Array) || protocols.length === 0)
    throw refuse(what + ' "protocols" must be a list such as ["HTTP"], got ' + quoted(protocols));
  let http = false;
  for (let i = 0; i < protocols.length; i++) {
    if (typeof protocols[i] !== "string")
      throw refuse(what + ' "protocols" must hold strings, got ' + quoted(protocols[i]));
    if (protocols[i] === "HTTP") http = true;
  }
  if (!http)
    throw refuse(
      what + " protocols " + quoted(protocols) + " offer no HTTP: MQTT streams are not supported",
      "offer-unsupported",
    );
  const files = ota.files;
  if (!(files instanceof Array) || files.length === 0 || !isObject(files[0]))
    throw refuse(what + ' "files" must be a list with one file, got ' + quoted(files));
  // Only files[0] is used, as in the AWS OTA library (OTA_MAX_FILES 1).
  const file = files[0] as Record<string, unknown>;
  if (file.fileType !== undefined && file.fileType !== 0)
    throw refuse(
      what + " fileType " + quoted(file.fileType) + " is not firmware (0)",
      "offer-unsupported",
    );
  const fields: Parameters<typeof offer>[1] = {
    version: optionalVersion(doc, "version", what),
    size: size(file, "filesize", what),
    source: { kind: "http", url: url(file, "update_data_url", what) },
    hashes: {},
  };
  const context: Offer["context"] = {};
  if (file.auth_scheme !== undefined) context.authScheme = text(file, "auth_scheme", 64, what);
  if (file["sig-sha256-ecdsa"] !== undefined) {
    const value = text(file, "sig-sha256-ecdsa", MAX_SIGNATURE_LENGTH, what);
    if (!isBase64Text(value))
      throw refuse(what + ' "sig-sha256-ecdsa" is not base64: ' + quoted(value));
    fields.signature = { algorithm: "ecdsa-p256-sha256", value };
    if (file.certfile !== undefined)
      fields.signature.certificate = text(file, "certfile", 256, what);
  }
  return offer(jobId, fields, "afr_ota", context);
}

function delta(value: unknown): Offer["delta"] {
  const what = "job document: delta";
  if (!isObject(value)) throw refuse(what + " must be an object, got " + quoted(value));
  const format = value.format === undefined ? "esp_delta_ota" : value.format;
  if (format !== "esp_delta_ota" && format !== "detools")
    throw refuse(what + ' "format" must be esp_delta_ota or detools, got ' + quoted(format));
  const result: NonNullable<Offer["delta"]> = {
    url: url(value, "url", what),
    size: size(value, "size", what),
    baseSha256: digest(value, "base_sha256", "sha256", 64, what),
    format,
  };
  if (value.sha256 !== undefined) result.sha256 = digest(value, "sha256", "sha256", 64, what);
  return result;
}

function plain(jobId: string, doc: Record<string, unknown>): Offer {
  const what = "job document:";
  const hashes: Offer["hashes"] = {};
  if (doc.md5 !== undefined) hashes.md5 = digest(doc, "md5", "md5", 32, what);
  if (doc.sha256 !== undefined) hashes.sha256 = digest(doc, "sha256", "sha256", 64, what);
  if (!hashes.md5 && !hashes.sha256)
    throw refuse(what + ' it needs "md5" or "sha256" of the image');
  return offer(
    jobId,
    {
      version: version(doc, "version", what),
      size: size(doc, "size", what),
      source: {
        kind: "http",
        url: doc.url === undefined && doc.delta !== undefined ? "" : url(doc, "url", what),
      },
      hashes,
      delta: doc.delta === undefined ? undefined : delta(doc.delta),
      secureVersion:
        doc.secure_version === undefined ? undefined : secureVersion(doc, "secure_version", what),
    },
    "plain",
  );
}

/** Which firmware form a document is in, or undefined for a custom job. */
export function documentFormat(document: unknown): JobDocumentFormat | undefined {
  if (!isObject(document)) return undefined;
  if (document.afr_ota !== undefined) return "afr_ota";
  const operation = document.operation;
  if (operation === "app_fw_update") return "nrf";
  if (operation === "fota") return "zerynth";
  if (operation !== undefined) return undefined;
  for (const key in document) if (key.substring(0, 3) === "bc_") return "zerynth";
  if (document.url !== undefined || document.delta !== undefined) return "plain";
  return undefined;
}

/**
 * Reads a job document as an Offer with id = jobId. afr_ota and Zerynth documents name no version;
 * an optional top-level "version" (which their own libraries ignore) supplies it, else it is "".
 */
export function parseJobDocument(jobId: string, document: unknown): ParsedJob {
  const format = documentFormat(document);
  if (!format) return { kind: "custom" };
  const doc = document as Record<string, unknown>;
  try {
    if (!isJobId(jobId)) throw refuse("job id " + quoted(jobId) + " is not 1-64 of [a-zA-Z0-9_-]");
    const parse =
      format === "nrf"
        ? nrf
        : format === "zerynth"
          ? zerynth
          : format === "afr_ota"
            ? afrOta
            : plain;
    return { kind: "offer", format, offer: parse(jobId, doc) };
  } catch (error) {
    const refusal = error as Refusal;
    if (!refusal || refusal.refusal !== true) throw error;
    return { kind: "refused", format, code: refusal.code, message: refusal.message };
  }
}
