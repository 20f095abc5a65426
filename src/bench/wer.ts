/**
 * Word and character error rates, computed as jiwer and the Open ASR Leaderboard do: at corpus
 * level, from substitutions, deletions and insertions summed over all utterances and divided by the
 * summed reference length — never an average of per-utterance rates.
 */

/** The normaliser's identity; recorded with every result so rates from different versions are not compared blindly. */
export const NORMALIZER_VERSION = 'catapult-en/1';

/**
 * English normaliser, version `catapult-en/1`:
 * 1. Unicode NFKC, lower case; curly quotes to straight.
 * 2. Drop annotations in brackets or parentheses (`[noise]`, `(laughs)`, `<unk>`).
 * 3. Hyphens, slashes and underscores become spaces; other punctuation is removed, except an
 *    apostrophe inside a word (`don't`, `o'clock`).
 * 4. Whitespace collapsed. Numbers are left as written (no "twenty one" ⇄ "21").
 */
export function normalizeEnglish(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/\[[^\]]*\]|\([^)]*\)|<[^>]*>/g, ' ')
    .replace(/[-\u2010-\u2015/_]/g, ' ')
    .replace(/(?<![\p{L}\p{N}])'|'(?![\p{L}\p{N}])/gu, ' ')
    .replace(/[^\p{L}\p{N}'\s]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export type EditOp = 'equal' | 'substitute' | 'delete' | 'insert';

/** One step of an alignment: a reference token, a hypothesis token, or both. */
export interface AlignedToken {
  op: EditOp;
  ref?: string;
  hyp?: string;
}

export interface EditCounts {
  hits: number;
  substitutions: number;
  deletions: number;
  insertions: number;
  /** Reference length (hits + substitutions + deletions). */
  referenceLength: number;
}

export interface Alignment extends EditCounts {
  ops: AlignedToken[];
}

/**
 * Minimum-edit alignment of two token sequences (Levenshtein with backtrace). Among alignments with
 * the fewest edits, it prefers a substitution over a deletion over an insertion, as jiwer does.
 */
export function align(ref: readonly string[], hyp: readonly string[]): Alignment {
  const n = ref.length;
  const m = hyp.length;
  const width = m + 1;
  const dist = new Uint32Array((n + 1) * width);
  for (let i = 0; i <= n; i++) dist[i * width] = i;
  for (let j = 0; j <= m; j++) dist[j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const cost = ref[i - 1] === hyp[j - 1] ? 0 : 1;
      const sub = dist[(i - 1) * width + j - 1]! + cost;
      const del = dist[(i - 1) * width + j]! + 1;
      const ins = dist[i * width + j - 1]! + 1;
      dist[i * width + j] = Math.min(sub, del, ins);
    }
  }
  const ops: AlignedToken[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const here = dist[i * width + j]!;
    if (i > 0 && j > 0) {
      const same = ref[i - 1] === hyp[j - 1];
      if (dist[(i - 1) * width + j - 1]! + (same ? 0 : 1) === here) {
        ops.push(same ? { op: 'equal', ref: ref[i - 1]!, hyp: hyp[j - 1]! } : { op: 'substitute', ref: ref[i - 1]!, hyp: hyp[j - 1]! });
        i--;
        j--;
        continue;
      }
    }
    if (i > 0 && dist[(i - 1) * width + j]! + 1 === here) {
      ops.push({ op: 'delete', ref: ref[i - 1]! });
      i--;
      continue;
    }
    ops.push({ op: 'insert', hyp: hyp[j - 1]! });
    j--;
  }
  ops.reverse();
  const counts = countOps(ops);
  return { ...counts, ops };
}

function countOps(ops: readonly AlignedToken[]): EditCounts {
  let hits = 0;
  let substitutions = 0;
  let deletions = 0;
  let insertions = 0;
  for (const o of ops) {
    if (o.op === 'equal') hits++;
    else if (o.op === 'substitute') substitutions++;
    else if (o.op === 'delete') deletions++;
    else insertions++;
  }
  return { hits, substitutions, deletions, insertions, referenceLength: hits + substitutions + deletions };
}

export function words(normalized: string): string[] {
  return normalized === '' ? [] : normalized.split(' ');
}

/** Characters of a normalised string, spaces included (as jiwer's CER). */
export function chars(normalized: string): string[] {
  return [...normalized];
}

export interface UtteranceScore {
  id: string;
  reference: string;
  hypothesis: string;
  /** Normalised texts the rates were computed on. */
  normalizedReference: string;
  normalizedHypothesis: string;
  word: Alignment;
  char: EditCounts;
  /** This utterance's WER (edits / reference words); null when the reference is empty. */
  wer: number | null;
}

/** Scores one utterance after normalising both texts. */
export function scoreUtterance(id: string, reference: string, hypothesis: string, normalize = normalizeEnglish): UtteranceScore {
  const nr = normalize(reference);
  const nh = normalize(hypothesis);
  const word = align(words(nr), words(nh));
  const ch = align(chars(nr), chars(nh));
  const edits = word.substitutions + word.deletions + word.insertions;
  return {
    id,
    reference,
    hypothesis,
    normalizedReference: nr,
    normalizedHypothesis: nh,
    word,
    char: { hits: ch.hits, substitutions: ch.substitutions, deletions: ch.deletions, insertions: ch.insertions, referenceLength: ch.referenceLength },
    wer: word.referenceLength === 0 ? null : edits / word.referenceLength,
  };
}

export interface CorpusScore {
  normalizer: string;
  utterances: number;
  words: EditCounts;
  chars: EditCounts;
  /**
   * Summed word edits over summed reference words. When every reference is empty it is 0 if the
   * hypotheses are empty too, and null (undefined rate) otherwise; `wordEdits` still says how many.
   */
  wer: number | null;
  cer: number | null;
  wordEdits: number;
  charEdits: number;
}

function sum(a: EditCounts, b: EditCounts): EditCounts {
  return {
    hits: a.hits + b.hits,
    substitutions: a.substitutions + b.substitutions,
    deletions: a.deletions + b.deletions,
    insertions: a.insertions + b.insertions,
    referenceLength: a.referenceLength + b.referenceLength,
  };
}

const ZERO: EditCounts = { hits: 0, substitutions: 0, deletions: 0, insertions: 0, referenceLength: 0 };

function rate(c: EditCounts): number | null {
  const edits = c.substitutions + c.deletions + c.insertions;
  if (c.referenceLength === 0) return edits === 0 ? 0 : null;
  return edits / c.referenceLength;
}

/** Corpus-level WER and CER from per-utterance scores (summed edits, not averaged rates). */
export function corpusScore(scores: readonly Pick<UtteranceScore, 'word' | 'char'>[]): CorpusScore {
  let w = ZERO;
  let c = ZERO;
  for (const s of scores) {
    w = sum(w, s.word);
    c = sum(c, s.char);
  }
  return {
    normalizer: NORMALIZER_VERSION,
    utterances: scores.length,
    words: w,
    chars: c,
    wer: rate(w),
    cer: rate(c),
    wordEdits: w.substitutions + w.deletions + w.insertions,
    charEdits: c.substitutions + c.deletions + c.insertions,
  };
}

/** Merges corpus scores from several shards into one, exactly as if scored together. */
export function mergeCorpusScores(parts: readonly CorpusScore[]): CorpusScore {
  return corpusScore(parts.map((p) => ({ word: { ...p.words, ops: [] }, char: p.chars })));
}
