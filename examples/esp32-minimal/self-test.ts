// The new image's own check before it confirms itself: if it rejects, or takes longer than
// policy.selfTestTimeoutMs, the agent marks the image invalid and the bootloader returns to the
// old one, which reports the failure to the cloud.
import type { KeyValueStore, SelfTest } from "../../src/index";
import { otaError } from "../../src/index";

const PROBE_KEY = "selftest";

export function applicationSelfTest(store: KeyValueStore): SelfTest {
  return async ({ running, offer, cloudReachable }) => {
    // The image that booted must be the one the cloud sent (the version in its app descriptor).
    if (offer.version !== "" && running.version !== offer.version)
      throw otaError("self-test-failed", `booted ${running.version}, expected ${offer.version}`);
    // NVS must still work for this image: the agent's records and the application's live there.
    const probe = String(Date.now());
    await store.set(PROBE_KEY, probe);
    const back = await store.get(PROBE_KEY);
    await store.delete(PROBE_KEY);
    if (back !== probe)
      throw otaError("self-test-failed", "NVS did not read back what was written");
    // An image that cannot reach its cloud could never be updated again: that is the last check.
    await cloudReachable;
  };
}
