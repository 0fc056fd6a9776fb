import { test } from "node:test";
import assert from "node:assert/strict";
import { StateMachine, TRANSITIONS, type AgentState } from "../../src/core/agent/machine";

test("the transition table is a function: one target per state and event", () => {
  const seen = new Set<string>();
  for (const t of TRANSITIONS) {
    const key = `${t.from}/${t.event}`;
    assert.ok(!seen.has(key), `${key} appears twice`);
    seen.add(key);
  }
});

test("every state is reachable from booting, and only rebooting and rolling-back are final", () => {
  const reachable = new Set<AgentState>(["booting"]);
  for (let grew = true; grew;) {
    grew = false;
    for (const t of TRANSITIONS) {
      if (reachable.has(t.from) && !reachable.has(t.to)) {
        reachable.add(t.to);
        grew = true;
      }
    }
  }
  const states = new Set(TRANSITIONS.flatMap((t) => [t.from, t.to]));
  assert.deepEqual(
    [...states].filter((s) => !reachable.has(s)),
    [],
  );
  const final = [...states].filter((s) => !TRANSITIONS.some((t) => t.from === s));
  assert.deepEqual(final.sort(), ["rebooting", "rolling-back"]);
});

test("an event the table does not allow in a state is refused", () => {
  const changes: string[] = [];
  const machine = new StateMachine((from, to, cause) => changes.push(`${from}>${to}:${cause}`));
  assert.throws(() => machine.fire("download-done"), /no transition from booting on download-done/);
  machine.fire("boot-normal");
  machine.fire("offer-accepted");
  assert.throws(() => machine.fire("self-test-passed"), /no transition from downloading/);
  machine.fire("download-done");
  assert.deepEqual(changes, [
    "booting>idle:boot-normal",
    "idle>downloading:offer-accepted",
    "downloading>verifying:download-done",
  ]);
});
