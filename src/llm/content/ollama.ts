import { isObject, jsonType, type JsonObject } from "../json.js";
import type { ContentReader } from "../types.js";
import { eachCapped, type PromptSink } from "./sink.js";
import { readArguments, readTextField, readTools } from "./tools.js";

function readImages(holder: JsonObject, where: string, sink: PromptSink): void {
  const images = holder.images;
  if (images === undefined || images === null) return;
  if (!Array.isArray(images)) sink.issue(`${where}.images must be an array, got ${jsonType(images)}`);
  else if (images.length > 0) sink.image();
}

/** /api/chat: messages with string content, optional base64 `images` and tool calls. */
export const readOllamaChat: ContentReader = (body, sink) => {
  const messages = body.messages;
  if (Array.isArray(messages)) {
    sink.messageCount += messages.length;
    sink.framedUnits += messages.length;
    eachCapped(messages, (message, i) => {
      if (!isObject(message)) {
        sink.issue(`messages[${i}] must be an object, got ${jsonType(message)}`);
        return;
      }
      readTextField(message, "content", `messages[${i}]`, sink);
      readImages(message, `messages[${i}]`, sink);
      if (Array.isArray(message.tool_calls)) {
        for (const call of message.tool_calls.slice(0, 256)) {
          if (isObject(call) && isObject(call.function)) readArguments(call.function, sink);
        }
      }
    });
  } else if (messages !== undefined && messages !== null) {
    sink.issue(`messages must be an array, got ${jsonType(messages)}`);
  }
  readTools(body, sink);
};

/** /api/generate: prompt, optional system and suffix, optional base64 `images`. */
export const readOllamaGenerate: ContentReader = (body, sink) => {
  if (typeof body.system === "string" && body.system.length > 0) sink.framedUnits += 1;
  if (typeof body.prompt === "string") {
    sink.messageCount += 1;
    sink.framedUnits += 1;
  }
  readTextField(body, "system", "body", sink);
  readTextField(body, "prompt", "body", sink);
  readTextField(body, "suffix", "body", sink);
  readImages(body, "body", sink);
};

/** /api/embeddings (deprecated): one `prompt` string. */
export const readOllamaLegacyEmbedding: ContentReader = (body, sink) => {
  if (typeof body.prompt === "string") sink.messageCount += 1;
  readTextField(body, "prompt", "body", sink);
};
