import { IRIS_MODEL_NAME, irisPaths } from './iris.js';

/** What `catapult up` deploys out of the box, so a fresh install serves something real at once. */
export interface DemoDeployment {
  name: string;
  runtime: 'onnx' | 'simulator';
  /** Empty for the simulator, which needs no model. */
  modelPath: string;
  modelName: string;
  options: Record<string, unknown>;
  description: string;
}

export function demoDeployments(): DemoDeployment[] {
  return [
    {
      name: IRIS_MODEL_NAME,
      runtime: 'onnx',
      modelPath: irisPaths().model,
      modelName: IRIS_MODEL_NAME,
      options: { threads: 1 },
      description: 'Iris species classifier (ONNX, CPU) on the KServe v2 protocol; see models/iris/metadata.json for an example request',
    },
    {
      name: 'demo-llm',
      runtime: 'simulator',
      modelPath: '',
      modelName: 'demo-llm',
      options: { ttftMs: 150, itlMs: 25, outputTokens: 'uniform:16-128', maxConcurrency: 64 },
      description: 'Simulated OpenAI-compatible LLM: 150 ms to the first token, 25 ms per token after it',
    },
  ];
}
