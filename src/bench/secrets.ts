import type { AnyDb } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { ELLIPSIS, type SecretBox, mapRecipeHeaders, redactRecipe, redactRecipeText } from '../secrets/index.js';
import type { Recipe } from './recipe.js';
import type { BenchTables } from './schema.js';

/**
 * Secrets in benchmarks: recipes' request headers (`target.headers`, `workload.headers`) and the run's
 * resolved `target_headers`. At rest each header value is sealed (the recipe JSON), the recipe text is
 * sealed whole when it has headers, and `target_headers` is sealed as one value. Views show them
 * redacted; only the run (and the agents running its shards) open them.
 */

function hasHeaders(recipe: unknown): boolean {
  let found = false;
  mapRecipeHeaders(recipe, (h) => {
    if (Object.keys(h).length > 0) found = true;
    return h;
  });
  return found;
}

/** The recipe JSON to store: header values sealed. */
export function sealRecipeJson(box: SecretBox, recipe: Recipe): string {
  return toJson(mapRecipeHeaders(recipe, (h) => box.sealHeaders(h)));
}

/** The recipe text to store: sealed whole when the recipe carries headers. */
export function sealRecipeText(box: SecretBox, text: string | null, recipe: unknown): string | null {
  if (text === null || !hasHeaders(recipe)) return text;
  return box.seal(text);
}

/** The stored recipe with its header values in clear: for the run itself, never for a view. */
export function openRecipe(box: SecretBox, stored: string): Recipe {
  return mapRecipeHeaders(fromJson<Recipe>(stored, {} as Recipe), (h) => box.openHeaders(h));
}

/** The stored recipe as the API shows it: secret header values redacted. */
export function viewRecipe(box: SecretBox, stored: string): Recipe {
  const opened = mapRecipeHeaders(fromJson<Recipe>(stored, {} as Recipe), (h) =>
    Object.fromEntries(
      Object.entries(h).map(([k, v]) => {
        try {
          return [k, box.open(v)];
        } catch {
          // Sealed with another key: nothing of it can be shown.
          return [k, ELLIPSIS];
        }
      }),
    ),
  );
  return redactRecipe(opened);
}

/** The stored recipe text as the API shows it: secret header values redacted in place, lines kept. */
export function viewRecipeText(box: SecretBox, stored: string | null): string | null {
  if (stored === null) return null;
  try {
    return redactRecipeText(box.open(stored));
  } catch {
    return null;
  }
}

/**
 * Seals the headers that benchmarks stored by older versions hold in clear (run at startup); returns
 * how many rows changed. Looks only at rows with a non-empty header map or clear target headers.
 */
export async function sealStoredBenchmarks(db: AnyDb, box: SecretBox): Promise<number> {
  const t = tables<BenchTables>(db);
  const rows = await t
    .selectFrom('benchmarks')
    .select(['id', 'recipe', 'recipe_text', 'target_headers'])
    .where((eb) => eb.or([eb('recipe', 'like', '%"headers":{"%'), eb.and([eb('target_headers', 'is not', null), eb('target_headers', 'not like', 'enc:%')])]))
    .execute();
  let changed = 0;
  for (const row of rows) {
    const recipe = fromJson<Recipe>(row.recipe, {} as Recipe);
    const recipeJson = sealRecipeJson(box, recipe);
    const recipeText = row.recipe_text !== null && !row.recipe_text.startsWith('enc:') ? sealRecipeText(box, row.recipe_text, recipe) : row.recipe_text;
    const targetHeaders = row.target_headers !== null && !row.target_headers.startsWith('enc:') ? box.seal(row.target_headers) : row.target_headers;
    if (recipeJson === row.recipe && recipeText === row.recipe_text && targetHeaders === row.target_headers) continue;
    await t.updateTable('benchmarks').set({ recipe: recipeJson, recipe_text: recipeText, target_headers: targetHeaders }).where('id', '=', row.id).execute();
    changed++;
  }
  return changed;
}
