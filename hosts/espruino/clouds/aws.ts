import { createAwsBackend, mqttIdentity } from "../../../src/backends/aws/index";
import { required, type CloudOf } from "./cloud";

export const awsCloud: CloudOf = (settings) => {
  const config = { thingName: required(settings.thing, "thing") };
  return {
    identity: () => mqttIdentity(config),
    backend: (deps) => createAwsBackend(config, deps),
  };
};
