import { isObject, jsonType } from "../json.js";
import type { ContentReader } from "../types.js";
import { readOpenAiContent } from "./openai-chat.js";
import { eachCapped } from "./sink.js";
import { readArguments, readTextField, readTools } from "./tools.js";

/**
 * Responses API: `instructions` plus `input`, a string or a list of items (messages with
 * input_text/input_image parts, function calls and their outputs, reasoning summaries).
 */
export const readOpenAiResponses: ContentReader = (body, sink) => {
  if (typeof body.instructions === "string" && body.instructions.length > 0) sink.framedUnits += 1;
  readTextField(body, "instructions", "body", sink);
  const input = body.input;
  if (typeof input === "string") {
    sink.messageCount += 1;
    sink.framedUnits += 1;
    sink.text(input);
  } else if (Array.isArray(input)) {
    sink.messageCount += input.length;
    sink.framedUnits += input.length;
    eachCapped(input, (item, i) => {
      if (typeof item === "string") {
        sink.text(item);
        return;
      }
      if (!isObject(item)) {
        sink.issue(`input[${i}] must be an object, got ${jsonType(item)}`);
        return;
      }
      readOpenAiContent(item.content, `input[${i}].content`, sink);
      if (typeof item.output === "string") sink.text(item.output);
      else if (Array.isArray(item.output)) readOpenAiContent(item.output, `input[${i}].output`, sink);
      if (typeof item.name === "string") sink.structuralText(item.name);
      readArguments(item.arguments, sink);
      if (Array.isArray(item.summary)) readOpenAiContent(item.summary, `input[${i}].summary`, sink);
    });
  } else if (input !== undefined && input !== null) {
    sink.issue(`input must be a string or an array, got ${jsonType(input)}`);
  }
  readTools(body, sink);
};
