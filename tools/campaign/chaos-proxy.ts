// A fault-injecting TCP proxy: each connection it accepts is forwarded to the target, and a seeded
// plan decides what goes wrong with it: dropped at connect, reset or closed in the middle of the
// server's bytes, stalled, truncated, or trickled a few bytes at a time. `outage` models a broker
// restart as the device sees it: every connection drops and new ones are refused for a while.
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export type ConnectionFault =
  | { kind: "none" }
  /** Closed as soon as it is accepted. */
  | { kind: "drop" }
  /** RST after `bytes` of the server's data. */
  | { kind: "reset"; bytes: number }
  /** Clean close (FIN) after `bytes` of the server's data. */
  | { kind: "truncate"; bytes: number }
  /** After `bytes` of the server's data, nothing more for `ms`, then the flow resumes. */
  | { kind: "stall"; bytes: number; ms: number }
  /** The server's data in pieces of `piece` bytes every `everyMs`. */
  | { kind: "trickle"; piece: number; everyMs: number };

export interface ChaosProxy {
  port: number;
  url(scheme: string): string;
  /** Faults dealt so far, by kind. */
  dealt: Record<string, number>;
  /** Drops every connection and refuses new ones for `ms`. */
  outage(ms: number): void;
  close(): Promise<void>;
}

export async function startChaosProxy(
  target: { host: string; port: number },
  plan: () => ConnectionFault,
): Promise<ChaosProxy> {
  const sockets = new Set<net.Socket>();
  const dealt: Record<string, number> = {};
  let refuseUntil = 0;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (Date.now() < refuseUntil) return void client.destroy();
    const fault = plan();
    dealt[fault.kind] = (dealt[fault.kind] ?? 0) + 1;
    if (fault.kind === "drop") return void client.destroy();
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.pipe(upstream);
    forward(upstream, client, fault);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    dealt,
    outage(ms) {
      refuseUntil = Date.now() + ms;
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Server-to-client bytes, with the connection's fault applied. */
function forward(from: net.Socket, to: net.Socket, fault: ConnectionFault): void {
  let sent = 0;
  let limit = "bytes" in fault ? fault.bytes : Infinity;
  let ended = false;
  let stalled = false;
  const queue: Buffer[] = [];
  const trickle = fault.kind === "trickle";
  let timer: NodeJS.Timeout | undefined;
  to.on("close", () => clearInterval(timer));
  if (trickle) {
    timer = setInterval(() => {
      const head = queue[0];
      if (!head) return;
      const piece = head.subarray(0, fault.piece);
      if (piece.length === head.length) queue.shift();
      else queue[0] = head.subarray(fault.piece);
      to.write(piece);
    }, fault.everyMs);
  }
  from.on("data", (data: Buffer) => {
    if (ended) return;
    if (trickle) return void queue.push(data);
    if (stalled) return void queue.push(data);
    if (sent + data.length <= limit) {
      sent += data.length;
      return void to.write(data);
    }
    const head = data.subarray(0, limit - sent);
    sent = limit;
    to.write(head);
    const rest = data.subarray(head.length);
    if (fault.kind === "reset") {
      ended = true;
      to.resetAndDestroy();
    } else if (fault.kind === "truncate") {
      ended = true;
      to.end();
    } else if (fault.kind === "stall") {
      stalled = true;
      queue.push(rest);
      setTimeout(() => {
        stalled = false;
        limit = Infinity;
        for (const chunk of queue.splice(0)) to.write(chunk);
      }, fault.ms);
    }
  });
}
