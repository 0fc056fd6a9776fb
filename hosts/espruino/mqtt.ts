// The MqttClient port on Espruino, which has sockets but no MQTT client: the session and the
// packet codec of src/mqtt over a net (or tls) socket. Only the socket is here: Espruino's sockets
// speak binary strings, the codec Uint8Array.
import type { MqttClient } from "../../src/core/ports";
import { mqttSession, type MqttSessionOptions } from "../../src/mqtt/session";
import {
  streamConnector,
  type ByteStream,
  type ByteStreamEvents,
} from "../../src/mqtt/stream-link";
import { binaryOf, bytesOf } from "./binary";

export type { MqttIdentity } from "../../src/mqtt/link";

export interface MqttOptions extends MqttSessionOptions {
  port: number;
  /** require("net"), or require("tls") with `tls` options for mqtts. */
  net: EspruinoNet;
  tls?: Record<string, unknown>;
}

function openSocket(options: MqttOptions, events: ByteStreamEvents): ByteStream {
  const settings: Record<string, unknown> = { host: options.host, port: options.port };
  if (options.tls) {
    const names = Object.keys(options.tls);
    for (let i = 0; i < names.length; i++) settings[names[i]] = options.tls[names[i]];
  }
  let live = true;
  let ended = false;
  const finish = (reason: string) => {
    if (!live) return;
    live = false;
    events.closed(reason);
  };
  const socket = options.net.connect(settings, () => {
    if (live) events.opened();
  });
  socket.on("data", (data) => {
    if (live) events.data(bytesOf(data));
  });
  socket.on("error", (error) => finish(`socket error: ${(error && error.message) || "unknown"}`));
  socket.on("close", () => finish("connection closed"));
  return {
    write: (bytes) => {
      if (live) socket.write(binaryOf(bytes));
    },
    // After an error too: Espruino may not close the socket by itself.
    close: () => {
      live = false;
      if (ended) return;
      ended = true;
      socket.end();
    },
  };
}

export function connectMqtt(options: MqttOptions): MqttClient {
  const openStream = (events: ByteStreamEvents) => openSocket(options, events);
  return mqttSession(streamConnector(openStream, options.clock), options);
}
