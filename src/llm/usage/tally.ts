import { estimateTextTokens, type TokenProfile } from "../estimate-tokens.js";

/** What a provider reported so far; undefined where it has not said. */
export interface ReportedUsage {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheWrite?: number;
}

export interface UsageCount {
  /** Prompt tokens, cached ones included (0 when the response never says; the caller may fill from the reservation). */
  inputTokens: number;
  /** Completion tokens (reasoning/thinking tokens included). */
  outputTokens: number;
  /** Of inputTokens, read from the provider's prompt cache (Anthropic cache_read_input_tokens, OpenAI cached_tokens, Gemini cachedContentTokenCount). */
  cacheReadTokens: number;
  /** Of inputTokens, written to the prompt cache (Anthropic cache_creation_input_tokens). */
  cacheWriteTokens: number;
  /**
   * "reported": the provider's usage was read; "estimated": no usage seen, output counted from the
   * streamed text with src/llm/estimate-tokens.ts and inputTokens 0 (the caller decides).
   */
  source: "reported" | "estimated";
}

/** Text is estimated in blocks of about this many characters, cut at whitespace, so memory stays bounded. */
const TEXT_BLOCK_CHARS = 256;

/**
 * Output tokens of streamed text without keeping the text: complete blocks are estimated once and
 * added up; only the open block (a few hundred characters plus one delta) is kept, and current() re-estimates only that.
 */
export class TextEstimate {
  private settled = 0;
  private open = "";
  private openTokens: number | undefined = 0;

  constructor(private readonly profile: TokenProfile) {}

  add(text: string): void {
    if (text.length === 0) return;
    this.open += text;
    this.openTokens = undefined;
    while (this.open.length >= TEXT_BLOCK_CHARS) {
      // Cut after the last whitespace of the block so no word is split between two estimates.
      let cut = this.open.length;
      for (let i = Math.min(this.open.length, TEXT_BLOCK_CHARS * 2) - 1; i > 0; i--) {
        const c = this.open.charCodeAt(i);
        if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) {
          cut = i + 1;
          break;
        }
      }
      // A surrogate pair must not be split either.
      const last = this.open.charCodeAt(cut - 1);
      if (last >= 0xd800 && last <= 0xdbff && cut < this.open.length) cut += 1;
      this.settled += estimateTextTokens(this.open.slice(0, cut), this.profile);
      this.open = this.open.slice(cut);
    }
  }

  tokens(): number {
    this.openTokens ??= estimateTextTokens(this.open, this.profile);
    return this.settled + this.openTokens;
  }
}

/** Accumulates what one response says about its usage, and the streamed text for the fallback. */
export class UsageTally {
  private readonly reported: ReportedUsage = {};
  private sawUsage = false;
  private complete = false;
  readonly text: TextEstimate;

  /** @param cacheInInput the provider's input count already includes cache reads/writes (OpenAI, Gemini), or not (Anthropic). */
  constructor(profile: TokenProfile, private readonly cacheInInput: boolean) {
    this.text = new TextEstimate(profile);
  }

  /**
   * Records usage fields (providers send running totals, so a later value replaces an earlier one).
   * `final`: this is the response's closing usage, exact for the whole response.
   */
  report(usage: ReportedUsage, final: boolean): void {
    for (const key of ["input", "output", "cacheRead", "cacheWrite"] as const) {
      const value = usage[key];
      if (value !== undefined) this.reported[key] = value;
    }
    this.sawUsage = true;
    if (final) this.complete = true;
  }

  count(): UsageCount {
    const cacheRead = this.reported.cacheRead ?? 0;
    const cacheWrite = this.reported.cacheWrite ?? 0;
    const input = (this.reported.input ?? 0) + (this.cacheInInput ? 0 : cacheRead + cacheWrite);
    if (!this.sawUsage) {
      return { inputTokens: 0, outputTokens: this.text.tokens(), cacheReadTokens: 0, cacheWriteTokens: 0, source: "estimated" };
    }
    // Until the closing usage arrives (Anthropic's message_start says output_tokens 1; a stream may be
    // cut), the streamed text may already be more than the provider's running count.
    const reportedOutput = this.reported.output ?? 0;
    const output = this.complete ? reportedOutput : Math.max(reportedOutput, this.text.tokens());
    return { inputTokens: input, outputTokens: output, cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite, source: "reported" };
  }
}
