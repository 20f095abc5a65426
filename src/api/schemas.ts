import { z } from 'zod';

/** Query-string booleans: only the words true and false. */
export const queryBool = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .describe('true or false');

export const idParams = z.strictObject({ id: z.string().min(1).max(200) });

export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    code: z.string(),
    detail: z.string(),
    hint: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string(), line: z.number().nullable().optional(), column: z.number().nullable().optional() })).optional(),
  })
  .meta({ id: 'Problem', description: 'An error, as application/problem+json (RFC 9457), with a stable `code`.' });

/** Standard error responses added to every authenticated route's documentation. */
export const errorResponses = {
  400: problemSchema,
  401: problemSchema,
  403: problemSchema,
  404: problemSchema,
  409: problemSchema,
};
