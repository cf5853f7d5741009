import { isObject, jsonType, type JsonObject } from "../json.js";
import type { ContentReader } from "../types.js";
import { eachCapped, type PromptSink } from "./sink.js";
import { readArguments, readTextField, readTools } from "./tools.js";

/** Tool results and documents nest blocks; deeper nesting than this is not looked into. */
const MAX_NESTING = 4;

function readDocument(block: JsonObject, sink: PromptSink, where: string, depth: number): void {
  const source = block.source;
  if (!isObject(source)) return;
  if (source.type === "text" && typeof source.data === "string") sink.text(source.data);
  else if (source.type === "content") readBlocks(source.content, `${where}.source.content`, sink, depth + 1);
}

/** Anthropic content: a string or blocks (text, image, document, tool_use, tool_result, thinking). */
function readBlocks(content: unknown, where: string, sink: PromptSink, depth = 0): void {
  if (content === undefined || content === null || depth > MAX_NESTING) return;
  if (typeof content === "string") {
    sink.text(content);
    return;
  }
  if (!Array.isArray(content)) {
    sink.issue(`${where} must be a string or an array, got ${jsonType(content)}`);
    return;
  }
  eachCapped(content, (block, i) => {
    if (!isObject(block)) {
      sink.issue(`${where}[${i}] must be an object, got ${jsonType(block)}`);
      return;
    }
    switch (block.type) {
      case "image":
        sink.image();
        break;
      case "document":
        readDocument(block, sink, `${where}[${i}]`, depth);
        break;
      case "tool_use":
      case "server_tool_use":
        if (typeof block.name === "string") sink.structuralText(block.name);
        readArguments(block.input, sink);
        break;
      case "tool_result":
        readBlocks(block.content, `${where}[${i}].content`, sink, depth + 1);
        break;
      case "thinking":
        if (typeof block.thinking === "string") sink.structuralText(block.thinking);
        break;
      default:
        if (typeof block.text === "string") sink.text(block.text);
    }
  });
}

/** Messages API (and count_tokens): top-level `system` plus `messages`. */
export const readAnthropicMessages: ContentReader = (body, sink) => {
  if (body.system !== undefined && body.system !== null) sink.framedUnits += 1;
  readBlocks(body.system, "system", sink);
  const messages = body.messages;
  if (Array.isArray(messages)) {
    sink.messageCount += messages.length;
    sink.framedUnits += messages.length;
    eachCapped(messages, (message, i) => {
      if (!isObject(message)) sink.issue(`messages[${i}] must be an object, got ${jsonType(message)}`);
      else readBlocks(message.content, `messages[${i}].content`, sink);
    });
  } else if (messages !== undefined) {
    sink.issue(`messages must be an array, got ${jsonType(messages)}`);
  }
  readTools(body, sink);
};

/** Legacy Text Completions (/v1/complete): one `prompt` string. */
export const readAnthropicComplete: ContentReader = (body, sink) => {
  if (typeof body.prompt === "string") sink.messageCount += 1;
  readTextField(body, "prompt", "body", sink);
};
