// Resolving a redirect's Location against the request URL (RFC 3986 section 5.2): the core runs on
// engines without the URL class (Espruino, a bare Moddable app), so it does this itself.

import { indexOfAny, schemeLength } from "../util/chars";

interface Parts {
  /** "http:" */
  scheme: string;
  /** "//host:port", or "" */
  authority: string;
  path: string;
  /** "?a=b", or "" */
  query: string;
}

/** The index of the first of `chars` at or after `from`, or the text's length. */
function endAt(text: string, chars: string, from: number): number {
  const at = indexOfAny(text, chars, from);
  return at < 0 ? text.length : at;
}

// RFC 3986 appendix B: ^([a-zA-Z][a-zA-Z0-9+.-]*:)?(\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?
function split(url: string): Parts {
  const scheme = schemeLength(url);
  const authority =
    url.substring(scheme, scheme + 2) === "//" ? endAt(url, "/?#", scheme + 2) : scheme;
  const path = endAt(url, "?#", authority);
  const query = url.charAt(path) === "?" ? endAt(url, "#", path) : path;
  return {
    scheme: url.substring(0, scheme),
    authority: url.substring(scheme, authority),
    path: url.substring(authority, path),
    query: url.substring(path, query),
  };
}

function removeDotSegments(path: string): string {
  const input = path.split("/");
  const output: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const segment = input[i];
    if (segment === "..") {
      if (output.length > 1) output.pop();
      if (i === input.length - 1) output.push("");
    } else if (segment === ".") {
      if (i === input.length - 1) output.push("");
    } else output.push(segment);
  }
  return output.join("/");
}

/** The absolute URL that `reference` names when found in a response to `base`. */
export function resolveUrl(base: string, reference: string): string {
  const ref = split(reference.trim());
  if (schemeLength(reference.trim()) > 0)
    return ref.scheme + ref.authority + removeDotSegments(ref.path) + ref.query;
  const from = split(base);
  if (ref.authority) return from.scheme + ref.authority + removeDotSegments(ref.path) + ref.query;
  if (ref.path === "") return from.scheme + from.authority + from.path + (ref.query || from.query);
  if (ref.path.charAt(0) === "/")
    return from.scheme + from.authority + removeDotSegments(ref.path) + ref.query;
  const directory = from.path.substring(0, from.path.lastIndexOf("/") + 1) || "/";
  return from.scheme + from.authority + removeDotSegments(directory + ref.path) + ref.query;
}

/**
 * `url` as an error message may show it: a presigned query string is a credential, and reports end
 * up in consoles and logs, so it is cut to "?...".
 */
export function shownUrl(url: string): string {
  const at = indexOfAny(url, "?#");
  return at < 0 ? url : url.slice(0, at) + (url.charAt(at) === "?" ? "?..." : "");
}
