/** The expiry choices of keys and join tokens (`null`: never). */
export const EXPIRY: { label: string; seconds: number | null }[] = [
  { label: 'Never', seconds: null },
  { label: '1 hour', seconds: 3600 },
  { label: '1 day', seconds: 86_400 },
  { label: '7 days', seconds: 7 * 86_400 },
  { label: '30 days', seconds: 30 * 86_400 },
  { label: '1 year', seconds: 365 * 86_400 },
];
