/**
 * Cheap token estimate: one pass over the text counts character-class features that mirror how
 * BPE tokenizers pre-split text (words, digit groups of 3, punctuation runs, whitespace runs,
 * CJK characters, emoji), then a per-profile linear model turns the counts into tokens.
 * Coefficients were fitted against js-tiktoken (see docs/token-estimate.md and
 * bench/token-estimate.ts); they lean towards over-estimating because the figure reserves budget.
 */

export type TokenProfile = "o200k" | "cl100k";

export interface TextFeatures {
  /** ASCII sub-words (camelCase splits into parts); a leading single space is free. */
  words: number;
  /** Letters beyond WORD_FREE_LETTERS in those sub-words. */
  wordExtra: number;
  /** Letters beyond WORD_LONG_LETTERS (rare long words split into many pieces). */
  wordLong: number;
  /** Words written only in non-ASCII alphabetic scripts. */
  foreignWords: number;
  latinExt: number;
  cyrillicGreek: number;
  otherScript: number;
  /** Letters of scripts written without spaces between words (Thai, Lao, Myanmar, Khmer). */
  spacelessScript: number;
  han: number;
  kana: number;
  hangul: number;
  /** Digit groups of up to three digits. */
  digitGroups: number;
  punctRuns: number;
  punctChars: number;
  /** Runs of two or more spaces/tabs, and the spaces beyond the first in them. */
  spaceRuns: number;
  spaceExtra: number;
  newlineRuns: number;
  /** Characters of base64-like blobs: 16+ chars of [A-Za-z0-9+/=_-] mixing digits and both cases. */
  blobChars: number;
  emoji: number;
  joiners: number;
  symbols: number;
}

type Coefficients = { readonly [K in keyof TextFeatures]: number };

/** A sub-word of up to this many ASCII letters is usually a single token. */
const WORD_FREE_LETTERS = 6;
const WORD_LONG_LETTERS = 12;

const COEFFICIENTS: Readonly<Record<TokenProfile, Coefficients>> = {
  o200k: {
    words: 1, wordExtra: 0.08, wordLong: 0.25, foreignWords: 1.19, latinExt: 1.37, cyrillicGreek: 0.08,
    otherScript: 0.12, spacelessScript: 0.35, han: 0.73, kana: 0.7, hangul: 0.78, digitGroups: 1.42, punctRuns: 0.41,
    punctChars: 0.24, spaceRuns: 0.31, spaceExtra: 0, newlineRuns: 1.42, blobChars: 0.15, emoji: 1.52, joiners: 1.7,
    symbols: 0.29,
  },
  cl100k: {
    words: 0.97, wordExtra: 0.13, wordLong: 0.25, foreignWords: 1.6, latinExt: 3.08, cyrillicGreek: 0.43,
    otherScript: 0.79, spacelessScript: 0.96, han: 1.2, kana: 0.89, hangul: 1.2, digitGroups: 1.39, punctRuns: 0.57,
    punctChars: 0.16, spaceRuns: 0.09, spaceExtra: 0.06, newlineRuns: 1.24, blobChars: 0.2, emoji: 2.53, joiners: 1.56,
    symbols: 0.38,
  },
};

const enum Cls {
  Lower,
  Upper,
  Digit,
  Space,
  Newline,
  Punct,
  LatinExt,
  CyrillicGreek,
  OtherScript,
  SpacelessScript,
  Han,
  Kana,
  Hangul,
  Emoji,
  Joiner,
  Symbol,
}

function classifyAscii(cp: number): Cls {
  if (cp >= 0x61 && cp <= 0x7a) return Cls.Lower;
  if (cp >= 0x41 && cp <= 0x5a) return Cls.Upper;
  if (cp >= 0x30 && cp <= 0x39) return Cls.Digit;
  if (cp === 0x20 || cp === 0x09) return Cls.Space;
  if (cp === 0x0a || cp === 0x0d) return Cls.Newline;
  return cp < 0x20 || cp === 0x7f ? Cls.Symbol : Cls.Punct;
}

const ASCII_CLASSES = Uint8Array.from({ length: 128 }, (_, cp) => classifyAscii(cp));

function classify(cp: number): Cls {
  if (cp < 0x80) return ASCII_CLASSES[cp] as Cls;
  if ((cp >= 0xc0 && cp <= 0x24f && cp !== 0xd7 && cp !== 0xf7) || (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1e00 && cp <= 0x1eff)) {
    return Cls.LatinExt;
  }
  if (cp >= 0x370 && cp <= 0x52f) return Cls.CyrillicGreek;
  if ((cp >= 0xe00 && cp <= 0xeff) || (cp >= 0x1000 && cp <= 0x109f) || (cp >= 0x1780 && cp <= 0x17ff)) return Cls.SpacelessScript;
  if (cp >= 0x530 && cp <= 0x1fff) return Cls.OtherScript;
  if ((cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x20000 && cp <= 0x2ffff)) {
    return Cls.Han;
  }
  if ((cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) || (cp >= 0xff66 && cp <= 0xff9f)) return Cls.Kana;
  if ((cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0x3130 && cp <= 0x318f)) return Cls.Hangul;
  if (cp === 0x200d || cp === 0xfe0f || cp === 0x20e3) return Cls.Joiner;
  if (cp >= 0x1f000 || (cp >= 0x2600 && cp <= 0x27bf) || (cp >= 0x2b00 && cp <= 0x2bff)) return Cls.Emoji;
  return Cls.Symbol;
}

const ALPHABETIC = (1 << Cls.Lower) | (1 << Cls.Upper) | (1 << Cls.LatinExt) | (1 << Cls.CyrillicGreek) | (1 << Cls.OtherScript);

function isAlphabetic(c: Cls): boolean {
  return ((ALPHABETIC >> c) & 1) === 1;
}

const BLOB_MIN_CHARS = 16;

/** Spots runs that look like base64/keys: BPE splits those into ~2-char tokens. */
class BlobTracker {
  private length = 0;
  private kinds = 0; // bit 1 digit, 2 upper, 4 lower

  constructor(private readonly features: TextFeatures) {}

  add(cp: number, c: Cls): void {
    if (c === Cls.Digit) this.kinds |= 1;
    else if (c === Cls.Upper) this.kinds |= 2;
    else if (c === Cls.Lower) this.kinds |= 4;
    else if (cp !== 0x2b && cp !== 0x2f && cp !== 0x3d && cp !== 0x5f && cp !== 0x2d) {
      this.flush();
      return;
    }
    this.length += 1;
  }

  flush(): void {
    if (this.length >= BLOB_MIN_CHARS && this.kinds === 7) this.features.blobChars += this.length;
    this.length = 0;
    this.kinds = 0;
  }
}

function emptyFeatures(): TextFeatures {
  return {
    words: 0, wordExtra: 0, wordLong: 0, foreignWords: 0, latinExt: 0, cyrillicGreek: 0, otherScript: 0, spacelessScript: 0, han: 0, kana: 0,
    hangul: 0, digitGroups: 0, punctRuns: 0, punctChars: 0, spaceRuns: 0, spaceExtra: 0, newlineRuns: 0,
    blobChars: 0, emoji: 0, joiners: 0, symbols: 0,
  };
}

/** Counts the features of `text` in one pass (exported for the benchmark's fitting). */
export function textFeatures(text: string): TextFeatures {
  const f = emptyFeatures();
  let prev: Cls = Cls.Newline;
  let run = 0; // length of the current run of `prev`'s kind (word letters, digits, spaces, punct)
  let ascii = 0; // ASCII letters in the current sub-word
  let foreign = 0; // non-ASCII letters in the current word
  const endWord = (): void => {
    if (ascii > 0) {
      f.words += 1;
      f.wordExtra += Math.max(0, ascii - WORD_FREE_LETTERS);
      f.wordLong += Math.max(0, ascii - WORD_LONG_LETTERS);
    } else if (foreign > 0) f.foreignWords += 1;
    ascii = 0;
    foreign = 0;
  };
  const blob = new BlobTracker(f);
  for (let i = 0; i < text.length; ) {
    const unit = text.charCodeAt(i);
    const cp = unit >= 0xd800 && unit <= 0xdbff ? (text.codePointAt(i) ?? unit) : unit;
    i += cp > 0xffff ? 2 : 1;
    const c = classify(cp);
    const inWord = isAlphabetic(prev);
    blob.add(cp, c);
    if (inWord && !isAlphabetic(c)) endWord();
    if (prev === Cls.Digit && c !== Cls.Digit) f.digitGroups += Math.ceil(run / 3);
    if (prev === Cls.Space && c !== Cls.Space && run >= 2) {
      f.spaceRuns += 1;
      f.spaceExtra += run - 1;
    }
    switch (c) {
      case Cls.Lower:
        ascii += 1;
        break;
      case Cls.Upper:
        // camelCase: an upper-case letter after a lower-case one starts a new sub-word.
        if (prev === Cls.Lower) endWord();
        ascii += 1;
        break;
      case Cls.LatinExt:
        foreign += 1;
        f.latinExt += 1;
        break;
      case Cls.CyrillicGreek:
        foreign += 1;
        f.cyrillicGreek += 1;
        break;
      case Cls.OtherScript:
        foreign += 1;
        f.otherScript += 1;
        break;
      case Cls.SpacelessScript:
        f.spacelessScript += 1;
        break;
      case Cls.Han:
        f.han += 1;
        break;
      case Cls.Kana:
        f.kana += 1;
        break;
      case Cls.Hangul:
        f.hangul += 1;
        break;
      case Cls.Newline:
        if (prev !== Cls.Newline) f.newlineRuns += 1;
        break;
      case Cls.Punct:
        if (prev !== Cls.Punct) f.punctRuns += 1;
        f.punctChars += 1;
        break;
      case Cls.Emoji:
        f.emoji += 1;
        break;
      case Cls.Joiner:
        f.joiners += 1;
        break;
      case Cls.Symbol:
        f.symbols += 1;
        break;
      case Cls.Digit:
      case Cls.Space:
        break;
    }
    run = c === prev || (isAlphabetic(c) && inWord) ? run + 1 : 1;
    prev = c;
  }
  blob.flush();
  if (isAlphabetic(prev)) endWord();
  if (prev === Cls.Digit) f.digitGroups += Math.ceil(run / 3);
  if (prev === Cls.Space && run >= 2) {
    f.spaceRuns += 1;
    f.spaceExtra += run - 1;
  }
  return f;
}

export function tokensFromFeatures(f: TextFeatures, profile: TokenProfile): number {
  const k = COEFFICIENTS[profile];
  let sum = 0;
  for (const key of Object.keys(k) as (keyof TextFeatures)[]) sum += k[key] * f[key];
  return sum;
}

/**
 * No BPE vocabulary packs more than about 8 UTF-16 units per token on average over degenerate
 * input (long runs of one character, whitespace), so this floor keeps such input from being
 * under-counted; ordinary text (3-5.5 units per token) never reaches it.
 */
const MAX_UNITS_PER_TOKEN = 8;

/** Estimated tokens of one text (0 for ""). */
export function estimateTextTokens(text: string, profile: TokenProfile = "o200k"): number {
  if (text.length === 0) return 0;
  const modelled = Math.ceil(tokensFromFeatures(textFeatures(text), profile));
  return Math.max(1, modelled, Math.ceil(text.length / MAX_UNITS_PER_TOKEN));
}
