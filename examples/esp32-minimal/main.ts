// A minimal application that embeds the agent: the configuration in settings.ts, the ESP32 host's
// ports, the AWS backend with a handler for jobs that are not firmware, and a self-test of its own.
// Build it like the main app (hosts/esp32/README.md): mcconfig -d -m -p esp32 examples/esp32-minimal/manifest.json
import Resource from "Resource";
import {
  Agent,
  agentConfigOf,
  backendConfigOf,
  checkConfig,
  createAwsBackend,
  createBackend,
  mqttIdentityOf,
  parseBroker,
  type Backend,
  type HostPorts,
} from "../../src/index";
import { ffiBootControl, nextSlotName } from "../../hosts/esp32/boot";
import { clock } from "../../hosts/esp32/clock";
import { cryptDigests } from "../../hosts/esp32/digests";
import { requestHttpClient, secureOptions, type TlsOptions } from "../../hosts/esp32/http";
import { traceLogger } from "../../hosts/esp32/logger";
import { connectMqtt } from "../../hosts/esp32/mqtt";
import { openSlot, readRunning } from "../../hosts/esp32/slot";
import { preferenceStore } from "../../hosts/esp32/store";
import { customJobs } from "./jobs";
import { applicationSelfTest } from "./self-test";
import { settings } from "./settings";

async function main(): Promise<void> {
  const config = checkConfig(settings);
  const logger = traceLogger("info");
  const load = (name: string | undefined) => (name === undefined ? undefined : new Resource(name));
  const tls: TlsOptions = {
    ca: load(config.connection.ca),
    certificate: load(config.connection.cert),
    key: load(config.connection.key),
    verify: !config.insecure.skipServerVerification,
  };
  const slot = openSlot(nextSlotName());
  const boot = ffiBootControl(slot, readRunning);
  const running = await boot.running();
  const store = preferenceStore("otaflow");

  const broker = parseBroker(config.connection.broker);
  const mqtt = connectMqtt({
    host: broker.host,
    port: broker.port,
    secure: broker.secure ? secureOptions(tls) : undefined,
    identity: () => mqttIdentityOf(config, () => clock.random()),
    clock,
    logger,
  });
  const deps = { mqtt, clock, logger };
  const made = backendConfigOf(config, running);
  // Only AWS has jobs other than firmware; the other clouds come as configured.
  const backend: Backend =
    made.name === "aws"
      ? createAwsBackend({ ...made.config, onJob: customJobs(store, logger) }, deps)
      : createBackend(made, deps);
  const ports: HostPorts = {
    slot,
    boot,
    http: requestHttpClient(tls),
    store,
    clock,
    logger,
    nativeDigests: cryptDigests,
  };
  const agent = new Agent({
    ports,
    backend,
    config: agentConfigOf(config),
    selfTest: applicationSelfTest(store),
    onNotice: (notice) => logger.log("info", JSON.stringify(notice)),
  });
  await agent.start();
}

main().catch((error: unknown) => trace(`example: cannot start: ${String(error)}\n`));
