export { SEALED_PREFIX, SECRET_KEY_FILE, type KeySource, SecretBox, decodeSecretKey, loadSecretBox } from './box.js';
export { ELLIPSIS, RECIPE_HEADER_PATHS, isSecretHeader, mapRecipeHeaders, redact, redactHeaders, redactRecipe, redactRecipeText } from './redact.js';
