// The operator's view of a local cloud: its devices and its jobs, in one shape for the three clouds,
// as the admin API serves it to the dashboard and to `otaflow status` / `otaflow jobs`.
//
// What the cloud knows comes from its own records (job executions, ThingsBoard telemetry, Tencent
// progress reports). What only the board knows (its slots, whether it is connected) comes from the
// simulator, which posts it to the admin API when `otaflow device` is given --admin: no cloud has
// a slot table, so this side channel is the simulator's, not part of any cloud's protocol.
import type { LocalTarget } from "./local";

export interface SlotView {
  slot: string;
  state: string;
  version?: string;
  running: boolean;
}

export interface JobView {
  /** AWS job id, ThingsBoard package id, Tencent task version. */
  id: string;
  device: string;
  version: string;
  /** The cloud's own words: QUEUED, IN_PROGRESS, DOWNLOADING, UPDATED, done, fail... */
  status: string;
  /** The job ended (either way): nothing more will happen to it. */
  final: boolean;
  succeeded?: boolean;
  /** Download progress the device reported. */
  bytes?: number;
  total?: number;
  percent?: number;
  detail?: string;
  createdAt: number;
  updatedAt: number;
  /** Whether `cancel` can withdraw it. */
  cancellable: boolean;
}

export interface ReportView {
  at: number;
  job: string;
  status: string;
  detail?: string;
}

export interface DeviceView {
  id: string;
  target: LocalTarget;
  online: boolean;
  /** The version it runs: the simulator's word, else the cloud's last record of it. */
  version?: string;
  slots: SlotView[];
  /** The job in flight, else the latest one. */
  job?: JobView;
  /** Every report the cloud received from it, oldest first. */
  history: ReportView[];
  lastSeen?: number;
}

export interface FleetView {
  backend: string;
  devices: DeviceView[];
  jobs: JobView[];
}

/** What a simulated board posts about itself (`otaflow device --admin URL`). */
export interface BoardTelemetry {
  id: string;
  target: LocalTarget;
  online: boolean;
  version?: string;
  slots?: SlotView[];
}

/** A board's posts are heartbeats: one that went quiet this long ago is shown offline. */
const QUIET_MS = 15_000;

export class BoardRegistry {
  private readonly boards = new Map<string, BoardTelemetry & { at: number }>();

  post(telemetry: BoardTelemetry): void {
    const known = this.boards.get(telemetry.id);
    this.boards.set(telemetry.id, {
      ...known,
      ...telemetry,
      slots: telemetry.slots ?? known?.slots,
      version: telemetry.version ?? known?.version,
      at: Date.now(),
    });
  }

  get(id: string): (BoardTelemetry & { at: number }) | undefined {
    return this.boards.get(id);
  }

  all(): (BoardTelemetry & { at: number })[] {
    return [...this.boards.values()];
  }

  online(id: string): boolean {
    const board = this.boards.get(id);
    return board !== undefined && board.online && Date.now() - board.at < QUIET_MS;
  }
}

/** The one id a device goes by in the views: thing name, token, or product/device. */
export function deviceId(target: LocalTarget): string {
  if (target.thing) return target.thing;
  if (target.token) return target.token;
  return `${target.product ?? ""}/${target.device ?? ""}`;
}

/** "1234/5678" (AWS statusDetails.progress) as numbers. */
export function parseProgress(
  text: string | undefined,
): { bytes: number; total: number } | undefined {
  if (!text) return undefined;
  const [bytes, total] = text.split("/").map(Number);
  return Number.isFinite(bytes) && Number.isFinite(total) && total > 0
    ? { bytes, total }
    : undefined;
}

export function percentOf(
  bytes: number | undefined,
  total: number | undefined,
): number | undefined {
  if (bytes === undefined || !total) return undefined;
  return Math.min(100, Math.floor((bytes * 100) / total));
}

/**
 * Joins the cloud's records with the boards' telemetry: every device either side knows, each with
 * its latest job (the one in flight first).
 */
export function fleetView(
  backend: string,
  known: { target: LocalTarget; version?: string; history: ReportView[] }[],
  jobs: JobView[],
  boards: BoardRegistry,
): FleetView {
  const devices = new Map<string, DeviceView>();
  for (const device of known) {
    const id = deviceId(device.target);
    devices.set(id, {
      id,
      target: device.target,
      online: false,
      version: device.version,
      slots: [],
      history: device.history,
    });
  }
  for (const board of boards.all()) {
    const device = devices.get(board.id) ?? {
      id: board.id,
      target: board.target,
      online: false,
      slots: [],
      history: [],
    };
    device.online = boards.online(board.id);
    device.version = board.version ?? device.version;
    device.slots = board.slots ?? [];
    device.lastSeen = board.at;
    devices.set(board.id, device);
  }
  for (const job of jobs) {
    const device = devices.get(job.device);
    if (!device) continue;
    const current = device.job;
    if (
      !current ||
      (current.final && !job.final) ||
      (current.final === job.final && job.createdAt >= current.createdAt)
    )
      device.job = job;
  }
  const sorted = [...devices.values()].sort((a, b) =>
    a.id.localeCompare(b.id, "en", { numeric: true }),
  );
  return { backend, devices: sorted, jobs: [...jobs].sort((a, b) => b.createdAt - a.createdAt) };
}
