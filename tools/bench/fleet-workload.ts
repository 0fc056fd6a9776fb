// Fleet scale on one machine: tools/campaign/load.ts's devices (the whole simulated board,
// runDevice, each with its flash file, MQTT session and agent) updating at once through mosquitto
// from the local AWS IoT Jobs cloud and one firmware server, in a fresh Node process per count.

import { loadTest } from "../campaign/load";

export const IMAGE_SIZE = 128 * 1024;
export const COUNTS = [200, 1000, 2000];

const cases: Record<string, () => Promise<unknown>> = {};
for (const devices of COUNTS) {
  cases[`${devices} devices`] = () =>
    loadTest({ devices, imageSize: IMAGE_SIZE, timeoutMs: 600_000 });
}
export default cases;
