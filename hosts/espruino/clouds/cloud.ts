// What main.ts needs of a cloud: the MQTT identity and the backend, made from the settings. Each
// cloud is its own module so that a build for one cloud bundles only its code (tools/espruino/build.ts
// --cloud).
import type { Backend } from "../../../src/core/backend";
import type { Clock, Logger, MqttClient, RunningImage } from "../../../src/core/ports";
import { SETTINGS_FILE } from "../layout";
import type { Settings } from "../settings";

export interface CloudIdentity {
  clientId: string;
  username?: string;
  password?: string;
}

export interface BackendDeps {
  mqtt: MqttClient;
  clock: Clock;
  logger: Logger;
}

export interface Cloud {
  identity: () => CloudIdentity;
  backend: (deps: BackendDeps) => Backend;
}

export type CloudOf = (settings: Settings, running: RunningImage, clock: Clock) => Cloud;

export function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new Error(`${SETTINGS_FILE}: "${name}" is required`);
  return value;
}
