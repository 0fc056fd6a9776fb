// The fleet dashboard: every device with its version, slots, job in flight and reports, live from
// the admin API's event stream; a deploy form and a cancel button per job.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { DeviceView, FleetView, JobView, ReportView, SlotView } from "../../clouds/fleet";

const time = (at: number) => (at ? new Date(at).toISOString().slice(11, 19) : "");

async function post(url: string, body: unknown): Promise<{ error?: string; summary?: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { error?: string; summary?: string };
}

function Progress({ job }: { job: JobView }) {
  if (job.percent === undefined) return null;
  return (
    <span class="progress">
      <progress value={job.percent} max={100} />
      <small>
        {job.percent}%{job.total ? ` of ${job.total} bytes` : ""}
      </small>
    </span>
  );
}

function CancelButton({ job }: { job: JobView }) {
  const [message, setMessage] = useState("");
  if (!job.cancellable) return message ? <small>{message}</small> : null;
  const cancel = async () => {
    const result = await post(`/api/jobs/${encodeURIComponent(job.id)}/cancel`, {});
    setMessage(result.error ?? result.summary ?? "");
  };
  return (
    <button class="secondary outline cancel" data-job={job.id} onClick={cancel}>
      Cancel
    </button>
  );
}

function Slots({ slots }: { slots: SlotView[] }) {
  if (slots.length === 0) return <small>not reported</small>;
  return (
    <ul class="slots">
      {slots.map((s) => (
        <li key={s.slot} class={s.running ? "running" : ""}>
          {s.slot}: {s.version ?? "empty"} <mark class={`state ${s.state}`}>{s.state}</mark>
          {s.running ? " ▶" : ""}
        </li>
      ))}
    </ul>
  );
}

function History({ history }: { history: ReportView[] }) {
  if (history.length === 0) return <small>none</small>;
  const recent = history.slice(-6).reverse();
  return (
    <details>
      <summary>
        {history.length} report{history.length === 1 ? "" : "s"}, last {recent[0].status}
      </summary>
      <ol class="history">
        {recent.map((r, i) => (
          <li key={i}>
            {time(r.at)} {r.job} <b>{r.status}</b> {r.detail ?? ""}
          </li>
        ))}
      </ol>
    </details>
  );
}

function Device({ device }: { device: DeviceView }) {
  const job = device.job;
  return (
    <tr data-device={device.id}>
      <td>
        <span
          class={device.online ? "dot online" : "dot"}
          title={device.online ? "online" : "offline"}
        />
        {device.id}
      </td>
      <td class="version">{device.version ?? "?"}</td>
      <td>
        <Slots slots={device.slots} />
      </td>
      <td class="job">
        {job ? (
          <>
            <div>
              {job.version} <b class="status">{job.status}</b>
            </div>
            {!job.final && <Progress job={job} />}
            {job.detail && <small>{job.detail}</small>}
          </>
        ) : (
          <small>none</small>
        )}
      </td>
      <td>
        <History history={device.history} />
      </td>
    </tr>
  );
}

function Jobs({ jobs }: { jobs: JobView[] }) {
  if (jobs.length === 0) return <p>No job yet: deploy an image above.</p>;
  return (
    <table class="striped jobs">
      <thead>
        <tr>
          <th>Job</th>
          <th>Device</th>
          <th>Version</th>
          <th>Status</th>
          <th>Progress</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {jobs.map((job) => (
          <tr key={job.id} data-job={job.id}>
            <td>{job.id}</td>
            <td>{job.device}</td>
            <td>{job.version}</td>
            <td class="status">{job.status}</td>
            <td>{job.final ? job.succeeded ? "done" : "" : <Progress job={job} />}</td>
            <td>
              <CancelButton job={job} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DeployForm({ devices }: { devices: DeviceView[] }) {
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const file = (form.elements.namedItem("image") as HTMLInputElement).files?.[0];
    const target = (form.elements.namedItem("target") as HTMLSelectElement).value;
    if (!file) return setMessage("choose an image file (otaflow image --out FILE)");
    setBusy(true);
    const bytes = new Uint8Array(await file.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000)
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const chosen = devices.find((d) => d.id === target);
    const result = (await post("/api/deploy", {
      imageBase64: btoa(binary),
      targets: chosen ? [chosen.target] : undefined,
    })) as { error?: string; summaries?: string[] };
    setBusy(false);
    setMessage(
      result.error ?? `${result.summaries?.length ?? 0} deployed: ${result.summaries?.[0] ?? ""}`,
    );
  };
  return (
    <form class="deploy" onSubmit={submit}>
      <fieldset role="group">
        <input type="file" name="image" accept=".bin" aria-label="image" />
        <select name="target" aria-label="device">
          <option value="">every device ({devices.length})</option>
          {devices.map((d) => (
            <option key={d.id} value={d.id}>
              {d.id}
            </option>
          ))}
        </select>
        <button type="submit" aria-busy={busy}>
          Deploy
        </button>
      </fieldset>
      {message && <small class="message">{message}</small>}
    </form>
  );
}

function App() {
  const [fleet, setFleet] = useState<FleetView | undefined>();
  const [live, setLive] = useState(false);
  useEffect(() => {
    const events = new EventSource("/api/events");
    events.addEventListener("fleet", (event) => setFleet(JSON.parse((event as MessageEvent).data)));
    events.onopen = () => setLive(true);
    events.onerror = () => setLive(false);
    return () => events.close();
  }, []);
  if (!fleet) return <p aria-busy="true">Connecting to the cloud…</p>;
  const online = fleet.devices.filter((d) => d.online).length;
  const running = fleet.jobs.filter((j) => !j.final).length;
  return (
    <>
      <header>
        <h1>otaflow fleet · {fleet.backend}</h1>
        <p class="summary">
          <span class={live ? "dot online" : "dot"} /> {live ? "live" : "reconnecting"} ·{" "}
          <span class="devices-online">{online}</span> of {fleet.devices.length} devices online ·{" "}
          <span class="jobs-running">{running}</span> jobs in flight
        </p>
      </header>
      <section>
        <h2>Deploy</h2>
        <DeployForm devices={fleet.devices} />
      </section>
      <section>
        <h2>Devices</h2>
        <table class="striped devices">
          <thead>
            <tr>
              <th>Device</th>
              <th>Version</th>
              <th>Slots</th>
              <th>Job</th>
              <th>Reports</th>
            </tr>
          </thead>
          <tbody>
            {fleet.devices.map((device) => (
              <Device key={device.id} device={device} />
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Jobs</h2>
        <Jobs jobs={fleet.jobs} />
      </section>
    </>
  );
}

render(<App />, document.getElementById("app")!);
