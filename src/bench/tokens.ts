/**
 * Token counts when a server does not report `usage`: OpenAI's o200k_base BPE (gpt-tokenizer, pure
 * JavaScript, vocabulary shipped in the package). It is not the served model's tokenizer, so counts
 * made with it are marked `tokenizer` in every record and result, never mixed silently with `usage`.
 * Loaded on first use: it costs ~130 ms and most runs never need it.
 */
type Encoder = (text: string) => number[];
type Decoder = (tokens: number[]) => string;

let encoder: Encoder | undefined;
let decoder: Decoder | undefined;
let loading: Promise<Encoder> | undefined;

/** Loads the tokenizer; call before a run so counting inside the hot path is synchronous. */
export function loadTokenizer(): Promise<Encoder> {
  loading ??= import('gpt-tokenizer/encoding/o200k_base').then((m) => {
    encoder = m.encode;
    decoder = m.decode;
    return m.encode;
  });
  return loading;
}

/** Tokens in `text`; the tokenizer must have been loaded. */
export function countTokens(text: string): number {
  if (!encoder) throw new Error('loadTokenizer() must finish before countTokens()');
  return text === '' ? 0 : encoder(text).length;
}

/** `text` cut to its first `n` tokens. */
export function truncateToTokens(text: string, n: number): string {
  if (!encoder || !decoder) throw new Error('loadTokenizer() must finish before truncateToTokens()');
  const tokens = encoder(text);
  return tokens.length <= n ? text : decoder(tokens.slice(0, n));
}
