// AWS IoT Jobs MQTT topics ($aws/things/<thing>/jobs/...), built and parsed in one place so that
// the backend and the local cloud agree on them. The service asks devices to check the thing name
// of every incoming topic before acting on it (jobs-mqtt-api.md), hence parseJobsTopic's `thing`.
// Names and ids are checked on the way out too: a job id such as "+", "#" or "x/../y" in a topic
// would subscribe to other jobs' replies or send a request somewhere else.

import { otaError } from "../../core/errors";
import { isAlphanumericText } from "../../core/util/chars";
import { quoted } from "../../core/util/text";

/** thingName: 1-128 of [a-zA-Z0-9:_-] (jobs.h JOBS_THINGNAME_MAX_LENGTH). */
export function isThingName(text: string): boolean {
  return isAlphanumericText(text, 1, 128, ":_-");
}

/** jobId: 1-64 of [a-zA-Z0-9_-] (jobs.h JOBS_JOBID_MAX_LENGTH). */
export function isJobId(text: string): boolean {
  return isAlphanumericText(text, 1, 64, "_-");
}

export type JobsApi =
  /** GetPendingJobExecutions */
  | "get"
  /** StartNextPendingJobExecution */
  | "start-next"
  /** DescribeJobExecution (jobId may be "$next") */
  | "describe"
  /** UpdateJobExecution */
  | "update"
  /** JobExecutionsChanged */
  | "notify"
  /** NextJobExecutionChanged */
  | "notify-next";

export interface JobsTopic {
  thing: string;
  api: JobsApi;
  /** With "describe" and "update". */
  jobId?: string;
  /** Absent on a request or a notification. */
  reply?: "accepted" | "rejected";
}

export function jobsPrefix(thing: string): string {
  return "$aws/things/" + thing + "/jobs/";
}

/** The topic of an API call, or of its reply. Throws for a name or an id it would not carry. */
export function jobsTopic(
  thing: string,
  api: JobsApi,
  jobId?: string,
  reply?: "accepted" | "rejected",
): string {
  if (!isThingName(thing))
    throw otaError(
      "internal",
      "AWS thing name " + quoted(thing) + " is not 1-128 of [a-zA-Z0-9:_-]",
    );
  if (
    (api === "describe" || api === "update") &&
    !(typeof jobId === "string" && (isJobId(jobId) || (api === "describe" && jobId === "$next")))
  )
    throw otaError("internal", "AWS job id " + quoted(jobId) + " is not 1-64 of [a-zA-Z0-9_-]");
  let topic = jobsPrefix(thing);
  if (api === "describe") topic += jobId + "/get";
  else if (api === "update") topic += jobId + "/update";
  else topic += api;
  return reply ? topic + "/" + reply : topic;
}

/**
 * Reads a Jobs topic. Undefined for anything else, and for a Jobs topic of another thing when
 * `thing` is given.
 */
export function parseJobsTopic(topic: string, thing?: string): JobsTopic | undefined {
  const parts = topic.split("/");
  if (parts.length < 4 || parts[0] !== "$aws" || parts[1] !== "things" || parts[3] !== "jobs")
    return undefined;
  const name = parts[2];
  if (!isThingName(name) || (thing !== undefined && name !== thing)) return undefined;
  const rest = parts.slice(4);
  let reply: "accepted" | "rejected" | undefined;
  const last = rest[rest.length - 1];
  // "<jobId>/get" and "get/accepted" both have two parts: the reply word tells them apart.
  if (rest.length >= 2 && (last === "accepted" || last === "rejected")) {
    reply = last;
    rest.pop();
  }
  if (rest.length === 1) {
    const api = rest[0];
    if (api === "get" || api === "start-next") return { thing: name, api, reply };
    if ((api === "notify" || api === "notify-next") && !reply) return { thing: name, api };
    return undefined;
  }
  if (rest.length === 2 && (rest[0] === "$next" || isJobId(rest[0]))) {
    if (rest[1] === "get") return { thing: name, api: "describe", jobId: rest[0], reply };
    if (rest[1] === "update" && rest[0] !== "$next")
      return { thing: name, api: "update", jobId: rest[0], reply };
  }
  return undefined;
}
