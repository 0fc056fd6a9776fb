// Failures carry a code that backends translate into their cloud's vocabulary (AWS reason,
// ThingsBoard fw_error, Tencent result_code). Errors are plain Error objects with an own `code`
// property rather than an Error subclass: Espruino cannot subclass Error, and in a Moddable app
// the frozen Error.prototype makes `this.name = ...` in a subclass throw.

export type FailureCode =
  // The offer itself, refused before anything is written.
  | "offer-malformed"
  | "offer-wrong-device"
  | "offer-too-large"
  | "offer-downgrade"
  | "offer-unsupported"
  /** Plain http:// without allowPlaintext, or a host outside allowedHosts (offer or redirect). */
  | "offer-untrusted"
  // Transfer.
  | "url-expired"
  | "not-found"
  | "http-status"
  | "content-range"
  | "body-short"
  | "body-long"
  | "redirect-loop"
  | "timeout"
  /** The server sends, but slower than the policy's minimum rate. */
  | "too-slow"
  /** The download took longer than the policy's budget for one update. */
  | "budget-exceeded"
  /** The server's certificate is not trusted (unknown issuer, expired, wrong name): not retried. */
  | "tls-untrusted"
  /** The server's response cannot be read (oversized or malformed headers): not retried. */
  | "http-protocol"
  | "network"
  | "chunk-error"
  | "retries-exhausted"
  // Verification.
  | "checksum-mismatch"
  | "image-invalid"
  | "image-mismatch"
  | "signature-invalid"
  // Delta updates: a corrupt patch, one this agent cannot apply, one for another running image.
  | "delta-invalid"
  | "delta-unsupported"
  | "delta-base-mismatch"
  // Flash and boot.
  | "flash"
  | "self-test-failed"
  | "rolled-back"
  | "cancelled"
  | "internal";

export interface OtaError extends Error {
  code: FailureCode;
  /** A transient failure is retried with backoff; a fatal one ends the attempt. */
  transient: boolean;
}

export function otaError(code: FailureCode, message: string, transient = false): OtaError {
  const error = new Error(message) as OtaError;
  error.code = code;
  error.transient = transient;
  return error;
}

export function isOtaError(value: unknown): value is OtaError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as OtaError).code === "string" &&
    // Node's system errors have a string code too (ECONNRESET): `transient` tells ours apart.
    typeof (value as OtaError).transient === "boolean" &&
    value instanceof Error
  );
}

/** Any thrown value as an OtaError: unknown exceptions become "internal". */
export function asOtaError(value: unknown): OtaError {
  if (isOtaError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return otaError("internal", message);
}
