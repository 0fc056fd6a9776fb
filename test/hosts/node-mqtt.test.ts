import test from "node:test";
import assert from "node:assert/strict";
import { startEmbeddedBroker } from "../../tools/broker/index";
import { startMosquitto, mosquittoSkip } from "../support/mosquitto";
import { makePki } from "../support/certs";
import { connectMqtt } from "../../hosts/node/mqtt";

for (const kind of ["aedes", "mosquitto"] as const) {
  test(
    `round trip through ${kind} with client certificates`,
    { skip: kind === "mosquitto" ? mosquittoSkip : undefined },
    async () => {
      const pki = makePki();
      const broker =
        kind === "aedes"
          ? await startEmbeddedBroker({
              tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
            })
          : await startMosquitto({ pki });
      const id = pki.client("dev-1");
      const a = connectMqtt({ url: broker.url, clientId: "a", ca: pki.ca, ...id });
      const got = new Promise<string>((resolve) =>
        a.onMessage((m) => resolve(new TextDecoder().decode(m.payload))),
      );
      await new Promise<void>((r) => a.onConnect(() => r()));
      assert.deepEqual(await a.subscribe(["x/y"], 1), [1]);
      await a.publish("x/y", "hello", 1);
      assert.equal(await got, "hello");
      await a.close();
      await broker.close();
    },
  );
}

test("a filter the broker refuses is reported as 128, the others as granted", async () => {
  const broker = await startEmbeddedBroker({
    authorizeSubscribe: (_client, sub, done) =>
      done(null, sub.topic === "forbidden/#" ? null : sub),
  });
  const a = connectMqtt({ url: broker.url, clientId: "b" });
  await new Promise<void>((r) => a.onConnect(() => r()));
  assert.deepEqual(await a.subscribe(["ok/1", "forbidden/#"], 1), [1, 128]);
  await a.close();
  await broker.close();
});
