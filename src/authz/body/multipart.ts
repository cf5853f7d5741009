import { TollgateError } from "../../errors.js";

const MAX_PARTS = 1000;

function boundaryOf(contentType: string): string {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new TollgateError("request_parse_error", "multipart/form-data without a boundary");
  return boundary;
}

function formName(disposition: string): string | undefined {
  const m = /;\s*name=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition);
  return m?.[1] ?? m?.[2];
}

/**
 * multipart/form-data → {field: [values]}. File parts contribute their content as text,
 * as in opa-envoy-plugin. Parts without a name are skipped.
 */
export function parseMultipart(body: string, contentType: string): Record<string, string[]> {
  const delimiter = `--${boundaryOf(contentType)}`;
  const out: Record<string, string[]> = {};
  const sections = body.split(delimiter);
  if (sections.length < 2) throw new TollgateError("request_parse_error", "multipart body has no parts for its boundary");
  if (sections.length > MAX_PARTS) throw new TollgateError("request_parse_error", `multipart body has more than ${MAX_PARTS} parts`);
  let closed = false;
  for (const section of sections.slice(1)) {
    if (section.startsWith("--")) {
      closed = true;
      break;
    }
    const part = section.replace(/^\r?\n/, "");
    const split = part.search(/\r?\n\r?\n/);
    if (split === -1) throw new TollgateError("request_parse_error", "multipart part without a header/body separator");
    const head = part.slice(0, split);
    const content = part.slice(split).replace(/^\r?\n\r?\n/, "").replace(/\r?\n$/, "");
    const disposition = head.split(/\r?\n/).find((l) => /^content-disposition:/i.test(l));
    const name = disposition ? formName(disposition) : undefined;
    if (name === undefined) continue;
    (out[name] ??= []).push(content);
  }
  if (!closed) throw new TollgateError("request_parse_error", "multipart body is not terminated by its closing boundary");
  return out;
}
