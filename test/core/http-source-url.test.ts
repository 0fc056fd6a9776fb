import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveUrl } from "../../src/core/download/url";

describe("resolveUrl (redirect Locations)", () => {
  it("resolves RFC 3986's normal and abnormal examples", () => {
    const base = "http://a/b/c/d;p?q";
    // RFC 3986 section 5.4, without the fragment cases (HTTP requests carry no fragment).
    const examples: [string, string][] = [
      ["g:h", "g:h"],
      ["g", "http://a/b/c/g"],
      ["./g", "http://a/b/c/g"],
      ["g/", "http://a/b/c/g/"],
      ["/g", "http://a/g"],
      ["//g", "http://g"],
      ["?y", "http://a/b/c/d;p?y"],
      ["g?y", "http://a/b/c/g?y"],
      [";x", "http://a/b/c/;x"],
      ["g;x", "http://a/b/c/g;x"],
      ["", "http://a/b/c/d;p?q"],
      [".", "http://a/b/c/"],
      ["./", "http://a/b/c/"],
      ["..", "http://a/b/"],
      ["../", "http://a/b/"],
      ["../g", "http://a/b/g"],
      ["../..", "http://a/"],
      ["../../", "http://a/"],
      ["../../g", "http://a/g"],
      ["../../../g", "http://a/g"],
      ["../../../../g", "http://a/g"],
      ["/./g", "http://a/g"],
      ["/../g", "http://a/g"],
      ["g.", "http://a/b/c/g."],
      [".g", "http://a/b/c/.g"],
      ["g..", "http://a/b/c/g.."],
      ["..g", "http://a/b/c/..g"],
      ["./../g", "http://a/b/g"],
      ["./g/.", "http://a/b/c/g/"],
      ["g/./h", "http://a/b/c/g/h"],
      ["g/../h", "http://a/b/c/h"],
      ["g;x=1/./y", "http://a/b/c/g;x=1/y"],
      ["g;x=1/../y", "http://a/b/c/y"],
      ["g?y/./x", "http://a/b/c/g?y/./x"],
      ["g?y/../x", "http://a/b/c/g?y/../x"],
    ];
    for (const [reference, expected] of examples)
      assert.equal(resolveUrl(base, reference), expected, reference);
  });

  it("handles the Locations servers and CDNs send", () => {
    assert.equal(resolveUrl("http://h:8080", "fw.bin"), "http://h:8080/fw.bin");
    assert.equal(
      resolveUrl("https://cdn.example/v1/fw.bin?sig=1", "https://s3.example/b/fw.bin?X-Amz=2"),
      "https://s3.example/b/fw.bin?X-Amz=2",
    );
    assert.equal(
      resolveUrl("http://h/a/fw.bin?token=1", "  other.bin?hop=1 "),
      "http://h/a/other.bin?hop=1",
    );
    assert.equal(resolveUrl("http://[::1]:81/x/y", "/z"), "http://[::1]:81/z");
  });
});
