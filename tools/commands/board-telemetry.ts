// `otaflow device --admin URL`: the simulated board tells the local cloud's dashboard what only a
// board knows (its slots, its connection), beside the cloud's own protocol. A heartbeat keeps it
// shown online; a cloud that does not answer costs the board nothing.
import type { DeviceEvent } from "../../hosts/node/device";
import type { BoardTelemetry } from "../clouds/fleet";
import type { LocalTarget } from "../clouds/local";

const HEARTBEAT_MS = 5000;

export function boardTelemetry(
  adminUrl: string,
  id: string,
  target: LocalTarget,
): { onEvent: (event: DeviceEvent) => void; stop: () => Promise<void> } {
  const state: BoardTelemetry = { id, target, online: false };
  let sending: Promise<void> = Promise.resolve();
  const send = () => {
    const body = JSON.stringify(state);
    // In order, one at a time: a later state never overtakes an earlier one.
    sending = sending.then(() =>
      fetch(`${adminUrl}/api/boards`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(2000),
      }).then(
        (response) => void response.body?.cancel(),
        () => undefined,
      ),
    );
  };
  const heartbeat = setInterval(send, HEARTBEAT_MS);
  return {
    onEvent(event) {
      if (event.event === "boot") state.version = event.version;
      else if (event.event === "slots") state.slots = event.slots;
      else if (event.event === "connected") state.online = true;
      else if (event.event === "disconnected") state.online = false;
      else return;
      send();
    },
    async stop() {
      clearInterval(heartbeat);
      state.online = false;
      send();
      await sending;
    },
  };
}
