/**
 * Trains the demo Iris classifier and writes models/iris/model.onnx and models/iris/metadata.json.
 * Run: node --import tsx scripts/make-demo-model.ts
 * The output is deterministic, so running it again on the same CSV leaves the committed files unchanged.
 */
import { writeFileSync } from 'node:fs';
import { irisPaths, makeIrisModel } from '../src/runtimes/index.js';

const paths = irisPaths();
const { onnx, metadata } = makeIrisModel();
writeFileSync(paths.model, onnx);
writeFileSync(paths.metadata, `${JSON.stringify(metadata, null, 2)}\n`);
process.stdout.write(
  `wrote ${paths.model} (${onnx.length} bytes) and ${paths.metadata}; training accuracy ${(metadata.trainingAccuracy * 100).toFixed(1)}%\n`,
);
