// The AWS backend's pure parts: Jobs topics (with the thing-name check) and job documents in the
// four firmware forms, with the reasons a malformed one is refused.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { documentFormat, parseJobDocument } from "../../../src/backends/aws/job-document";
import { MAX_DETAIL_LENGTH, detailValue, reportDetails } from "../../../src/backends/aws/index";
import { jobsTopic, parseJobsTopic } from "../../../src/backends/aws/topics";
import type { Offer } from "../../../src/core/offer";

const MD5 = "0123456789abcdef0123456789ABCDEF";
const SHA256 = "ab".repeat(32);

describe("Jobs topics", () => {
  it("builds the topics of every API and reads them back", () => {
    const cases: [Parameters<typeof jobsTopic>, string][] = [
      [["dev-1", "notify-next"], "$aws/things/dev-1/jobs/notify-next"],
      [["dev-1", "get", undefined, "accepted"], "$aws/things/dev-1/jobs/get/accepted"],
      [["dev-1", "start-next"], "$aws/things/dev-1/jobs/start-next"],
      [["dev-1", "describe", "$next", "rejected"], "$aws/things/dev-1/jobs/$next/get/rejected"],
      [["dev-1", "update", "job_7", "accepted"], "$aws/things/dev-1/jobs/job_7/update/accepted"],
      [["dev-1", "update", "get"], "$aws/things/dev-1/jobs/get/update"],
      [["dev-1", "describe", "get"], "$aws/things/dev-1/jobs/get/get"],
    ];
    for (const [args, topic] of cases) {
      assert.equal(jobsTopic(...args), topic);
      const parsed = parseJobsTopic(topic, "dev-1");
      assert.deepEqual(
        [parsed?.thing, parsed?.api, parsed?.jobId, parsed?.reply],
        [args[0], args[1], args[2], args[3]],
        topic,
      );
    }
  });

  it("checks the thing name and refuses what is not a Jobs API", () => {
    assert.equal(parseJobsTopic("$aws/things/dev-2/jobs/notify-next", "dev-1"), undefined);
    assert.equal(parseJobsTopic("$aws/things/dev-1/jobs/notify-next", "dev-1")?.api, "notify-next");
    for (const topic of [
      "$aws/things/dev-1/shadow/update",
      "$aws/things/dev-1/jobs/notify-next/accepted",
      "$aws/things/dev-1/jobs/$next/update",
      "$aws/things/dev-1/jobs/bad.id/update",
      "$aws/things/dev-1/jobs/a/b/c",
      "$aws/things/dev 1/jobs/get",
      "things/dev-1/jobs/get",
    ])
      assert.equal(parseJobsTopic(topic), undefined, topic);
  });
});

function offerOf(document: unknown, jobId = "job-1"): Offer {
  const parsed = parseJobDocument(jobId, document);
  assert.equal(parsed.kind, "offer", JSON.stringify(parsed));
  return (parsed as { offer: Offer }).offer;
}

function refusal(document: unknown, jobId = "job-1") {
  const parsed = parseJobDocument(jobId, document);
  assert.equal(parsed.kind, "refused", JSON.stringify(parsed));
  return parsed as { code: string; message: string };
}

describe("job documents", () => {
  it("carries the plain document's secure_version into the offer, and refuses one that is not a uint32", () => {
    const doc = {
      url: "https://h.example/a.bin",
      size: 10,
      version: "2.0.0",
      sha256: "ab".repeat(32),
    };
    assert.equal(offerOf(doc).secureVersion, undefined);
    assert.equal(offerOf({ ...doc, secure_version: 3 }).secureVersion, 3);
    for (const bad of [-1, 1.5, 2 ** 32, "3"]) {
      const parsed = parseJobDocument("job-1", { ...doc, secure_version: bad });
      assert.equal(parsed.kind, "refused", String(bad));
      if (parsed.kind === "refused")
        assert.match(parsed.message, /"secure_version" must be a whole number/);
    }
  });

  it("reads the nRF aws_fota form into a URL from protocol, host and path", () => {
    const offer = offerOf({
      operation: "app_fw_update",
      fwversion: "v1.0.2",
      size: 181124,
      location: {
        protocol: "http:",
        host: "bucket.example.com",
        path: "fw/app.bin?X-Amz-Expires=60",
      },
    });
    assert.equal(offer.version, "v1.0.2");
    assert.equal(offer.size, 181124);
    assert.deepEqual(offer.source, {
      kind: "http",
      url: "http://bucket.example.com/fw/app.bin?X-Amz-Expires=60",
    });
    assert.deepEqual(offer.hashes, {});
    assert.equal(offer.context.format, "nrf");
    const tls = offerOf({
      operation: "app_fw_update",
      fwversion: "2",
      size: 1,
      location: { host: "h.example", path: "/a.bin" },
    });
    assert.equal(tls.source.kind === "http" && tls.source.url, "https://h.example/a.bin");
  });

  it("reads the Zerynth form with its MD5 and slot index", () => {
    const offer = offerOf({
      operation: "fota",
      bc_idx: 1,
      bc_crc: MD5,
      bc_size: 4096,
      bc_url: "https://s3.example.com/fw.bin?sig=1",
    });
    assert.deepEqual(offer.hashes, { md5: MD5.toLowerCase() });
    assert.equal(offer.size, 4096);
    assert.equal(offer.version, "");
    assert.equal(offer.context.bcIdx, 1);
    assert.equal(documentFormat({ bc_url: "x" }), "zerynth");
  });

  it("reads afr_ota files[0] and keeps its signature and certificate", () => {
    const offer = offerOf({
      afr_ota: {
        protocols: ["MQTT", "HTTP"],
        streamname: "AFR_OTA-1",
        files: [
          {
            filepath: "/fw",
            filesize: 5000,
            fileid: 0,
            certfile: "signer.crt",
            update_data_url: "https://dummy-url.com/ota.bin",
            auth_scheme: "aws.s3.presigned",
            "sig-sha256-ecdsa": "MEQCIF2Q+/Bg==",
          },
        ],
      },
      version: "1.4.0",
    });
    assert.equal(offer.size, 5000);
    assert.equal(offer.version, "1.4.0");
    assert.deepEqual(offer.signature, {
      algorithm: "ecdsa-p256-sha256",
      value: "MEQCIF2Q+/Bg==",
      certificate: "signer.crt",
    });
    assert.equal(offer.context.authScheme, "aws.s3.presigned");
  });

  it("refuses an afr_ota job that only streams over MQTT, or is not firmware", () => {
    const file = { filesize: 10, fileid: 0, update_data_url: "https://x.example/f" };
    const mqttOnly = refusal({ afr_ota: { protocols: ["MQTT"], streamname: "s", files: [file] } });
    assert.equal(mqttOnly.code, "offer-unsupported");
    assert.match(mqttOnly.message, /MQTT streams/);
    const notFirmware = refusal({
      afr_ota: { protocols: ["HTTP"], files: [{ ...file, fileType: 7 }] },
    });
    assert.equal(notFirmware.code, "offer-unsupported");
  });

  it("reads the plain form with MD5 and/or SHA-256", () => {
    const offer = offerOf({
      url: "http://127.0.0.1:8080/a.bin",
      size: 10,
      version: "1.1.0",
      sha256: SHA256.toUpperCase(),
    });
    assert.deepEqual(offer.hashes, { sha256: SHA256 });
    assert.equal(offer.id, "job-1");
    assert.equal(offer.backend, "aws");
  });

  it("reads a plain document's delta, with or without the full image", () => {
    const delta = {
      url: "https://h.example/a.patch",
      size: 4252,
      sha256: SHA256,
      base_sha256: SHA256.toUpperCase(),
    };
    const both = offerOf({
      url: "https://h.example/a.bin",
      size: 10,
      version: "1.1.0",
      sha256: SHA256,
      delta,
    });
    assert.deepEqual(both.delta, {
      url: "https://h.example/a.patch",
      size: 4252,
      sha256: SHA256,
      baseSha256: SHA256,
      format: "esp_delta_ota",
    });
    assert.deepEqual(both.source, { kind: "http", url: "https://h.example/a.bin" });
    const alone = offerOf({
      size: 10,
      version: "1.1.0",
      sha256: SHA256,
      delta: { ...delta, format: "detools" },
    });
    assert.deepEqual(alone.source, { kind: "http", url: "" });
    assert.equal(alone.delta?.format, "detools");
    const cases: [unknown, RegExp][] = [
      [{ ...delta, base_sha256: undefined }, /"base_sha256" must be the 64-digit hex sha256/],
      [{ ...delta, format: "bsdiff" }, /"format" must be esp_delta_ota or detools/],
      [{ ...delta, url: "ftp://h.example/a.patch" }, /delta "url"/],
      [{ ...delta, size: -1 }, /delta "size"/],
      ["a.patch", /delta must be an object/],
    ];
    for (const [bad, message] of cases) {
      const refused = refusal({ size: 10, version: "1.1.0", sha256: SHA256, delta: bad });
      assert.equal(refused.code, "offer-malformed");
      assert.match(refused.message, message);
    }
  });

  it("gives every other document to the application", () => {
    for (const doc of [
      { operation: "reboot" },
      { operation: "fota-later", bc_url: "x" },
      { command: "rotate-logs" },
      "just text",
      null,
      [1, 2],
    ])
      assert.deepEqual(parseJobDocument("job-1", doc), { kind: "custom" });
  });

  it("refuses malformed firmware documents with the reason", () => {
    const plain = { url: "https://h.example/a.bin", size: 10, version: "1.0.0", md5: MD5 };
    const cases: [unknown, RegExp][] = [
      [
        { ...plain, size: undefined },
        /"size" must be a whole number of bytes from 1 to 4294967295, got nothing/,
      ],
      [
        { ...plain, size: "10" },
        /"size" must be a whole number of bytes from 1 to 4294967295, got "10"/,
      ],
      [{ ...plain, size: 0 }, /"size"/],
      [{ ...plain, size: 1.5 }, /"size"/],
      [{ ...plain, size: 2 ** 32 }, /"size"/],
      [{ ...plain, url: "ftp://h.example/a.bin" }, /not an http\(s\) URL/],
      [{ ...plain, url: "https://h.example/a b.bin" }, /spaces, control or non-ASCII characters/],
      [{ ...plain, url: "https://h.example/" + "a".repeat(1500) }, /at most 1500 allowed/],
      [{ ...plain, url: 7 }, /"url" must be a string, got 7/],
      [{ ...plain, version: "1".repeat(65) }, /"version" is 65 characters long/],
      [{ ...plain, version: "" }, /"version" is empty/],
      [{ ...plain, md5: "abc" }, /32-digit hex md5/],
      [{ ...plain, md5: undefined }, /needs "md5" or "sha256"/],
      [{ operation: "fota", bc_url: plain.url, bc_size: 10, bc_crc: MD5, bc_idx: -1 }, /bc_idx/],
      [{ operation: "fota", bc_url: plain.url, bc_size: 10 }, /"bc_crc"/],
      [{ operation: "app_fw_update", fwversion: "1", size: 1, location: "x" }, /"location"/],
      [
        {
          operation: "app_fw_update",
          fwversion: "1",
          size: 1,
          location: { protocol: "ftp:", host: "h", path: "p" },
        },
        /"location.protocol"/,
      ],
      [{ afr_ota: { protocols: "HTTP", files: [] } }, /"protocols" must be a list/],
      [{ afr_ota: { protocols: ["HTTP"], files: [] } }, /"files" must be a list/],
      [
        {
          afr_ota: {
            protocols: ["HTTP"],
            files: [{ filesize: 1, update_data_url: "https://h/x", "sig-sha256-ecdsa": "!!" }],
          },
        },
        /not base64/,
      ],
      [
        {
          afr_ota: {
            protocols: ["HTTP"],
            files: [{ filesize: 1, update_data_url: "${aws:iot:s3-presigned-url:https://h/x}" }],
          },
        },
        /not an http\(s\) URL/,
      ],
    ];
    for (const [doc, reason] of cases) {
      const refused = refusal(doc);
      assert.equal(refused.code, "offer-malformed", refused.message);
      assert.match(refused.message, reason);
    }
    assert.match(refusal(plain, "job/1").message, /job id/);
    assert.match(refusal(plain, "j".repeat(65)).message, /job id/);
  });
});

describe("statusDetails", () => {
  it("removes what the service refuses in a value, and cuts it at MAX_DETAIL_LENGTH", () => {
    assert.equal(detailValue("a\u0000b\nc\u200bd\ufeff"), "a b c d");
    assert.equal(detailValue("  \t "), "");
    assert.equal(detailValue("x\ud800y"), "x?y");
    assert.equal(detailValue("\udc00z"), "?z");
    assert.equal(detailValue("é".repeat(2000)), "é".repeat(MAX_DETAIL_LENGTH - 3) + "...");
    // Never half of a surrogate pair before the ellipsis.
    const pair = detailValue("a".repeat(MAX_DETAIL_LENGTH - 4) + "\ud83d\ude00".repeat(3));
    assert.equal(pair, "a".repeat(MAX_DETAIL_LENGTH - 4) + "...");
  });

  it("describes each report in at most 10 valid pairs", () => {
    const offer = offerOf({ url: "https://h.example/a", size: 9, version: "2.0.0", md5: MD5 });
    const details = reportDetails({
      offer,
      status: "failed",
      previousVersion: "1.0.0",
      failure: { code: "rolled-back", message: "bad\u0007" + "x".repeat(3000) },
    });
    assert.equal(details.state, "failed");
    assert.equal(details.updatedBy, "1.0.0");
    assert.equal(details.version, "2.0.0");
    assert.equal(details.reason.length, MAX_DETAIL_LENGTH);
    assert.match(details.reason, /^rolled-back: bad x+\.\.\.$/);
    assert.deepEqual(
      reportDetails({ offer, status: "downloading", progress: { bytes: 5, total: 9 } }),
      { state: "downloading", version: "2.0.0", progress: "5/9" },
    );
    assert.equal(reportDetails({ offer, status: "updating" }).self_test, "ready");
    assert.equal(reportDetails({ offer, status: "testing" }).self_test, "active");
  });
});
