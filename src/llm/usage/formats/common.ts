import { z } from "zod";
import type { UsageTally } from "../tally.js";
import type { DocumentField, ReadResult } from "./types.js";

/** A token count as providers send it. */
export const count = z.number().int().nonnegative();
export const optionalCount = count.nullish();
export const optionalText = z.string().nullish();

/** Streamed text that adds to the estimate (used when no usage arrives). */
export function addText(tally: UsageTally, ...texts: (string | null | undefined)[]): void {
  for (const t of texts) if (t) tally.text.add(t);
}

/** A document field whose value is text, or a structure (tool arguments) counted as its JSON. */
export function textField(path: string): DocumentField {
  return {
    path,
    read: (value, tally) => {
      if (typeof value === "string") tally.text.add(value);
      else if (value !== null && typeof value === "object") tally.text.add(JSON.stringify(value));
      return "read";
    },
  };
}

/** A document field read with `schema`; `apply` records what it says. */
export function schemaField<T>(path: string, schema: z.ZodType<T>, apply: (v: T, tally: UsageTally) => void): DocumentField {
  return {
    path,
    read: (value, tally): ReadResult => {
      const parsed = schema.safeParse(value);
      if (!parsed.success) return "malformed";
      apply(parsed.data, tally);
      return "read";
    },
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
