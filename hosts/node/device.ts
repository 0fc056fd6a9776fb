// The simulated board: boots the flash file with the ESP-IDF bootloader rules, runs the agent on
// the running image with Node ports, and reboots in-process when the firmware asks to. A power cut
// is a killed process: the next run on the same flash file boots whatever the flash holds.
import * as fs from "node:fs";
import {
  Agent,
  type AgentConfig,
  type AgentNotice,
  type SelfTest,
} from "../../src/core/agent/agent";
import type { Backend } from "../../src/core/backend";
import { otaError } from "../../src/core/errors";
import type { Clock, HostPorts, HttpClient, Logger, MqttClient } from "../../src/core/ports";
import { readSimBehaviour, type SelfTestBehaviour } from "./sim-firmware";
import { FlashBootControl } from "./boot-control";
import { boot, ESP32, type BootResult, type Chip } from "./bootloader";
import { SimEfuses } from "./efuse";
import { verifySecureBootV2 } from "./secure-boot";
import { nodeClock } from "./clock";
import { FlashFile } from "./flash";
import { nodeDigests } from "./digests";
import { createNodeHttpClient } from "./http";
import { connectMqtt } from "./mqtt";
import { nodeSignatures } from "./signatures";
import { FlashSlotWriter } from "./slot";
import { FlashKeyValueStore } from "./store";

/** PEM texts for TLS to the broker and the firmware server. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

/** How to reach the cloud: the MQTT identity and the backend made over the connection. */
export interface DeviceCloud {
  brokerUrl: string;
  identity: { clientId: string; username?: string; password?: string };
  tls?: TlsMaterial;
  createBackend(deps: {
    mqtt: MqttClient;
    clock: Clock;
    logger: Logger;
    /** The image that booted: backends report its version at connection. */
    running: { version: string; project: string };
  }): Backend;
}

/** A line of the device's output: agent notices plus the device's own boot, reboot and power events. */
export type DeviceEvent =
  | AgentNotice
  | {
      event: "boot";
      version: string;
      slot: string;
      state: string;
      project: string;
      selfTest: SelfTestBehaviour;
      bootloader: string[];
    }
  | { event: "reboot"; reason: string }
  | { event: "log"; level: string; message: string; fields?: Record<string, unknown> };

export interface DeviceOptions {
  flashPath: string;
  /** Image file provisioned into ota_0 when the flash file does not exist yet. */
  factoryImagePath?: string;
  flashSize?: number;
  /**
   * The board's chip (default ESP32, whose slots may not exceed 16 MiB); ESP32_S3 maps the flash
   * with 32-bit addresses, for larger slots on a larger flash.
   */
  chip?: Chip;
  /**
   * The bootloader and app are built with CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK (default true): the
   * chip's secure_version eFuse rises when an image is marked valid, and no image below it boots.
   */
  antiRollback?: boolean;
  /**
   * Signed-app checks at boot (CONFIG_SECURE_SIGNED_ON_BOOT): the SBv2 digests (hex) of the
   * trusted keys, burnt into the eFuses of a new board; no app without a valid signature sector by
   * one of them boots.
   */
  secureBootKeyDigests?: string[];
  cloud: DeviceCloud;
  agent?: Partial<AgentConfig>;
  /** How long a hung image runs before the simulated task watchdog resets the board. */
  watchdogMs?: number;
  onEvent: (event: DeviceEvent) => void;
  /** Resolves when the device should power off (SIGINT/SIGTERM, or a test). */
  powerOff: Promise<void>;
  /** Stop after this many boots (tests); unlimited by default. */
  maxBoots?: number;
}

function openFlash(options: DeviceOptions): FlashFile {
  if (fs.existsSync(options.flashPath)) return FlashFile.open(options.flashPath);
  if (!options.factoryImagePath) {
    throw new Error(`${options.flashPath} does not exist: give --factory IMAGE to provision it`);
  }
  const factoryImage = new Uint8Array(fs.readFileSync(options.factoryImagePath));
  // A new flash file is a new board: its chip's eFuses are blank, then the keys are burnt.
  const efuse = SimEfuses.blank(options.flashPath, (options.chip ?? ESP32).secureVersionBits);
  if (options.secureBootKeyDigests) efuse.burnKeyDigests(options.secureBootKeyDigests);
  return FlashFile.create(options.flashPath, {
    size: options.flashSize,
    factoryImage,
    chip: options.chip,
  });
}

/** The firmware's self-test, as the running image's simulator record says it behaves. */
function simulatedSelfTest(
  behaviour: SelfTestBehaviour,
  reset: (reason: string) => void,
  watchdogMs: number,
): SelfTest | undefined {
  switch (behaviour) {
    case "pass":
      return undefined;
    case "fail":
      return async (context) => {
        await context.cloudReachable;
        throw otaError("self-test-failed", "the image's own checks failed (simulated)");
      };
    case "crash":
      return () => {
        reset("crash: the image reset before it could confirm itself (simulated)");
        return new Promise<void>(() => {});
      };
    case "hang":
      return () => {
        setTimeout(() => reset("task watchdog: the image hung (simulated)"), watchdogMs);
        return new Promise<void>(() => {});
      };
  }
}

/** Node's codes for a peer certificate that does not verify against the trusted CAs. */
const CERTIFICATE_ERRORS = [
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
];

/** A refused server certificate in words that name the likely causes; undefined for other errors. */
export function untrustedServer(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string" || !CERTIFICATE_ERRORS.includes(code)) return undefined;
  return (
    `the server's certificate is not trusted (${(error as Error).message}): ` +
    "a man in the middle, or a server whose CA was not given with --ca"
  );
}

/** The HTTP port, saying why a server's certificate was refused (the agent reports the message). */
function explainingHttp(client: HttpClient): HttpClient {
  return {
    get: (request) =>
      client.get(request).catch((error: unknown) => {
        const why = untrustedServer(error);
        throw why === undefined ? error : new Error(why);
      }),
  };
}

/** Runs boot after boot until powerOff resolves (or maxBoots is reached). */
export async function runDevice(options: DeviceOptions): Promise<void> {
  let poweredOff = false;
  void options.powerOff.then(() => (poweredOff = true));
  const http = explainingHttp(createNodeHttpClient({ ...options.cloud.tls }));
  for (
    let boots = 0;
    !poweredOff && (options.maxBoots === undefined || boots < options.maxBoots);
    boots++
  ) {
    const flash = openFlash(options);
    try {
      await runOneBoot(flash, options, http);
    } finally {
      flash.close();
    }
  }
}

async function runOneBoot(
  flash: FlashFile,
  options: DeviceOptions,
  http: HostPorts["http"],
): Promise<void> {
  const emit = options.onEvent;
  const chip = options.chip ?? ESP32;
  const efuse =
    options.antiRollback !== false || options.secureBootKeyDigests
      ? SimEfuses.open(options.flashPath, chip.secureVersionBits)
      : undefined;
  const antiRollback = options.antiRollback !== false ? efuse : undefined;
  const booted: BootResult = boot(flash, {
    chip,
    efuse: antiRollback,
    verifySignature: options.secureBootKeyDigests
      ? (image, signedLength) => verifySecureBootV2(image, signedLength, efuse!.keyDigests())
      : undefined,
  });
  const image = flash.read(booted.offset, booted.image.length);
  const behaviour = readSimBehaviour(image);
  emit({
    event: "boot",
    version: booted.image.version,
    slot: booted.slot,
    state: booted.state,
    project: booted.image.project,
    selfTest: behaviour,
    bootloader: booted.log,
  });

  let resetReason: string | undefined;
  let wake!: () => void;
  const resetRequested = new Promise<void>((resolve) => (wake = resolve));
  const reset = (reason: string) => {
    if (resetReason === undefined) resetReason = reason;
    wake();
  };
  const logger: Logger = {
    log: (level, message, fields) => emit({ event: "log", level, message, fields }),
  };
  const ports: HostPorts = {
    slot: new FlashSlotWriter(flash, booted, { chip }),
    boot: new FlashBootControl(flash, booted, {
      chip,
      efuse: antiRollback,
      reboot: () => reset("reboot requested by the firmware"),
    }),
    http,
    store: new FlashKeyValueStore(flash),
    clock: nodeClock,
    logger,
    nativeDigests: nodeDigests,
    nativeSignatures: nodeSignatures,
  };
  const cloud = options.cloud;
  // Each failed connection attempt is told once in a row, not every second of a reconnect loop.
  let lastFailure = "";
  const mqtt = connectMqtt({
    url: cloud.brokerUrl,
    ...cloud.identity,
    ...cloud.tls,
    onError: (error) => {
      const why = untrustedServer(error);
      const message = `MQTT connection to ${cloud.brokerUrl} failed: ${why ?? error.message}`;
      if (message === lastFailure) return;
      lastFailure = message;
      logger.log(why === undefined ? "warn" : "error", message);
    },
  });
  mqtt.onConnect(() => (lastFailure = ""));
  const backend = cloud.createBackend({
    mqtt,
    clock: nodeClock,
    logger,
    running: { version: booted.image.version, project: booted.image.project },
  });
  const agent = new Agent({
    ports,
    backend,
    // The firmware knows its chip: an image for another is refused as its header arrives.
    config: { chipId: chip.id, ...options.agent },
    selfTest: simulatedSelfTest(behaviour, reset, options.watchdogMs ?? 5000),
    onNotice: emit,
  });
  try {
    await agent.start();
    await Promise.race([resetRequested, options.powerOff]);
  } finally {
    await agent.stop().catch(() => {});
    await mqtt.close();
  }
  if (resetReason !== undefined) emit({ event: "reboot", reason: resetReason });
}
