import { createThingsBoardBackend, mqttIdentity } from "../../../src/backends/thingsboard/index";
import { required, type CloudOf } from "./cloud";

export const thingsBoardCloud: CloudOf = (settings, running) => {
  const config = {
    accessToken: required(settings.token, "token"),
    title: settings.title || running.project,
    currentVersion: running.version,
  };
  return {
    identity: () => mqttIdentity(config),
    backend: (deps) => createThingsBoardBackend(config, deps),
  };
};
