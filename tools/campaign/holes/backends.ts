// Holes found from outside, replayed against each backend through its local cloud and a real
// broker: a stale $next/get answer (1), refusals that must reach the cloud (6), a package without
// a checksum (8), a duplicate offer racing the agent (10). Each scenario returns its violations.
import { startEnv, until, sleep, type Env } from "../../../test/backends/aws/harness";
import {
  TITLE,
  TOKEN,
  image,
  startTier,
  type Tier,
} from "../../../test/backends/thingsboard/support";
import {
  PRODUCT,
  startTier as startTencentTier,
  type Tier as TencentTier,
} from "../../../test/backends/tencent/support";

export interface BackendHoleResult {
  outcome: string;
  violations: string[];
}

/** 1: the boot-time $next/get answer ("no job") is delivered after notify-next for a new job. */
export async function staleNextAnswer(
  env: Env,
  run: number,
  delayMs = 700,
): Promise<BackendHoleResult> {
  const thing = `stale-${run}`;
  env.cloud.delayReplies(`/things/${thing}/jobs/$next/get`, delayMs);
  const device = await env.device(thing);
  const violations: string[] = [];
  try {
    await until(
      () =>
        env.cloud.history.some(
          (h) => h.direction === "in" && h.topic.endsWith(`${thing}/jobs/$next/get`),
        ),
      "the boot-time $next/get",
    );
    const jobId = await env.cloud.deploy({
      thingName: thing,
      document: { url: env.imageUrl, size: env.image.length, version: "1.1.0", sha256: env.sha256 },
    });
    const offer = await device.listener.nthOffer(0);
    const answers = () =>
      env.cloud.history.filter(
        (h) => h.direction === "out" && h.topic.endsWith(`${thing}/jobs/$next/get/accepted`),
      ).length;
    await until(() => device.listener.cancels.length > 0 || answers() >= 2, "an answer", 5000);
    await sleep(100);
    if (device.listener.cancels.length > 0)
      violations.push(`job withdrawn: ${device.listener.cancels[0].reason}`);
    await device.backend
      .report({ offer, status: "downloading", progress: { bytes: 0, total: offer.size } })
      .catch((error: unknown) => violations.push(`report refused: ${String(error)}`));
    const status = env.cloud.execution(thing, jobId)?.status;
    if (status !== "IN_PROGRESS") violations.push(`the job is ${status}, not IN_PROGRESS`);
    return { outcome: violations.length ? "dropped" : "kept, IN_PROGRESS", violations };
  } finally {
    await device.shutdown();
  }
}

/** Waits for the device's next FAILED telemetry after `before` entries; gives its fw_error. */
async function failedTelemetry(tier: Tier, before: number): Promise<string | undefined> {
  const entry = await tier.cloud
    .waitFor(
      (e) =>
        tier.cloud.telemetry(TOKEN).indexOf(e) >= before &&
        e.source === "device" &&
        e.values.fw_state === "FAILED",
      3000,
    )
    .catch(() => undefined);
  return entry ? String(entry.values.fw_error) : undefined;
}

/**
 * 6 and 8 on ThingsBoard: fw_version as an object, and a package without fw_checksum, are each
 * answered FAILED with their reason, and never offered.
 */
export async function thingsBoardRefusals(tier: Tier, run: number): Promise<BackendHoleResult> {
  const device = await tier.device();
  const violations: string[] = [];
  const outcomes: string[] = [];
  try {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["fw_version object", { version: { build: run } }, /^fw_version must be/],
      [
        "no fw_checksum",
        { version: `nock-${run}`, url: "http://127.0.0.1:9/x.bin", size: 100, data: undefined },
        /no fw_checksum/,
      ],
    ];
    for (const [name, fields, reason] of cases) {
      const before = tier.cloud.telemetry(TOKEN).length;
      const offers = device.listener.offers.length;
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: `v-${run}`,
        data: image(100),
        ...fields,
      } as never);
      const error = await failedTelemetry(tier, before);
      if (error === undefined) violations.push(`${name}: no FAILED reached the cloud`);
      else if (!reason.test(error)) violations.push(`${name}: fw_error ${error}`);
      if (device.listener.offers.length !== offers)
        violations.push(`${name}: offered to the agent`);
      outcomes.push(`${name}: ${error === undefined ? "silent" : "FAILED"}`);
    }
    return { outcome: outcomes.join("; "), violations };
  } finally {
    await device.close();
  }
}

/** 6 on Tencent: update_firmware with version "" is answered fail -5 on version "". */
export async function tencentEmptyVersion(tier: TencentTier): Promise<BackendHoleResult> {
  const { deviceName, secret } = tier.newDevice();
  const device = await tier.boot(deviceName, secret, "1.0.0");
  const violations: string[] = [];
  try {
    tier.cloud.deploy({
      productId: PRODUCT,
      deviceName,
      version: "",
      url: tier.fw.url + "/fw.bin",
      md5: tier.md5,
      size: tier.image.length,
    });
    const progress = tier.cloud.device(PRODUCT, deviceName).progress;
    await tier.cloud.waitFor(() => progress.length > 0, 3000, "a report").catch(() => {});
    const fail = progress.find((p) => p.state === "fail");
    if (!fail) violations.push("no fail report reached the platform");
    else if (fail.version !== "" || fail.resultCode !== "-5")
      violations.push(`reported ${JSON.stringify([fail.version, fail.resultCode])}`);
    if (device.agent.offers.length > 0) violations.push("offered to the agent");
    return { outcome: fail ? `fail ${fail.resultCode} on version ""` : "silent", violations };
  } finally {
    await device.down();
  }
}

/**
 * 10: an assignment made just after the device connected arrives both pushed and in the
 * attributes response: it is offered once, so that a later assignment is the next offer.
 */
export async function duplicateOffer(tier: Tier, run: number): Promise<BackendHoleResult> {
  tier.cloud.unassign(TOKEN);
  const device = await tier.device();
  const violations: string[] = [];
  try {
    const first = `d${run}.0`;
    tier.cloud.assign({ token: TOKEN, title: TITLE, version: first, data: image(10) });
    await device.listener.nextOffer((o) => o.version === first);
    const from = device.listener.offers.length;
    const second = `d${run}.1`;
    tier.cloud.assign({ token: TOKEN, title: TITLE, version: second, data: image(10) });
    const next = await device.listener.nextOffer(() => true, from);
    if (next.version !== second)
      violations.push(`the next offer was ${next.version}, not ${second}`);
    const copies = device.listener.offers.filter((o) => o.version === first).length;
    if (copies !== 1) violations.push(`${first} offered ${copies} times`);
    const order = next.version === second ? "then the second" : "then the first again";
    return { outcome: `first offered ${copies} time(s), ${order}`, violations };
  } finally {
    await device.close();
  }
}

export { startEnv, startTier, startTencentTier };
