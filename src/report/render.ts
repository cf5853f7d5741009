import { TollgateError } from "../errors.js";
import { maskValue } from "../observability/mask.js";
import { renderCsv } from "./render-csv.js";
import { renderHtml } from "./render-html.js";
import { REPORT_FORMATS, type ComplianceReport, type ReportFormat } from "./types.js";

export const CONTENT_TYPES: Record<ReportFormat, string> = {
  html: "text/html; charset=utf-8",
  json: "application/json; charset=utf-8",
  csv: "text/csv; charset=utf-8",
};

export function parseFormat(value: string | undefined): ReportFormat {
  const format = value ?? "html";
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new TollgateError("config_error", `invalid format ${JSON.stringify(format)}: expected html, json or csv`);
  return format as ReportFormat;
}

/** Renders the report after the masking step, so no format can carry a credential or secret text. */
export function renderReport(report: ComplianceReport, format: ReportFormat): string {
  const masked = maskValue(report) as ComplianceReport;
  if (format === "html") return renderHtml(masked);
  if (format === "csv") return renderCsv(masked);
  return `${JSON.stringify(masked, null, 2)}\n`;
}
