// The agent as a Moddable application: the ports every Moddable host shares (Preference, crypt,
// http, MQTT, timer, trace), the backend the settings name, and the Agent. The platform gives the
// slot and boot control (esp32: embedded:update and ESP-IDF through FFI; lin: files).
import Resource from "Resource";
import { createAwsBackend, mqttIdentity as awsIdentity } from "../../src/backends/aws/index";
import {
  createTencentBackend,
  mqttIdentity as tencentIdentity,
} from "../../src/backends/tencent/index";
import {
  createThingsBoardBackend,
  mqttIdentity as thingsBoardIdentity,
} from "../../src/backends/thingsboard/index";
import { Agent, describeNotice, type AgentNotice, type SelfTest } from "../../src/core/agent/agent";
import type { Backend } from "../../src/core/backend";
import type {
  BootControl,
  Clock,
  HostPorts,
  KeyValueStore,
  LogLevel,
  Logger,
  MqttClient,
  RunningImage,
  SlotReader,
  SlotWriter,
} from "../../src/core/ports";
import { clock as timerClock } from "./clock";
import { cryptDigests } from "./digests";
import { requestHttpClient, secureOptions, type TlsOptions } from "./http";
import { traceLogger } from "./logger";
import { connectMqtt, type MqttIdentity } from "./mqtt";
import type { Settings } from "./settings";
import { preferenceStore } from "./store";

export interface Platform {
  slot: SlotWriter;
  /** The running slot, for delta updates (none on lin: delta offers take the full image). */
  running?: SlotReader;
  boot: BootControl;
  /** The application's check of a new image before it confirms itself (default: cloud reachable). */
  selfTest?: SelfTest;
  /** Defaults: Preference in the settings' NVS namespace, Timer/Time, trace. */
  store?: KeyValueStore;
  clock?: Clock;
  logger?: Logger;
}

export interface App {
  agent: Agent;
  mqtt: MqttClient;
  running: RunningImage;
}

function tlsOf(settings: Settings): TlsOptions {
  const load = (name: string | undefined) => (name === undefined ? undefined : new Resource(name));
  return {
    ca: load(settings.ca),
    certificate: load(settings.cert),
    key: load(settings.key),
    verify: settings.verify,
  };
}

interface Cloud {
  identity: () => MqttIdentity;
  backend: (deps: { mqtt: MqttClient; clock: Clock; logger: Logger }) => Backend;
}

function cloudOf(settings: Settings, running: RunningImage, clock: Clock): Cloud {
  switch (settings.backend) {
    case "aws": {
      const config = { thingName: settings.thing! };
      return {
        identity: () => awsIdentity(config),
        backend: (deps) => createAwsBackend(config, deps),
      };
    }
    case "thingsboard": {
      const config = {
        accessToken: settings.token!,
        title: settings.title || running.project,
        currentVersion: running.version,
      };
      return {
        identity: () => thingsBoardIdentity(config),
        backend: (deps) => createThingsBoardBackend(config, deps),
      };
    }
    case "tencent": {
      const config = {
        productId: settings.product!,
        deviceName: settings.device!,
        deviceSecret: settings.secret,
        currentVersion: running.version,
      };
      return {
        // A new connection id (and signature) for every connection, as the C SDKs do.
        identity: () => tencentIdentity(config, undefined, () => clock.random()),
        backend: (deps) => createTencentBackend(config, deps),
      };
    }
  }
}

/**
 * How loud each notice is on the console: the state machine's steps at "debug", a progress line
 * each time the download crosses a tenth.
 */
function noticeLevels(): (notice: AgentNotice) => LogLevel {
  let lastPercent = 0;
  return (notice) => {
    switch (notice.event) {
      case "state":
        return "debug";
      case "progress": {
        const crossed =
          notice.percent < lastPercent ||
          Math.floor(notice.percent / 10) !== Math.floor(lastPercent / 10);
        lastPercent = notice.percent;
        return crossed ? "info" : "debug";
      }
      case "rollback":
        return "warn";
      case "report":
        return notice.delivered ? "info" : "warn";
      case "error":
        return "error";
      default:
        return "info";
    }
  };
}

export async function startApp(platform: Platform, settings: Settings): Promise<App> {
  const logger = platform.logger || traceLogger(settings.log);
  const clock = platform.clock || timerClock;
  const tls = tlsOf(settings);
  const running = await platform.boot.running();
  logger.log(
    "info",
    `running ${running.project} ${running.version} from ${running.slot} (${running.state})`,
  );

  const cloud = cloudOf(settings, running, clock);
  const mqtt = connectMqtt({
    host: settings.broker.host,
    port: settings.broker.port,
    secure: settings.broker.secure ? secureOptions(tls) : undefined,
    identity: cloud.identity,
    clock,
    logger,
  });
  const ports: HostPorts = {
    slot: platform.slot,
    running: platform.running,
    boot: platform.boot,
    http: requestHttpClient(tls),
    store: platform.store || preferenceStore(settings.nvs),
    clock,
    logger,
    nativeDigests: cryptDigests,
  };
  const levelOf = noticeLevels();
  const agent = new Agent({
    ports,
    backend: cloud.backend({ mqtt, clock, logger }),
    selfTest: platform.selfTest,
    config: {
      chipId: settings.chip,
      allowPlaintext: settings.insecurePlaintext,
      trustedKeys: settings.trustedKeys,
    },
    onNotice: (notice) => logger.log(levelOf(notice), describeNotice(notice)),
  });
  await agent.start();
  return { agent, mqtt, running };
}
