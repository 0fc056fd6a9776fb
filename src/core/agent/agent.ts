// The agent: drives one update at a time through the transition table of machine.ts, over the
// host's ports and one backend. It is honest in what it reports: "succeeded" only once the new
// image has booted and confirmed itself, "failed" with a specific reason otherwise, and a final
// report that could not be sent is kept and sent again when the cloud is back.
import type { Backend, BackendListener } from "../backend";
import { httpSource } from "../download/http-source";
import { asOtaError, otaError, type OtaError } from "../errors";
import { matchDigest } from "../hash/index";
import { Journal } from "../journal";
import type { Offer, Report, ReportStatus } from "../offer";
import { checkImageVersion, decide } from "../policy";
import type { HashAlgorithm, HostPorts, ImageState, RunningImage, SlotWriter } from "../ports";
import { CheckedRecord } from "../record";
import { trustedKeys, type TrustedKey } from "../signature/keys";
import type { ByteSource } from "../source";
import { transfer, type TransferConfig } from "../transfer";
import { toHex } from "../util/bytes";
import { StateMachine, type AgentEvent, type AgentState } from "./machine";

export interface AgentConfig extends TransferConfig {
  /** How long the new image's self-test may take before it counts as failed. */
  selfTestTimeoutMs: number;
  allowDowngrade: boolean;
  /** Least time between two progress reports to the cloud. */
  progressIntervalMs: number;
  /** Least progress, in percent, between two progress reports to the cloud. */
  progressStepPercent: number;
  /** ESP-IDF chip id the image must be built for (0 = ESP32); undefined skips the check. */
  chipId?: number;
  /** Reboot into the staged image at once; otherwise the application calls reboot() itself. */
  autoReboot: boolean;
  httpReadTimeoutMs: number;
  maxRedirects: number;
  /** Accept plain http:// image URLs and redirects; off by default (https:// only). */
  allowPlaintext: boolean;
  /** Hosts image URLs may name: exact, or "*.example.com" for subdomains; empty: any host. */
  allowedHosts: string[];
  /**
   * Keys built into the firmware: PEM public keys or certificates (ECDSA P-256 or RSA-3072), the
   * hex of a Secure Boot V2 key digest, or the hex of a 65-byte P-256 point. With any, an image must
   * be signed by one of them (a Secure Boot V2 sector, a V1 trailer or afr_ota's detached
   * signature), or it is not staged. None: images are not signature-checked.
   */
  trustedKeys: string[];
}

export const DEFAULT_CONFIG: AgentConfig = {
  journalIntervalBytes: 64 * 1024,
  maxAttempts: 8,
  backoff: { baseMs: 1000, maxMs: 60_000 },
  selfTestTimeoutMs: 60_000,
  allowDowngrade: false,
  progressIntervalMs: 1000,
  progressStepPercent: 5,
  chipId: undefined,
  autoReboot: true,
  httpReadTimeoutMs: 30_000,
  maxRedirects: 5,
  allowPlaintext: false,
  allowedHosts: [],
  trustedKeys: [],
};

export interface SelfTestContext {
  running: RunningImage;
  offer: Offer;
  /** Resolves once the backend is connected to its cloud. */
  cloudReachable: Promise<void>;
}

/** The application's check that the new image works; it rejects (or throws) to roll back. */
export type SelfTest = (context: SelfTestContext) => Promise<void>;

/** What the agent tells its host, for logs, the simulator's JSON lines and user interfaces. */
export type AgentNotice =
  | { event: "state"; from: AgentState; to: AgentState; cause: AgentEvent }
  | { event: "offer"; id: string; version: string; size: number }
  | { event: "resume"; id: string; offset: number; size: number }
  | { event: "progress"; id: string; bytes: number; total: number; percent: number }
  | {
      event: "report";
      id: string;
      status: ReportStatus;
      failure?: { code: string; message: string };
      /** Whether the cloud took it; a final report that was not delivered is sent again. */
      delivered: boolean;
      error?: string;
    }
  | { event: "confirm"; version: string; slot: string }
  | { event: "rollback"; version: string; reason: string }
  | { event: "error"; code: string; message: string };

/**
 * Installs a verified package that is not firmware (ThingsBoard software): the agent has written
 * it to ports.slot (a file or partition the application chose) and reports succeeded once this
 * resolves, failed if it rejects. No reboot, no self-test.
 */
export type Install = (offer: Offer, slot: SlotWriter) => Promise<void>;

/** A line on the console for what the agent does: state changes, progress, confirm, rollback. */
export function describeNotice(notice: AgentNotice): string {
  switch (notice.event) {
    case "state":
      return `${notice.from} -> ${notice.to} (${notice.cause})`;
    case "offer":
      return `offer ${notice.id}: version ${notice.version}, ${notice.size} bytes`;
    case "resume":
      return `resuming ${notice.id} at byte ${notice.offset} of ${notice.size}`;
    case "progress":
      return `download ${notice.id}: ${notice.percent}% (${notice.bytes}/${notice.total})`;
    case "report":
      return (
        `report ${notice.status} for ${notice.id}` +
        (notice.failure ? `: ${notice.failure.message}` : "") +
        (notice.delivered ? "" : ` -- not delivered: ${notice.error}`)
      );
    case "confirm":
      return `version ${notice.version} confirmed in ${notice.slot}`;
    case "rollback":
      return `rolling back from ${notice.version}: ${notice.reason}`;
    case "error":
      return `error ${notice.code}: ${notice.message}`;
  }
}

export interface AgentOptions {
  ports: HostPorts;
  backend: Backend;
  /** Makes this agent one for packages rather than firmware. */
  install?: Install;
  selfTest?: SelfTest;
  config?: Partial<AgentConfig>;
  onNotice?: (notice: AgentNotice) => void;
}

type UpdatePhase =
  /** Verified; the otadata switch is under way. */
  | "staging"
  /** The next boot is the new image. */
  | "staged"
  /** The new image booted and runs its self-test. */
  | "testing"
  /** The new image confirmed itself; "succeeded" may not have reached the cloud yet. */
  | "confirmed"
  /** The old image knows the update failed; "failed" may not have reached the cloud yet. */
  | "rolled-back";

/** The update in flight across reboots (key-value store, checksummed). */
interface UpdateRecord {
  offer: Offer;
  phase: UpdatePhase;
  targetSlot: string;
  previousVersion: string;
  failure?: { code: string; message: string };
}

const TESTABLE: ImageState[] = ["new", "pending-verify", "undefined"];

export class Agent {
  readonly config: AgentConfig;
  private readonly ports: HostPorts;
  private readonly backend: Backend;
  private readonly selfTest: SelfTest;
  private readonly notify: (notice: AgentNotice) => void;
  private readonly machine: StateMachine;
  private readonly keys: TrustedKey[];
  private readonly journal: Journal;
  private readonly updates: CheckedRecord<UpdateRecord>;
  private readonly install: Install | undefined;
  /** The package installed last (package agents), which the version policy compares with. */
  private readonly installed: CheckedRecord<{ id: string; version: string }>;
  /**
   * The last update that rolled back on this device. The same update offered again is declined:
   * a cloud that keeps an assignment (ThingsBoard attributes) would otherwise make the board
   * download, reboot and roll back for ever (ESP-IDF's apps skip their last invalid partition).
   */
  private readonly rolledBack: CheckedRecord<{ offer: Offer; reason: string }>;
  private running!: RunningImage;
  private record: UpdateRecord | undefined;
  /** The offer being downloaded, verified or staged. */
  private active: Offer | undefined;
  private cancelRequested = false;
  /** An offer that arrived while another was in flight. */
  private next: Offer | undefined;
  /** Serialises the work that events start. */
  private work: Promise<void> = Promise.resolve();
  private stopped = false;
  private reachable!: () => void;
  private readonly cloudReachable: Promise<void>;

  constructor(options: AgentOptions) {
    this.ports = options.ports;
    this.backend = options.backend;
    this.config = { ...DEFAULT_CONFIG, ...options.config };
    this.notify = options.onNotice || (() => {});
    this.selfTest = options.selfTest || ((context) => context.cloudReachable);
    this.machine = new StateMachine((from, to, cause) =>
      this.notify({ event: "state", from, to, cause }),
    );
    this.keys = trustedKeys(this.config.trustedKeys);
    this.journal = new Journal(this.ports.store, this.ports.logger);
    this.updates = new CheckedRecord<UpdateRecord>(
      this.ports.store,
      "ota.update",
      this.ports.logger,
    );
    this.install = options.install;
    this.installed = new CheckedRecord(this.ports.store, "ota.package", this.ports.logger);
    this.rolledBack = new CheckedRecord(this.ports.store, "ota.rolledback", this.ports.logger);
    this.cloudReachable = new Promise<void>((resolve) => (this.reachable = resolve));
  }

  get state(): AgentState {
    return this.machine.state;
  }

  /** Settles when the work started so far is done (tests and the simulator use it). */
  settled(): Promise<void> {
    return this.work;
  }

  /** Finds out what booted, starts the backend, and finishes an update in flight. */
  async start(): Promise<void> {
    this.running = await this.ports.boot.running();
    this.record = await this.updates.load();
    const event = this.bootEvent();
    if (event === "boot-rolled-back" && this.record && this.record.phase !== "rolled-back") {
      const target = this.record.offer.version;
      this.record.phase = "rolled-back";
      this.record.failure = this.record.failure || {
        code: "rolled-back",
        message: `${target} did not confirm itself; the bootloader went back to ${this.running.version}`,
      };
      await this.updates.save(this.record);
      await this.rolledBack.save({ offer: this.record.offer, reason: this.record.failure.message });
      this.notify({ event: "rollback", version: target, reason: this.record.failure.message });
    }
    if (event === "boot-confirmed" && this.record && this.record.phase !== "confirmed") {
      // Power was cut after the image marked itself valid but before the record said so: the
      // flash is the truth, and the succeeded report is still owed.
      this.record.phase = "confirmed";
      await this.updates.save(this.record);
    }
    this.machine.fire(event);
    if (event === "boot-new-image") {
      this.record!.phase = "testing";
      await this.updates.save(this.record!);
    }
    await this.backend.start(this.listener());
    if (event === "boot-new-image") this.enqueue(() => this.runSelfTest());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRequested = true;
    await this.backend.stop();
  }

  /** Reboots into the staged image (when autoReboot is off). */
  reboot(): Promise<void> {
    return this.ports.boot.reboot();
  }

  private bootEvent(): AgentEvent {
    const record = this.record;
    const running = this.running;
    if (!record) return "boot-normal";
    if (record.phase === "confirmed") return "boot-confirmed";
    if (record.phase === "rolled-back") return "boot-rolled-back";
    const isTarget = running.slot === record.targetSlot && running.version === record.offer.version;
    if (isTarget) {
      if (running.state === "valid") return "boot-confirmed";
      if (running.state === "undefined") {
        this.ports.logger.log(
          "warn",
          "the bootloader was built without CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE: a failed self-test cannot roll back",
        );
      }
      if (TESTABLE.indexOf(running.state) >= 0) return "boot-new-image";
    }
    if (record.phase === "staging") {
      // Power was cut during the otadata switch: the old image still runs and nothing failed. The
      // journal is kept, so when the cloud offers the update again it is re-verified and staged.
      this.record = undefined;
      void this.updates.clear();
      return "boot-normal";
    }
    return "boot-rolled-back";
  }

  private listener(): BackendListener {
    return {
      offer: (offer) => this.onOffer(offer),
      cancel: (id, reason) => this.onCancel(id, reason),
      connected: () => {
        this.reachable();
        // A final report owed to the cloud goes out on every reconnection until it is accepted.
        if (this.machine.state === "idle" && this.record) this.enqueue(() => this.sendOwedReport());
      },
    };
  }

  private enqueue(task: () => Promise<void>): void {
    this.work = this.work.then(task).catch((error) => {
      const failure = asOtaError(error);
      this.ports.logger.log("error", `agent task failed: ${failure.message}`, {
        code: failure.code,
      });
      this.notify({ event: "error", code: failure.code, message: failure.message });
    });
  }

  /** An offer without a version is the same update as one whose version came from its image. */
  private sameUpdate(a: Offer, b: Offer): boolean {
    const versions = a.version === "" || b.version === "" || a.version === b.version;
    return a.backend === b.backend && a.id === b.id && versions;
  }

  private onOffer(offer: Offer): void {
    if (this.stopped) return;
    if (this.record && this.sameUpdate(offer, this.record.offer)) {
      // The cloud still lists the update this boot is finishing (testing, or a report owed).
      return;
    }
    if (this.active) {
      if (this.sameUpdate(offer, this.active)) {
        // Same update again (reconnect, or a fresh URL): keep going with the newest copy.
        this.active = offer;
        return;
      }
      this.ports.logger.log("info", `offer ${offer.id} replaces ${this.active.id}`);
      this.next = offer;
      this.cancelRequested = true;
      return;
    }
    this.enqueue(() => this.handleOffer(offer));
  }

  private onCancel(id: string, reason: string): void {
    if (this.next && this.next.id === id) this.next = undefined;
    if (this.active && this.active.id === id) {
      this.ports.logger.log("info", `update ${id} withdrawn by the cloud: ${reason}`);
      this.cancelRequested = true;
    }
  }

  private async report(
    offer: Offer,
    status: ReportStatus,
    extra?: Partial<Report>,
  ): Promise<boolean> {
    const report: Report = { offer, status, previousVersion: this.running.version, ...extra };
    if (this.record && this.sameUpdate(offer, this.record.offer)) {
      report.previousVersion = this.record.previousVersion;
    }
    const notice = { event: "report" as const, id: offer.id, status, failure: report.failure };
    try {
      await this.backend.report(report);
      this.notify({ ...notice, delivered: true });
      return true;
    } catch (error) {
      this.notify({ ...notice, delivered: false, error: String(error) });
      return false;
    }
  }

  private async handleOffer(offer: Offer): Promise<void> {
    if (this.stopped || this.machine.state !== "idle") return;
    this.notify({ event: "offer", id: offer.id, version: offer.version, size: offer.size });
    const failed = await this.rolledBack.load();
    if (failed && this.sameUpdate(offer, failed.offer)) {
      this.machine.fire("offer-declined");
      const message = `${failed.offer.version} rolled back on this device before (${failed.reason}); it is not installed again`;
      await this.report(offer, "rejected", { failure: { code: "rolled-back", message } });
      return;
    }
    const current = this.install ? await this.installed.load() : undefined;
    const against = this.install
      ? { ...this.running, version: current ? current.version : "" }
      : this.running;
    const efuse = await this.ports.boot.efuseSecureVersion?.();
    const decision = decide(offer, against, this.ports.slot, this.config, efuse);
    if (decision.kind !== "accept") {
      this.machine.fire("offer-declined");
      if (decision.kind === "current") await this.report(offer, "current");
      else await this.report(offer, "rejected", { failure: failureOf(decision.error) });
      return;
    }
    this.machine.fire("offer-accepted");
    this.active = offer;
    this.cancelRequested = false;
    try {
      await this.download();
    } finally {
      this.active = undefined;
      const next = this.next;
      this.next = undefined;
      if (next && !this.stopped && this.machine.state === "idle")
        this.enqueue(() => this.handleOffer(next));
    }
  }

  private sourceFor(offer: Offer): ByteSource {
    if (offer.source.kind === "http") {
      return httpSource({
        http: this.ports.http,
        clock: this.ports.clock,
        url: offer.source.url,
        expectedSize: offer.size,
        readTimeoutMs: this.config.httpReadTimeoutMs,
        maxRedirects: this.config.maxRedirects,
        trust: this.config,
      });
    }
    if (!this.backend.source)
      throw otaError("offer-unsupported", `${this.backend.name} gives no byte source`);
    return this.backend.source(offer);
  }

  private async download(): Promise<void> {
    let offer = this.active!;
    const { slot, logger, clock } = this.ports;
    const efuseFloor = await this.ports.boot.efuseSecureVersion?.();
    await this.report(offer, "downloading", { progress: { bytes: 0, total: offer.size } });
    const throttle = progressThrottle(clock.now(), this.config);
    for (let again = false; ; again = true) {
      let result;
      try {
        result = await transfer({
          offer,
          source: this.sourceFor(offer),
          slot,
          journal: this.journal,
          clock,
          logger,
          nativeDigests: this.ports.nativeDigests,
          nativeSignatures: this.ports.nativeSignatures,
          config: this.config,
          trustedKeys: this.keys,
          expect: this.install
            ? undefined
            : {
                chipId: this.config.chipId,
                version: offer.version || undefined,
                project: offer.title,
                // Anti-rollback: an image may raise secure_version, never lower it (nor go below the eFuse).
                minSecureVersion: Math.max(this.running.secureVersion, efuseFloor || 0),
              },
          onHeader: (header) => {
            if (offer.version !== "") return;
            checkImageVersion(offer, header.version, this.running, this.config);
            // From here on the update is known by the image's version (the record after reboot too).
            offer = this.active = { ...offer, version: header.version };
          },
          refresh: this.backend.refresh
            ? async () => {
                const fresh = await this.backend.refresh!(offer);
                if (!fresh) return undefined;
                offer = this.active = fresh;
                return this.sourceFor(fresh);
              }
            : undefined,
          cancelled: () => this.cancelRequested,
          onProgress: (bytes, total) => {
            const step = throttle(clock.now(), bytes, total);
            if (step.notice) {
              this.notify({ event: "progress", id: offer.id, bytes, total, percent: step.percent });
            }
            if (step.report) void this.report(offer, "downloading", { progress: { bytes, total } });
          },
          onResume: (offset) =>
            this.notify({ event: "resume", id: offer.id, offset, size: offer.size }),
        });
      } catch (error) {
        const failure = asOtaError(error);
        await slot.abort();
        if (failure.code === "cancelled") {
          await this.journal.clear();
          this.machine.fire("cancelled");
          // An update the agent dropped for a newer offer is over for the cloud too.
          if (this.next) await this.report(offer, "failed", { failure: failureOf(failure) });
          return;
        }
        // A verification failure of the prefix means the journaled bytes are not worth keeping.
        if (!failure.transient) await this.journal.clear();
        this.machine.fire("download-failed");
        await this.report(offer, "failed", { failure: failureOf(failure) });
        return;
      }
      this.machine.fire("download-done");
      await this.report(offer, "downloaded");

      try {
        this.checkDigests(offer, result.digests);
        result.verifySignature();
        result.verifyImage();
        // esp_ota_end: the slot validates the image it holds, after the checks that say precisely
        // what is wrong with it.
        await slot.finish();
      } catch (error) {
        await slot.abort();
        await this.journal.clear();
        const failure = asOtaError(error);
        if (result.resumedFrom > 0 && !again) {
          logger.log(
            "warn",
            `${failure.message}, after resuming at byte ${result.resumedFrom}: downloading again from 0`,
          );
          this.machine.fire("resume-unverified");
          continue;
        }
        this.machine.fire("verify-failed");
        await this.report(offer, "failed", { failure: failureOf(failure) });
        return;
      }
      break;
    }
    this.machine.fire("verify-passed");
    await this.report(offer, "verified");
    if (this.install) return this.installPackage(offer, this.install);

    this.record = {
      offer,
      phase: "staging",
      targetSlot: slot.name,
      previousVersion: this.running.version,
    };
    try {
      await this.updates.save(this.record);
      await this.ports.boot.setNextBoot(slot.name);
      this.record.phase = "staged";
      await this.updates.save(this.record);
    } catch (error) {
      this.record = undefined;
      await this.updates.clear();
      this.machine.fire("stage-failed");
      await this.report(offer, "failed", {
        failure: failureOf(otaError("flash", asOtaError(error).message)),
      });
      return;
    }
    await this.journal.clear();
    this.machine.fire("staged");
    await this.report(offer, "updating");
    if (this.config.autoReboot && !this.stopped) await this.ports.boot.reboot();
  }

  private async installPackage(offer: Offer, install: Install): Promise<void> {
    await this.journal.clear();
    await this.report(offer, "updating");
    try {
      await install(offer, this.ports.slot);
      await this.installed.save({ id: offer.id, version: offer.version });
    } catch (error) {
      this.machine.fire("stage-failed");
      await this.report(offer, "failed", { failure: failureOf(asOtaError(error)) });
      return;
    }
    this.machine.fire("installed");
    await this.report(offer, "succeeded");
  }

  private checkDigests(offer: Offer, digests: Partial<Record<HashAlgorithm, Uint8Array>>): void {
    for (const algorithm of Object.keys(offer.hashes) as HashAlgorithm[]) {
      const expected = offer.hashes[algorithm]!;
      const actual = digests[algorithm]!;
      if (!matchDigest(algorithm, actual, expected).match) {
        throw otaError(
          "checksum-mismatch",
          `${algorithm.toUpperCase()} of the image is ${toHex(actual)}, the offer says ${expected}`,
        );
      }
    }
  }

  private async runSelfTest(): Promise<void> {
    const record = this.record!;
    const { boot, clock } = this.ports;
    void this.cloudReachable.then(() => this.report(record.offer, "testing"));
    let failure: OtaError | undefined;
    try {
      await deadline(
        this.selfTest({
          running: this.running,
          offer: record.offer,
          cloudReachable: this.cloudReachable,
        }),
        clock,
        this.config.selfTestTimeoutMs,
      );
    } catch (error) {
      failure = asOtaError(error);
    }
    if (failure) {
      record.failure = {
        code: "self-test-failed",
        message: `self-test of ${record.offer.version} failed: ${failure.message}`,
      };
      await this.updates.save(record);
      this.machine.fire("self-test-failed");
      this.notify({
        event: "rollback",
        version: record.offer.version,
        reason: record.failure.message,
      });
      await boot.markInvalidAndReboot();
      return;
    }
    await boot.markValid();
    record.phase = "confirmed";
    await this.updates.save(record);
    this.running = { ...this.running, state: "valid" };
    this.machine.fire("self-test-passed");
    this.notify({ event: "confirm", version: this.running.version, slot: this.running.slot });
    await this.sendOwedReport();
  }

  /** Sends the final report of a finished update; the record is dropped once the cloud accepts it. */
  private async sendOwedReport(): Promise<void> {
    const record = this.record;
    if (!record || (record.phase !== "confirmed" && record.phase !== "rolled-back")) return;
    const accepted =
      record.phase === "confirmed"
        ? await this.report(record.offer, "succeeded")
        : await this.report(record.offer, "failed", { failure: record.failure });
    if (accepted && this.record === record) {
      this.record = undefined;
      await this.updates.clear();
    }
  }
}

function failureOf(error: OtaError): { code: string; message: string } {
  return { code: error.code, message: error.message };
}

/** Rejects with a timeout if `promise` has not settled within `ms`. */
function deadline<T>(promise: Promise<T>, clock: HostPorts["clock"], ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(
      () => reject(otaError("timeout", `no verdict within ${ms} ms`)),
      ms,
    );
    promise.then(
      (value) => (clock.clearTimeout(timer), resolve(value)),
      (error) => (clock.clearTimeout(timer), reject(error)),
    );
  });
}

/** Decides which progress steps become notices (every percent) and cloud reports (rate-limited). */
function progressThrottle(start: number, config: AgentConfig) {
  let lastPercent = -1;
  let reportedPercent = 0;
  let reportedAt = start;
  return (now: number, bytes: number, total: number) => {
    const percent = Math.floor((bytes * 100) / total);
    const notice = percent !== lastPercent;
    lastPercent = percent;
    const report =
      percent < 100 &&
      percent - reportedPercent >= config.progressStepPercent &&
      now - reportedAt >= config.progressIntervalMs;
    if (report) {
      reportedPercent = percent;
      reportedAt = now;
    }
    return { notice, report, percent };
  };
}
