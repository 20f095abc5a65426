import { z } from 'zod';

/** Version of the ModelDescriptor schema; bumped on any incompatible change. */
export const DESCRIPTOR_VERSION = 1;

const tensorSchema = z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.number()) });
const ioSchema = z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.union([z.number(), z.string()])) });

/** What the analyzer learned about a model; served at `/api/v1/models/{id}/descriptor`. */
export const modelDescriptorSchema = z
  .object({
    schemaVersion: z.literal(DESCRIPTOR_VERSION),
    format: z.string().describe('onnx, gguf, safetensors, pytorch, huggingface, …'),
    framework: z.string().describe('what the weights were made with or are served by: pytorch, onnx, llama.cpp, transformers'),
    weightsFormat: z.string().nullable().describe('for folders: the format of the weight files'),
    files: z.array(z.object({ path: z.string(), sizeBytes: z.number(), role: z.string() })),
    parameterCount: z.number().nullable(),
    weightsBytes: z.number().describe('bytes of the weights as stored'),
    dtypes: z.record(z.string(), z.object({ tensors: z.number(), parameters: z.number(), bytes: z.number() })),
    tensors: z.object({ count: z.number(), items: z.array(tensorSchema), truncated: z.boolean() }).nullable(),
    onnx: z
      .object({
        irVersion: z.number(),
        producer: z.string(),
        opsets: z.array(z.object({ domain: z.string(), version: z.number() })),
        ops: z.record(z.string(), z.number()).describe('op type → node count'),
        inputs: z.array(ioSchema),
        outputs: z.array(ioSchema),
        externalData: z.array(z.object({ tensor: z.string(), location: z.string() })),
      })
      .nullable(),
    gguf: z
      .object({
        version: z.number(),
        architecture: z.string().nullable(),
        name: z.string().nullable(),
        quantization: z.string().nullable(),
        contextLength: z.number().nullable(),
        tensorCount: z.number(),
      })
      .nullable(),
    architecture: z
      .object({
        modelType: z.string().nullable(),
        architectures: z.array(z.string()),
        layers: z.number().nullable(),
        hiddenSize: z.number().nullable(),
        heads: z.number().nullable(),
        kvHeads: z.number().nullable(),
        headDim: z.number().nullable(),
        intermediateSize: z.number().nullable(),
        vocabSize: z.number().nullable(),
        maxPositions: z.number().nullable(),
        dtype: z.string().nullable(),
      })
      .nullable(),
    tokenizer: z
      .object({
        type: z.string().nullable(),
        vocabSize: z.number().nullable(),
        specialTokens: z.record(z.string(), z.string()),
        chatTemplate: z.string().nullable(),
      })
      .nullable(),
    licence: z.object({ id: z.string().nullable(), source: z.string() }).nullable(),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'ModelDescriptor' });

export type ModelDescriptor = z.infer<typeof modelDescriptorSchema>;

/** JSON Schema of the descriptor, for people and tools. */
export function descriptorJsonSchema(): unknown {
  return z.toJSONSchema(modelDescriptorSchema);
}
