// statusDetails as the service takes them (string values of at most 1024 characters, no control
// characters, keys of [a-zA-Z0-9:_-], at most 10 pairs), and what each agent report puts there.
import type { Report } from "../../core/offer";
import { isAlphanumericText } from "../../core/util/chars";
import { MAX_REPORT_TEXT, cleanText } from "../../core/util/text";

/**
 * Longest statusDetails value sent. The service takes 1024 characters (JobExecutionState); values
 * are kept shorter, as one console line, since a reason may quote what the cloud or a server sent.
 */
export const MAX_DETAIL_LENGTH = MAX_REPORT_TEXT;
/** statusDetails pairs sent at most: the documented safe maximum. */
const MAX_DETAILS = 10;

/** A statusDetails value the service accepts (no \p{C}, short), or "" to leave out. */
export function detailValue(value: string): string {
  return cleanText(value, MAX_DETAIL_LENGTH);
}

export function cleanDetails(details: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const key in details) {
    const value = detailValue(String(details[key]));
    if (value === "" || !isAlphanumericText(key, 1, 128, ":_-") || count === MAX_DETAILS) continue;
    out[key] = value;
    count++;
  }
  return out;
}

export function sameDetails(a: unknown, b: Record<string, string>): boolean {
  if (typeof a !== "object" || a === null) return Object.keys(b).length === 0;
  const other = a as Record<string, unknown>;
  const keys = Object.keys(b);
  if (Object.keys(other).length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (other[keys[i]] !== b[keys[i]]) return false;
  return true;
}

/**
 * statusDetails for a report: what the console shows, and what the next image needs after the
 * reboot (AWS OTA's self_test and updatedBy).
 */
export function reportDetails(report: Report): Record<string, string> {
  const offer = report.offer;
  const details: Record<string, string> = { state: report.status };
  if (offer.version) details.version = offer.version;
  const previous = report.previousVersion || offer.context.updatedBy;
  if (previous) details.updatedBy = String(previous);
  if (report.progress) details.progress = report.progress.bytes + "/" + report.progress.total;
  if (report.status === "updating") details.self_test = "ready";
  if (report.status === "testing") details.self_test = "active";
  if (report.failure) details.reason = report.failure.code + ": " + report.failure.message;
  else if (report.status === "succeeded") details.reason = "accepted " + (offer.version || "");
  else if (report.status === "current")
    details.reason = "already running " + (offer.version || "this version");
  return cleanDetails(details);
}
