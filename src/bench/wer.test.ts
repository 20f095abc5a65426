import { describe, expect, it } from 'vitest';
import { align, corpusScore, mergeCorpusScores, normalizeEnglish, scoreUtterance, words } from './wer.js';

describe('word error rate', () => {
  it('counts a substitution, a deletion and an insertion as a hand alignment does', () => {
    // ref: the cat sat on the mat today ; hyp: the cat sit on mat today ok
    // the cat sat->sit on the->(deleted) mat today +ok: S1 D1 I1 over 7 words, the only 3-edit alignment
    const a = align(words('the cat sat on the mat today'), words('the cat sit on mat today ok'));
    expect([a.substitutions, a.deletions, a.insertions, a.hits]).toEqual([1, 1, 1, 5]);
    expect(a.ops.map((o) => o.op)).toEqual(['equal', 'equal', 'substitute', 'equal', 'delete', 'equal', 'equal', 'insert']);
    const s = scoreUtterance('u1', 'The cat sat on the mat today.', 'the cat sit on mat today ok');
    expect(s.wer).toBeCloseTo(3 / 7, 12);
  });

  it('sums edits over the corpus instead of averaging per-utterance rates', () => {
    const scores = [
      scoreUtterance('a', 'one', 'two'), // 1 edit / 1 word: 100%
      scoreUtterance('b', 'a b c d e f g h i', 'a b c d e f g h i'), // 0 edits / 9 words
    ];
    const corpus = corpusScore(scores);
    expect(corpus.wer).toBeCloseTo(1 / 10, 12); // not (1.0 + 0) / 2 = 0.5
    expect(corpus.words.referenceLength).toBe(10);
  });

  it('handles empty references and hypotheses', () => {
    const emptyHyp = scoreUtterance('a', 'hello world', '');
    expect([emptyHyp.word.deletions, emptyHyp.wer]).toEqual([2, 1]);
    const emptyRef = scoreUtterance('b', '', 'hello');
    expect([emptyRef.word.insertions, emptyRef.wer]).toEqual([1, null]);
    const both = scoreUtterance('c', '', '');
    expect(both.wer).toBe(null);
    // The empty reference's insertion still counts against the corpus.
    expect(corpusScore([emptyHyp, emptyRef]).wer).toBeCloseTo(3 / 2, 12);
    expect(corpusScore([both]).wer).toBe(0);
    expect(corpusScore([emptyRef]).wer).toBe(null);
    expect(corpusScore([]).wer).toBe(0);
  });

  it('computes character error rate over characters including spaces', () => {
    // "abc de" vs "abd de": one substitution over 6 characters
    const s = scoreUtterance('a', 'abc de', 'abd de');
    expect(s.char.substitutions).toBe(1);
    expect(corpusScore([s]).cer).toBeCloseTo(1 / 6, 12);
    // kitten -> sitting: the classic 3 edits over 6 characters
    expect(corpusScore([scoreUtterance('k', 'kitten', 'sitting')]).cer).toBeCloseTo(3 / 6, 12);
  });

  it('merges shard scores to the same result as scoring everything together', () => {
    const all = [scoreUtterance('a', 'the quick brown fox', 'the quick brown box'), scoreUtterance('b', 'jumps over', 'jumps over the'), scoreUtterance('c', 'lazy dog', '')];
    const merged = mergeCorpusScores([corpusScore(all.slice(0, 1)), corpusScore(all.slice(1))]);
    const together = corpusScore(all);
    expect(merged.wer).toBe(together.wer);
    expect(merged.cer).toBe(together.cer);
    expect(merged.words).toEqual(together.words);
  });
});

describe('the English normaliser', () => {
  it('lower-cases, strips punctuation and annotations, keeps in-word apostrophes', () => {
    expect(normalizeEnglish("Hello, World! [noise] It's  (laughs) a well-known <unk> fact.")).toBe("hello world it's a well known fact");
    expect(normalizeEnglish('‘Quoted’ “text”')).toBe('quoted text');
    expect(normalizeEnglish('   ')).toBe('');
  });
});
