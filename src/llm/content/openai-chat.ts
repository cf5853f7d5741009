import { isObject, jsonType, type JsonObject } from "../json.js";
import type { ContentReader } from "../types.js";
import { eachCapped, type PromptSink } from "./sink.js";
import { readArguments, readTools } from "./tools.js";

const IMAGE_PART_TYPES = new Set(["image_url", "input_image", "image"]);

/** OpenAI-style content: a string, or parts with `text` (text, input_text, …) or images. */
export function readOpenAiContent(content: unknown, where: string, sink: PromptSink): void {
  if (content === undefined || content === null) return;
  if (typeof content === "string") {
    sink.text(content);
    return;
  }
  if (!Array.isArray(content)) {
    sink.issue(`${where} must be a string or an array, got ${jsonType(content)}`);
    return;
  }
  eachCapped(content, (part, i) => {
    if (typeof part === "string") {
      sink.text(part);
      return;
    }
    if (!isObject(part)) {
      sink.issue(`${where}[${i}] must be an object, got ${jsonType(part)}`);
      return;
    }
    if (typeof part.type === "string" && IMAGE_PART_TYPES.has(part.type)) sink.image();
    if (typeof part.text === "string") sink.text(part.text);
    if (typeof part.refusal === "string") sink.text(part.refusal);
  });
}

function readToolCalls(message: JsonObject, sink: PromptSink): void {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  const legacy = isObject(message.function_call) ? [{ function: message.function_call }] : [];
  for (const call of [...calls.slice(0, 256), ...legacy]) {
    if (!isObject(call) || !isObject(call.function)) continue;
    if (typeof call.function.name === "string") sink.structuralText(call.function.name);
    readArguments(call.function.arguments, sink);
  }
}

/** Chat Completions (OpenAI, Azure OpenAI, Mistral): `messages` with string or part content. */
export const readOpenAiChat: ContentReader = (body, sink) => {
  const messages = body.messages;
  if (Array.isArray(messages)) {
    sink.messageCount += messages.length;
    sink.framedUnits += messages.length;
    eachCapped(messages, (message, i) => {
      if (!isObject(message)) {
        sink.issue(`messages[${i}] must be an object, got ${jsonType(message)}`);
        return;
      }
      readOpenAiContent(message.content, `messages[${i}].content`, sink);
      if (typeof message.name === "string") sink.structuralText(message.name);
      readToolCalls(message, sink);
    });
  } else if (messages !== undefined) {
    sink.issue(`messages must be an array, got ${jsonType(messages)}`);
  }
  readTools(body, sink, ["tools", "functions"]);
};
