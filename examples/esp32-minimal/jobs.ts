// AWS IoT jobs that are not firmware updates. Without a handler the backend rejects them, since a
// job left pending would hide every job queued after it.
import type { AwsJob, AwsJobResult, KeyValueStore, Logger } from "../../src/index";

interface SetJob {
  operation: "set";
  key: string;
  value: string;
}

function isSetJob(document: unknown): document is SetJob {
  const job = document as SetJob;
  return (
    typeof job === "object" &&
    job !== null &&
    job.operation === "set" &&
    typeof job.key === "string" &&
    typeof job.value === "string"
  );
}

/** Handles {"operation":"ping"} and {"operation":"set","key":K,"value":V}; rejects the rest. */
export function customJobs(store: KeyValueStore, logger: Logger) {
  return async (job: AwsJob): Promise<AwsJobResult> => {
    const document = job.document as { operation?: unknown } | null;
    const operation = document && typeof document === "object" ? document.operation : undefined;
    logger.log("info", `job ${job.jobId}: ${String(operation)}`);
    if (operation === "ping") return { status: "succeeded", statusDetails: { pong: "1" } };
    if (isSetJob(document)) {
      // NVS keys are at most 15 characters, four of them the prefix.
      if (document.key.length > 11)
        return { status: "failed", statusDetails: { reason: "keys are at most 11 characters" } };
      await job.progress({ step: "writing" });
      await store.set("app." + document.key, document.value);
      return "succeeded";
    }
    return {
      status: "rejected",
      statusDetails: { reason: `unknown operation ${String(operation)}` },
    };
  };
}
