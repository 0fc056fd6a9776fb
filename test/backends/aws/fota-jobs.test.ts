// handleFotaJobs, the Zerynth-like entry point, with a stand-in agent that reports as the real one
// does, against the local cloud through the embedded broker.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { handleFotaJobs, type FotaAgent } from "../../../src/backends/aws/fota-jobs";
import { mqttIdentity } from "../../../src/backends/aws/index";
import type { Backend } from "../../../src/core/backend";
import type { Offer, ReportStatus } from "../../../src/core/offer";
import type { Logger, MqttClient, MqttMessage, QoS } from "../../../src/core/ports";
import { nodeClock } from "../../../hosts/node/clock";
import { connectMqtt } from "../../../hosts/node/mqtt";
import { firmwareJobDocument } from "../../../tools/clouds/aws/index";
import { sleep, startEnv, until, type Env } from "./harness";

const logger: Logger = { log: () => undefined };

/** Reports an offer through to "updating", as the agent does when the download goes well. */
class StandInAgent implements FotaAgent {
  offers: Offer[] = [];
  reports: ReportStatus[] = [];
  constructor(
    private readonly backend: Backend,
    readonly autoReboot: boolean,
  ) {}
  start() {
    return this.backend.start({
      offer: (offer) => {
        // The same job named again (a reconnection) is the update already under way.
        if (this.offers.some((o) => o.id === offer.id)) return;
        this.offers.push(offer);
        void this.run(offer);
      },
      cancel: () => undefined,
      connected: () => undefined,
    });
  }
  stop() {
    return this.backend.stop();
  }
  private async run(offer: Offer) {
    const total = offer.size;
    const steps: [ReportStatus, number?][] = [
      ["downloading", 0],
      ["downloading", total / 3],
      ["downloading", (2 * total) / 3],
      ["downloaded"],
      ["verified"],
      ["updating"],
    ];
    for (const [status, bytes] of steps) {
      await this.backend.report({
        offer,
        status,
        progress: bytes === undefined ? undefined : { bytes, total },
        previousVersion: "1.0.0",
      });
      this.reports.push(status);
    }
  }
}

/** An MQTT client the test can drop and restore, as a host would for disconnectMqtt. */
function pausableMqtt(open: () => MqttClient) {
  let inner = open();
  const messages: ((m: MqttMessage) => void)[] = [];
  const connects: ((sessionPresent: boolean) => void)[] = [];
  const disconnects: ((reason: string) => void)[] = [];
  const wire = (client: MqttClient) => {
    client.onMessage((m) => messages.forEach((h) => h(m)));
    client.onConnect((s) => connects.forEach((h) => h(s)));
    client.onDisconnect((r) => disconnects.forEach((h) => h(r)));
  };
  wire(inner);
  let drops = 0;
  const client: MqttClient = {
    get connected() {
      return inner.connected;
    },
    publish: (topic: string, payload: string | Uint8Array, qos: QoS) =>
      inner.publish(topic, payload, qos),
    subscribe: (filters, qos) => inner.subscribe(filters, qos),
    unsubscribe: (filters) => inner.unsubscribe(filters),
    onMessage: (h) => void messages.push(h),
    onConnect: (h) => {
      connects.push(h);
      if (inner.connected) h(false);
    },
    onDisconnect: (h) => void disconnects.push(h),
    close: () => inner.close(),
  };
  return {
    client,
    drops: () => drops,
    pause: {
      async disconnect() {
        drops++;
        await inner.close();
        disconnects.forEach((h) => h("paused"));
      },
      async reconnect() {
        inner = open();
        wire(inner);
        await until(() => inner.connected, "reconnection");
      },
    },
  };
}

describe("handleFotaJobs", () => {
  let env: Env;
  let things = 0;
  const plain = () =>
    firmwareJobDocument("plain", {
      url: env.imageUrl,
      size: env.image.length,
      version: "1.1.0",
      sha256: env.sha256,
    });

  before(async () => {
    env = await startEnv("aedes");
  });
  after(() => env.close());

  function connect(thing: string): MqttClient {
    return connectMqtt({
      url: env.brokerUrl,
      ...mqttIdentity({ thingName: thing }),
      ca: env.pki.ca,
      ...env.pki.client(thing),
      reconnectMs: 200,
    });
  }

  it("checks for jobs at start, runs firmware jobs through the agent, and leaves the reset to the app", async () => {
    const thing = `fota-${++things}`;
    const jobId = await env.cloud.deploy({ thingName: thing, document: plain() });
    const custom = await env.cloud.deploy({ thingName: thing, document: { operation: "blink" } });
    const mqtt = connect(thing);
    let agent: StandInAgent | undefined;
    const staged: Offer[] = [];
    const jobs: unknown[] = [];
    const fota = handleFotaJobs({
      thingName: thing,
      mqtt,
      clock: nodeClock,
      logger,
      responseTimeoutMs: 1000,
      agent: (backend, { autoReboot }) => (agent = new StandInAgent(backend, autoReboot)),
      autoReset: false,
      onStaged: (offer) => staged.push(offer),
      onJob: async (job) => {
        jobs.push(job.document);
        return "succeeded";
      },
    });
    assert.equal(agent?.autoReboot, false);
    await fota.start();
    assert.equal(agent!.offers.length, 1, "start() resolves once the pending job was asked for");
    assert.equal(agent!.offers[0].id, jobId);
    await until(() => staged.length === 1, "staged");
    assert.equal(staged[0].id, jobId);
    const execution = env.cloud.execution(thing, jobId)!;
    assert.equal(execution.status, "IN_PROGRESS");
    assert.equal(execution.statusDetails.self_test, "ready");
    // The firmware job stays IN_PROGRESS (IN_PROGRESS jobs come first), so the custom job waits
    // until the update is over: here the new image would report SUCCEEDED.
    assert.deepEqual(jobs, []);
    await fota.backend.report({ offer: staged[0], status: "succeeded", previousVersion: "1.0.0" });
    await env.cloud.waitForStatus(thing, custom, "SUCCEEDED");
    assert.deepEqual(jobs, [{ operation: "blink" }]);
    await fota.stop();
    await mqtt.close();
  });

  it("asks for the next job every intervalMs", async () => {
    const thing = `fota-${++things}`;
    const mqtt = connect(thing);
    const fota = handleFotaJobs({
      thingName: thing,
      mqtt,
      clock: nodeClock,
      logger,
      agent: (backend, { autoReboot }) => new StandInAgent(backend, autoReboot),
      intervalMs: 150,
    });
    await fota.start();
    const asked = () =>
      env.cloud.history.filter(
        (h) => h.direction === "in" && h.topic === `$aws/things/${thing}/jobs/$next/get`,
      ).length;
    await until(() => asked() >= 4, "four $next/get");
    await fota.stop();
    const stopped = asked();
    await sleep(400);
    assert.equal(asked(), stopped, "no more checks once stopped");
    await mqtt.close();
  });

  it("drops MQTT during the download and restores it for the reports that matter", async () => {
    const thing = `fota-${++things}`;
    const jobId = await env.cloud.deploy({ thingName: thing, document: plain() });
    const mqtt = pausableMqtt(() => connect(thing));
    let agent: StandInAgent | undefined;
    const fota = handleFotaJobs({
      thingName: thing,
      mqtt: mqtt.client,
      clock: nodeClock,
      logger,
      responseTimeoutMs: 1000,
      progressIntervalMs: 0,
      agent: (backend, { autoReboot }) => (agent = new StandInAgent(backend, autoReboot)),
      disconnectMqtt: mqtt.pause,
    });
    await fota.start();
    await until(() => agent!.reports.length === 6, "the stand-in agent's six reports");
    assert.equal(mqtt.drops(), 1);
    const states = env.cloud.updates
      .filter((u) => u.jobId === jobId && u.outcome === "accepted")
      .map((u) => (u.request.statusDetails as Record<string, string>).state);
    assert.deepEqual(
      states,
      ["downloading", "downloaded", "verified", "updating"],
      "no progress while offline",
    );
    assert.equal(env.cloud.execution(thing, jobId)?.statusDetails.self_test, "ready");
    await fota.stop();
    await mqtt.client.close();
  });
});
