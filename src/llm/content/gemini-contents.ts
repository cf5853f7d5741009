import { isObject, jsonType } from "../json.js";
import type { ContentReader } from "../types.js";
import { eachCapped, type PromptSink } from "./sink.js";
import { readArguments, readTools } from "./tools.js";

/** Proto-JSON accepts both lowerCamel and snake_case field names. */
function field(holder: Readonly<Record<string, unknown>>, camel: string, snake: string): unknown {
  return holder[camel] ?? holder[snake];
}

function isImageData(blob: unknown): boolean {
  if (!isObject(blob)) return false;
  const mime = field(blob, "mimeType", "mime_type");
  return typeof mime === "string" && mime.toLowerCase().startsWith("image/");
}

/** One Content: `{ role, parts: [{text} | {inlineData} | {fileData} | {functionCall} | …] }`. */
function readContent(content: unknown, where: string, sink: PromptSink): void {
  if (!isObject(content)) {
    sink.issue(`${where} must be an object, got ${jsonType(content)}`);
    return;
  }
  const parts = content.parts;
  if (parts === undefined) return;
  if (!Array.isArray(parts)) {
    sink.issue(`${where}.parts must be an array, got ${jsonType(parts)}`);
    return;
  }
  eachCapped(parts, (part, i) => {
    if (!isObject(part)) {
      sink.issue(`${where}.parts[${i}] must be an object, got ${jsonType(part)}`);
      return;
    }
    if (typeof part.text === "string") sink.text(part.text);
    if (isImageData(field(part, "inlineData", "inline_data")) || isImageData(field(part, "fileData", "file_data"))) sink.image();
    const call = field(part, "functionCall", "function_call");
    if (isObject(call)) readArguments(call, sink);
    const response = field(part, "functionResponse", "function_response");
    if (isObject(response)) readArguments(response, sink);
    const code = field(part, "executableCode", "executable_code");
    if (isObject(code) && typeof code.code === "string") sink.structuralText(code.code);
  });
}

function readContents(contents: unknown, where: string, sink: PromptSink): void {
  if (contents === undefined) return;
  if (!Array.isArray(contents)) {
    sink.issue(`${where} must be an array, got ${jsonType(contents)}`);
    return;
  }
  sink.messageCount += contents.length;
  sink.framedUnits += contents.length;
  eachCapped(contents, (content, i) => readContent(content, `${where}[${i}]`, sink));
}

/** generateContent / streamGenerateContent / countTokens: systemInstruction, contents, tools. */
export const readGeminiGenerate: ContentReader = (body, sink) => {
  const request = field(body, "generateContentRequest", "generate_content_request");
  const source = isObject(request) ? request : body;
  const system = field(source, "systemInstruction", "system_instruction");
  if (system !== undefined && system !== null) {
    sink.framedUnits += 1;
    readContent(system, "systemInstruction", sink);
  }
  readContents(source.contents, "contents", sink);
  readTools(source, sink);
};

/** embedContent (`content`) and batchEmbedContents (`requests[].content`). */
export const readGeminiEmbed: ContentReader = (body, sink) => {
  if (body.content !== undefined) {
    sink.messageCount += 1;
    readContent(body.content, "content", sink);
  }
  const requests = body.requests;
  if (requests === undefined) return;
  if (!Array.isArray(requests)) {
    sink.issue(`requests must be an array, got ${jsonType(requests)}`);
    return;
  }
  sink.messageCount += requests.length;
  eachCapped(requests, (request, i) => {
    if (isObject(request)) readContent(request.content, `requests[${i}].content`, sink);
    else sink.issue(`requests[${i}] must be an object, got ${jsonType(request)}`);
  });
};
