import { isObject, jsonType, type JsonObject } from "../json.js";
import type { PromptSink } from "./sink.js";

/** Marks tool use and estimates tool definitions; `keys` are the body fields that hold them. */
export function readTools(body: JsonObject, sink: PromptSink, keys: readonly string[] = ["tools"]): void {
  for (const key of keys) {
    const tools = body[key];
    if (tools === undefined || tools === null) continue;
    if (!Array.isArray(tools)) {
      sink.issue(`${key} must be an array, got ${jsonType(tools)}`);
      continue;
    }
    if (tools.length > 0) sink.tools();
    sink.json(tools);
  }
}

/** Reads a string field as prompt text; records an issue when it has another type. */
export function readTextField(holder: JsonObject, key: string, where: string, sink: PromptSink): void {
  const value = holder[key];
  if (value === undefined || value === null) return;
  if (typeof value === "string") sink.text(value);
  else sink.issue(`${where}.${key} must be a string, got ${jsonType(value)}`);
}

/** Tool-call arguments come as a JSON string (OpenAI) or an object (Anthropic, Gemini). */
export function readArguments(value: unknown, sink: PromptSink): void {
  if (typeof value === "string") sink.structuralText(value);
  else if (isObject(value) || Array.isArray(value)) sink.json(value);
}
