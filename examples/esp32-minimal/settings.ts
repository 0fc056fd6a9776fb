// This device's configuration. checkConfig() in main.ts fills in the defaults and stops the boot
// with a message naming any bad field, so edit freely (see docs/CONFIGURATION.md for every field).
import type { OtaflowConfigInput } from "../../src/index";

export const settings: OtaflowConfigInput = {
  device: { chipId: 0 },
  backend: { aws: { thingName: "example-device-1" } },
  connection: {
    broker: "mqtts://a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
    // Resource names of DER files the app carries (see hosts/esp32/README.md).
    ca: "AmazonRootCA1.der",
    cert: "device.der",
    key: "device.key.der",
  },
  policy: { selfTestTimeoutMs: 90_000, journalIntervalBytes: 128 * 1024 },
  // The public point of the release signing key (`otaflow keygen` prints it): only images it
  // signed are installed. This one is an example: put your own.
  security: {
    trustedKeys: [
      "0463456dbb8607ffb964bcd8b55384a14301bdef1bb3791af5a5d2b480ec2010afea1561c08ebbc644faa95a0073971839245d7d948b7f5b3d50605dee087bfbca",
    ],
  },
};
