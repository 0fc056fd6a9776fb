// The MQTT CONNECT fields of a Tencent IoT Hub device, as the SDKs build them
// (qcloud-iot-sdk-embedded-c: qcloud_iot_device.c iot_device_info_set, mqtt_client_connect.c
// _serialize_connect_packet, utils_hmac.c) and as Tencent's "MQTT access over TCP" guide states:
//
//   client id  <productId><deviceName>
//   user name  <client id>;<sdkappid>;<connid>;<expiry>      connid: 5 random [a-zA-Z0-9]
//   password   <lower-case hex HMAC of the user name, keyed by the base64-decoded secret>;hmacsha256
//              (or ;hmacsha1, the only form the C SDKs write; the platform takes both)
//
// The C SDKs sign with expiry LONG_MAX unless the device knows the time (MAX_ACCESS_EXPIRE_TIMEOUT
// is 0 by default); a certificate device sends the same user name and no password.

import { otaError } from "../../core/errors";
import { base64Decode, toHex, utf8Encode } from "../../core/util/bytes";
import { hmac } from "./hmac";

export interface TencentIdentityConfig {
  productId: string;
  deviceName: string;
  /**
   * The device secret (base64, as the console shows it) of a key-authenticated device. Absent for
   * a certificate device: the host then presents the device certificate and key in TLS.
   */
  deviceSecret?: string;
  /** "hmacsha256" (the default) or "hmacsha1". */
  signMethod?: "hmacsha256" | "hmacsha1";
  /** The user name's sdkappid field: 12010126 by default, the value Tencent's guide gives. */
  sdkAppId?: string;
  /** How long a signature made with a known time stays valid: 3600 s by default. */
  signatureLifetimeSeconds?: number;
}

export interface MqttIdentity {
  clientId: string;
  username: string;
  /** Absent for certificate authentication. */
  password?: string;
}

/** LONG_MAX of a 32-bit device: the C SDKs' expiry when the device does not know the time. */
export const NO_EXPIRY = 2147483647;

const CONN_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/**
 * The client id, user name and password to connect with. `nowMs` is the wall-clock time (ms since
 * 1970) when the device knows it: the signature then expires after `signatureLifetimeSeconds`, so
 * the host must call this again before each (re)connection. Without it the signature never
 * expires, as the C SDKs sign by default.
 */
export function mqttIdentity(
  config: TencentIdentityConfig,
  nowMs?: number,
  random: () => number = Math.random,
): MqttIdentity {
  const clientId = config.productId + config.deviceName;
  let connId = "";
  for (let i = 0; i < 5; i++) connId += CONN_ID_CHARS.charAt(Math.floor(random() * 62));
  const lifetime = config.signatureLifetimeSeconds || 3600;
  const expiry = nowMs === undefined ? NO_EXPIRY : Math.floor(nowMs / 1000) + lifetime;
  const username = clientId + ";" + (config.sdkAppId || "12010126") + ";" + connId + ";" + expiry;
  if (config.deviceSecret === undefined) return { clientId, username };
  const key = base64Decode(config.deviceSecret);
  if (!key || key.length === 0)
    throw otaError("internal", "the Tencent device secret is not base64");
  const method = config.signMethod || "hmacsha256";
  const signature = hmac(method === "hmacsha1" ? "sha1" : "sha256", key, utf8Encode(username));
  return { clientId, username, password: toHex(signature) + ";" + method };
}
