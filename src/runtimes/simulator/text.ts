import type { Rng } from './random.js';

/**
 * The simulator's tokenizer: a token is a run of letters and digits, or one other non-space character.
 * "Hello, world!" is 4 tokens. It is deterministic and close enough to real subword tokenizers for
 * English prose (they give about 1.3 tokens per word) to make usage numbers plausible.
 */
const TOKEN = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

export function countTokens(text: string): number {
  let n = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.exec(text) !== null) n++;
  return n;
}

export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** Overhead of chat formatting, as in OpenAI's published estimate: 3 tokens per message and 3 to prime the reply. */
export const CHAT_TOKENS_PER_MESSAGE = 3;
export const CHAT_REPLY_PRIMER_TOKENS = 3;

const WORDS = (
  'the of and to in is that it was for on are as with his they at be this from have or by one had not but what all were ' +
  'when we there can an your which their said if do will each about how up out them then she many some so these would other ' +
  'into has more her two like him see time could no make than first been its who now people my made over did down only way ' +
  'find use may water long little very after words called just where most know get through back much before go good new ' +
  'write our used me man too any day same right look think also around another came come work three word must because ' +
  'does part even place well such here take why things help put years different away again off went old number great tell ' +
  'men say small every found still between name should home big give air line set own under read last never us left end ' +
  'along while might next sound below saw something thought both few those always looked show large often together asked ' +
  'house world going want school important until form food keep children feet land side without boy once animals life ' +
  'enough took sometimes four head above kind began almost live page got earth need far hand high year mother light parts ' +
  'country father let night following picture being study second eyes soon times story boys since white days ever paper'
).split(' ');

/**
 * The text of `n` generated tokens, one word each; every word after the first starts with a space, as
 * detokenised text does. In `echo` mode the words of the prompt repeat in order.
 */
export function generateTokens(n: number, rng: Rng, echoFrom?: string[]): string[] {
  const out = new Array<string>(n);
  const source = echoFrom && echoFrom.length > 0 ? echoFrom : undefined;
  for (let i = 0; i < n; i++) {
    const word = source ? source[i % source.length]! : WORDS[Math.floor(rng.next() * WORDS.length)]!;
    out[i] = i === 0 ? word : ` ${word}`;
  }
  return out;
}
