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
  /** First wait before connecting again after a failure (1000 ms); it doubles up to reconnectMaxMs. */
  reconnectMs?: number;
  /** Longest wait between two connection attempts (60000 ms). */
  reconnectMaxMs?: number;
  /** Clean session: true (default) as the seeds' devices connect. */
  clean?: boolean;
  /**
   * Each failed connection attempt (refused, TLS handshake...), and the wait before the next one:
   * the port keeps trying, as a board does, whatever the broker answered.
   */
  onError?: (error: Error, retryInMs: number) => void;
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
    // A refused CONNACK (bad credentials, not authorized) ends mqtt.js's reconnection by default,
    // and with it the process; a board keeps asking, since credentials get fixed on the server.
    reconnectOnConnackError: true,
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
  const firstWait = options.reconnectMs ?? 1000;
  const longestWait = Math.max(firstWait, options.reconnectMaxMs ?? 60_000);
  let failures = 0;
  client.on("connect", (connack) => {
    failures = 0;
    client.options.reconnectPeriod = firstWait;
    for (const handler of connectHandlers) handler(connack.sessionPresent);
  });
  client.on("close", () => {
    for (const handler of disconnectHandlers) handler("connection closed");
  });
  // Errors also surface through close/reconnect; without a listener mqtt.js would throw. Each
  // failure in a row doubles the wait before the next attempt (with jitter, so that a fleet
  // refused together does not come back together).
  client.on("error", (error) => {
    const ceiling = Math.min(longestWait, firstWait * Math.pow(2, Math.min(failures++, 20)));
    const wait = Math.max(firstWait, Math.floor(ceiling * (0.5 + Math.random() / 2)));
    client.options.reconnectPeriod = wait;
    options.onError?.(error, wait);
  });

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
