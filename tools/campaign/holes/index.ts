// The campaign part "holes": every hole an attack from outside found, replayed `runs` times (the
// slow ones, a quarter as often) against the code that closed it. Counts per scenario.
import { makePki } from "../../../test/support/certs";
import {
  duplicateOffer,
  staleNextAnswer,
  startEnv,
  startTencentTier,
  startTier,
  tencentEmptyVersion,
  thingsBoardRefusals,
} from "./backends";
import {
  HoleBench,
  cancelInRetryWait,
  credentialsInUrl,
  permanentFailure,
  sameVersionOtherImage,
  trickle,
} from "./board";
import { refusedCredentials } from "./refused";

export interface HoleFigure {
  item: number;
  scenario: string;
  runs: number;
  violations: string[];
  outcomes: Record<string, number>;
  ms: number;
}

type Scenario = {
  item: number;
  scenario: string;
  slow?: boolean;
  run: (i: number) => Promise<{ outcome: string; violations: string[] }>;
};

/** Outcomes name what happened, without the timings and counters that vary from run to run. */
function outcomeClass(outcome: string): string {
  return outcome.replace(/\d+ ms/g, "N ms").replace(/^\d+ refusals/, "refused");
}

export async function runHoles(runs: number, log: (line: string) => void): Promise<HoleFigure[]> {
  const bench = await HoleBench.start();
  const pki = makePki();
  const tlsBench = await HoleBench.start({ tls: { cert: pki.serverCert, key: pki.serverKey } });
  const aws = await startEnv("aedes");
  const tb = await startTier("aedes");
  const tencent = await startTencentTier("aedes");
  const scenarios: Scenario[] = [
    {
      item: 1,
      scenario: "AWS: stale $next/get 'no job' after notify-next",
      run: (i) => staleNextAnswer(aws, i),
    },
    {
      item: 2,
      scenario: "server trickling 10 bytes/s (rate 1000 B/s over 1 s, budget 4 s)",
      slow: true,
      run: () => trickle(bench),
    },
    {
      item: 3,
      scenario: "cancel during a 30 s Retry-After wait (503)",
      run: () => cancelInRetryWait(bench),
    },
    {
      item: 4,
      scenario: "untrusted TLS certificate",
      run: () => permanentFailure(tlsBench, "tls-untrusted"),
    },
    {
      item: 4,
      scenario: "5 MB response header",
      run: () => permanentFailure(bench, "huge-headers"),
    },
    {
      item: 5,
      scenario: "running version, another image: new job id",
      slow: true,
      run: (i) => sameVersionOtherImage(bench, false, 100 + i),
    },
    {
      item: 5,
      scenario: "running version, another image: same id (Tencent)",
      slow: true,
      run: (i) => sameVersionOtherImage(bench, true, 200 + i),
    },
    {
      item: 6,
      scenario: 'Tencent update_firmware with version ""',
      run: () => tencentEmptyVersion(tencent),
    },
    {
      item: 6,
      scenario: "ThingsBoard fw_version object; item 8: no fw_checksum",
      run: (i) => thingsBoardRefusals(tb, i),
    },
    {
      item: 7,
      scenario: "user:password and presigned query in the image URL, cut once",
      run: () => credentialsInUrl(bench),
    },
    {
      item: 9,
      scenario: "CLI device, token unknown to the broker, then registered",
      slow: true,
      run: () => refusedCredentials(),
    },
    {
      item: 10,
      scenario: "ThingsBoard assignment pushed and in the attributes response",
      run: (i) => duplicateOffer(tb, i),
    },
  ];
  const figures: HoleFigure[] = [];
  try {
    for (const s of scenarios) {
      const count = s.slow ? Math.max(1, Math.ceil(runs / 4)) : runs;
      const figure: HoleFigure = {
        item: s.item,
        scenario: s.scenario,
        runs: count,
        violations: [],
        outcomes: {},
        ms: 0,
      };
      const started = Date.now();
      for (let i = 0; i < count; i++) {
        const result = await s.run(i).catch((error: unknown) => ({
          outcome: "threw",
          violations: [`threw: ${String(error)}`],
        }));
        const key = outcomeClass(result.outcome);
        figure.outcomes[key] = (figure.outcomes[key] ?? 0) + 1;
        for (const v of result.violations) figure.violations.push(`run ${i}: ${v}`);
      }
      figure.ms = Date.now() - started;
      figures.push(figure);
      log(`holes ${s.item} ${s.scenario}: ${count} runs, ${figure.violations.length} violations`);
    }
  } finally {
    await bench.close();
    await tlsBench.close();
    await aws.close();
    await tb.close();
    await tencent.close();
  }
  return figures;
}
