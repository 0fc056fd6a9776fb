// The MQTT port over the `mqtt` package. mqtt.js owns reconnection: it resubscribes after a
// reconnect and resends unacknowledged QoS 1 publishes from its outgoing store.
import mqtt from "mqtt";
import type { MqttClient, MqttMessage, QoS } from "../../src/core/ports";

export interface MqttConnectOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM text of the CA, client certificate and key, for mqtts:// */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  keepaliveSeconds?: number;
  reconnectMs?: number;
  /** Clean session: true (default) as the seeds' devices connect. */
  clean?: boolean;
  /** Each failed connection attempt (refused, TLS handshake...): mqtt.js retries on its own. */
  onError?: (error: Error) => void;
}

export function connectMqtt(options: MqttConnectOptions): MqttClient {
  const client = mqtt.connect(options.url, {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    keepalive: options.keepaliveSeconds ?? 30,
    reconnectPeriod: options.reconnectMs ?? 1000,
    connectTimeout: 10_000,
    clean: options.clean ?? true,
    protocolVersion: 4,
  });
  const messageHandlers: ((message: MqttMessage) => void)[] = [];
  const connectHandlers: ((sessionPresent: boolean) => void)[] = [];
  const disconnectHandlers: ((reason: string) => void)[] = [];
  client.on("message", (topic, payload) => {
    const message = { topic, payload: new Uint8Array(payload) };
    for (const handler of messageHandlers) handler(message);
  });
  client.on("connect", (connack) => {
    for (const handler of connectHandlers) handler(connack.sessionPresent);
  });
  client.on("close", () => {
    for (const handler of disconnectHandlers) handler("connection closed");
  });
  // Errors also surface through close/reconnect; without a listener mqtt.js would throw.
  client.on("error", (error) => options.onError?.(error));

  return {
    get connected() {
      return client.connected;
    },
    publish(topic, payload, qos: QoS) {
      return new Promise((resolve, reject) => {
        const body = typeof payload === "string" ? payload : Buffer.from(payload);
        client.publish(topic, body, { qos }, (error) => (error ? reject(error) : resolve()));
      });
    },
    subscribe(filters, qos) {
      return new Promise((resolve, reject) => {
        client.subscribe(filters, { qos }, (error, _granted, packet) => {
          // mqtt.js fails the whole call when the broker refuses one filter; the port reports
          // each filter's SUBACK code instead (128 for a refusal), as its contract says.
          const codes = (packet as { granted?: number[] } | undefined)?.granted;
          if (codes && codes.length === filters.length)
            resolve(codes.map((c) => (c & 0x80 ? 128 : c)));
          else if (error) reject(error);
          else resolve(filters.map(() => qos));
        });
      });
    },
    unsubscribe(filters) {
      return new Promise((resolve, reject) => {
        client.unsubscribe(filters, (error) => (error ? reject(error) : resolve()));
      });
    },
    onMessage(handler) {
      messageHandlers.push(handler);
    },
    onConnect(handler) {
      connectHandlers.push(handler);
      if (client.connected) handler(false);
    },
    onDisconnect(handler) {
      disconnectHandlers.push(handler);
    },
    close() {
      return new Promise((resolve) => client.end(true, {}, () => resolve()));
    },
  };
}
