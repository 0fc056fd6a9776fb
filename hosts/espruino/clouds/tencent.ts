import { createTencentBackend, mqttIdentity } from "../../../src/backends/tencent/index";
import { required, type CloudOf } from "./cloud";

export const tencentCloud: CloudOf = (settings, running, clock) => {
  const config = {
    productId: required(settings.product, "product"),
    deviceName: required(settings.device, "device"),
    deviceSecret: settings.secret,
    currentVersion: running.version,
  };
  return {
    // A new connection id (and signature) for every connection, as the C SDKs do.
    identity: () => mqttIdentity(config, undefined, () => clock.random()),
    backend: (deps) => createTencentBackend(config, deps),
  };
};
