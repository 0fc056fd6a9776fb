// `status`, `jobs` and `cancel`: the dashboard's view in the terminal, over a running local
// cloud's admin API (tools/admin/server.ts).
import type { DeviceView, FleetView, JobView } from "../clouds/fleet";
import { parse, UsageError } from "./args";

const ADMIN = `  --admin URL   the cloud's admin API (default http://127.0.0.1:8071)
  --json        the admin API's JSON as it came`;

export const STATUS_USAGE = `Usage: otaflow status [--admin URL] [--json]

Lists the devices of a running local cloud: online or not, version, slots (otadata state and
image version; reported by simulated boards started with --admin), the job in flight with its
progress, and the last report.
${ADMIN}`;

export const JOBS_USAGE = `Usage: otaflow jobs [--admin URL] [--json]

Lists the jobs (AWS), assignments (ThingsBoard) or update tasks (Tencent) of a running local cloud,
newest first, with their status and progress.
${ADMIN}`;

export const CANCEL_USAGE = `Usage: otaflow cancel JOB [--admin URL]

Withdraws a job that has not ended (its id as otaflow jobs lists it): an AWS job is canceled with
force, a ThingsBoard assignment removed. Tencent's device protocol has no cancel.
  --admin URL   the cloud's admin API (default http://127.0.0.1:8071)`;

const DEFAULT_ADMIN = "http://127.0.0.1:8071";

/** GET (no body) or POST (a body) on the admin API; its `error` becomes the thrown message. */
export async function adminRequest<T>(adminUrl: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${adminUrl}${route}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((error: Error) => {
    throw new UsageError(
      `no local cloud answers at ${adminUrl} (${error.cause instanceof Error ? error.cause.message : error.message}): start one with otaflow cloud`,
    );
  });
  const result = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(result.error ?? `${route}: HTTP ${response.status}`);
  return result;
}

function adminOf(values: Record<string, unknown>): string {
  return typeof values.admin === "string" ? values.admin.replace(/\/$/, "") : DEFAULT_ADMIN;
}

function progress(job: JobView): string {
  if (job.final || job.percent === undefined) return "";
  return ` ${job.percent}%${job.total ? ` (${job.bytes ?? 0}/${job.total})` : ""}`;
}

/** Text columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function deviceRow(d: DeviceView): string[] {
  const slots = d.slots
    .map((s) => `${s.slot}${s.running ? "*" : ""} ${s.state} ${s.version ?? "-"}`)
    .join(", ");
  const job = d.job ? `${d.job.id} ${d.job.version} ${d.job.status}${progress(d.job)}` : "-";
  const last = d.history[d.history.length - 1];
  return [
    d.id,
    d.online ? "online" : "offline",
    d.version ?? "?",
    slots || "-",
    job,
    last ? `${last.status}${last.detail ? ` ${last.detail}` : ""}` : "-",
  ];
}

export async function statusCommand(argv: string[]): Promise<void> {
  const values = parse(
    argv,
    { admin: { type: "string" }, json: { type: "boolean" } },
    STATUS_USAGE,
  );
  if (values.help) return console.log(STATUS_USAGE);
  const fleet = await adminRequest<FleetView>(adminOf(values), "/api/fleet");
  if (values.json) return console.log(JSON.stringify(fleet, null, 2));
  if (fleet.devices.length === 0) return console.log(`${fleet.backend}: no device known yet`);
  const header = ["DEVICE", "LINK", "VERSION", "SLOTS (* running)", "JOB", "LAST REPORT"];
  console.log(table([header, ...fleet.devices.map(deviceRow)]));
}

export async function jobsCommand(argv: string[]): Promise<void> {
  const values = parse(argv, { admin: { type: "string" }, json: { type: "boolean" } }, JOBS_USAGE);
  if (values.help) return console.log(JOBS_USAGE);
  const jobs = await adminRequest<JobView[]>(adminOf(values), "/api/jobs");
  if (values.json) return console.log(JSON.stringify(jobs, null, 2));
  if (jobs.length === 0) return console.log("no job yet");
  const rows = jobs.map((j) => [
    j.id,
    j.device,
    j.version,
    `${j.status}${progress(j)}`,
    new Date(j.createdAt).toISOString(),
    j.detail ?? "",
  ]);
  console.log(table([["JOB", "DEVICE", "VERSION", "STATUS", "CREATED", "DETAIL"], ...rows]));
}

export async function cancelCommand(argv: string[]): Promise<void> {
  const [job, ...rest] = argv;
  const values = parse(
    job?.startsWith("-") ? argv : rest,
    { admin: { type: "string" } },
    CANCEL_USAGE,
  );
  if (values.help) return console.log(CANCEL_USAGE);
  if (!job || job.startsWith("-")) throw new UsageError(`give the job id first\n\n${CANCEL_USAGE}`);
  const route = `/api/jobs/${encodeURIComponent(job)}/cancel`;
  const result = await adminRequest<{ summary: string }>(adminOf(values), route, {});
  console.log(result.summary);
}
