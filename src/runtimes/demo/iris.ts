import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageInfo } from '../../util/index.js';
import { OnnxDataType, encodeOnnxModel, floatTensor } from '../onnx/proto.js';

/**
 * The demo model `catapult up` serves: a multinomial logistic regression on Fisher's Iris data, trained
 * here in plain TypeScript and written as a real ONNX graph of standard operators, so a fresh checkout
 * serves a real model on CPU without downloading anything.
 */

export const IRIS_CLASSES = ['setosa', 'versicolor', 'virginica'] as const;
export const IRIS_FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] as const;
export const IRIS_MODEL_NAME = 'iris';

export interface IrisDataset {
  features: number[][];
  labels: number[];
}

/** Where the committed demo model and its data live. */
export function irisPaths(root = packageInfo().root): { dir: string; csv: string; model: string; metadata: string } {
  const dir = join(root, 'models', 'iris');
  return { dir, csv: join(dir, 'iris.csv'), model: join(dir, 'model.onnx'), metadata: join(dir, 'metadata.json') };
}

export function parseIrisCsv(text: string): IrisDataset {
  const features: number[][] = [];
  const labels: number[] = [];
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  for (const [i, line] of lines.slice(1).entries()) {
    const cells = line.split(',');
    const species = cells[4]?.trim() ?? '';
    const label = (IRIS_CLASSES as readonly string[]).indexOf(species);
    const row = cells.slice(0, 4).map(Number);
    if (label < 0 || row.length !== 4 || row.some((v) => !Number.isFinite(v))) {
      throw new Error(`iris.csv line ${i + 2}: cannot read "${line}"`);
    }
    features.push(row);
    labels.push(label);
  }
  return { features, labels };
}

export function loadIrisDataset(csvPath = irisPaths().csv): IrisDataset {
  return parseIrisCsv(readFileSync(csvPath, 'utf8'));
}

export interface IrisTrained {
  mean: number[];
  std: number[];
  /** [4][3], row-major by feature. */
  weights: number[][];
  bias: number[];
  /** Share of the dataset the trained model classifies correctly (computed in float64). */
  accuracy: number;
}

const EPOCHS = 3000;
const LEARNING_RATE = 0.5;
const L2 = 1e-4;

/**
 * Full-batch gradient descent from zero weights: no randomness and a fixed number of steps, so the same
 * data always gives the same model, byte for byte.
 */
export function trainIris(data: IrisDataset): IrisTrained {
  const n = data.features.length;
  const k = IRIS_CLASSES.length;
  const d = IRIS_FEATURES.length;
  const mean = Array.from({ length: d }, (_, j) => data.features.reduce((s, r) => s + r[j]!, 0) / n);
  const std = Array.from({ length: d }, (_, j) =>
    Math.sqrt(data.features.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / n),
  );
  const x = data.features.map((r) => r.map((v, j) => (v - mean[j]!) / std[j]!));
  const w = Array.from({ length: d }, () => new Array<number>(k).fill(0));
  const b = new Array<number>(k).fill(0);

  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const gw = Array.from({ length: d }, () => new Array<number>(k).fill(0));
    const gb = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      const p = softmax(logits(x[i]!, w, b));
      for (let c = 0; c < k; c++) {
        const err = p[c]! - (data.labels[i] === c ? 1 : 0);
        gb[c]! += err / n;
        for (let j = 0; j < d; j++) gw[j]![c]! += (err * x[i]![j]!) / n;
      }
    }
    for (let c = 0; c < k; c++) {
      b[c]! -= LEARNING_RATE * gb[c]!;
      for (let j = 0; j < d; j++) w[j]![c]! -= LEARNING_RATE * (gw[j]![c]! + L2 * w[j]![c]!);
    }
  }

  let correct = 0;
  for (let i = 0; i < n; i++) if (argmax(logits(x[i]!, w, b)) === data.labels[i]) correct++;
  return { mean, std, weights: w, bias: b, accuracy: correct / n };
}

function logits(x: number[], w: number[][], b: number[]): number[] {
  return b.map((bc, c) => x.reduce((s, xj, j) => s + xj * w[j]![c]!, bc));
}

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

function argmax(z: number[]): number {
  let best = 0;
  for (let i = 1; i < z.length; i++) if (z[i]! > z[best]!) best = i;
  return best;
}

/**
 * The ONNX graph: input [batch,4] → Sub(mean) → Div(std) → MatMul(W) → Add(b) = logits;
 * Softmax(logits) → probabilities [batch,3]; ArgMax(logits) → label [batch] (INT64 class index).
 */
export function buildIrisOnnx(t: IrisTrained): Uint8Array {
  const d = IRIS_FEATURES.length;
  const k = IRIS_CLASSES.length;
  return encodeOnnxModel({
    producerName: 'catapult',
    modelVersion: 1,
    docString: 'Iris species classifier (multinomial logistic regression), trained by scripts/make-demo-model.ts',
    metadata: {
      classes: JSON.stringify(IRIS_CLASSES),
      features: JSON.stringify(IRIS_FEATURES),
      dataset: 'Iris (Fisher 1936; UCI Machine Learning Repository), models/iris/iris.csv',
    },
    graph: {
      name: 'iris_logreg',
      inputs: [{ name: 'input', elemType: OnnxDataType.FLOAT, shape: ['batch', d] }],
      outputs: [
        { name: 'probabilities', elemType: OnnxDataType.FLOAT, shape: ['batch', k] },
        { name: 'label', elemType: OnnxDataType.INT64, shape: ['batch'] },
      ],
      initializers: [
        floatTensor('mean', [d], t.mean),
        floatTensor('std', [d], t.std),
        floatTensor('weights', [d, k], t.weights.flat()),
        floatTensor('bias', [k], t.bias),
      ],
      nodes: [
        { opType: 'Sub', inputs: ['input', 'mean'], outputs: ['centered'] },
        { opType: 'Div', inputs: ['centered', 'std'], outputs: ['scaled'] },
        { opType: 'MatMul', inputs: ['scaled', 'weights'], outputs: ['product'] },
        { opType: 'Add', inputs: ['product', 'bias'], outputs: ['logits'] },
        { opType: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: 1 } },
        { opType: 'ArgMax', inputs: ['logits'], outputs: ['label'], attributes: { axis: 1, keepdims: 0 } },
      ],
    },
  });
}

/** Everything the demo model directory holds besides the CSV: the model bytes and a metadata document. */
export function makeIrisModel(data: IrisDataset = loadIrisDataset()): { onnx: Uint8Array; trained: IrisTrained; metadata: IrisMetadata } {
  const trained = trainIris(data);
  const onnx = buildIrisOnnx(trained);
  const metadata: IrisMetadata = {
    name: IRIS_MODEL_NAME,
    format: 'onnx',
    runtime: 'onnx',
    description: 'Iris species classifier: multinomial logistic regression on 4 measurements in centimetres.',
    source: 'Trained by scripts/make-demo-model.ts on models/iris/iris.csv (Fisher 1936; UCI Machine Learning Repository).',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, IRIS_FEATURES.length], features: [...IRIS_FEATURES] }],
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, IRIS_CLASSES.length] },
      { name: 'label', datatype: 'INT64', shape: [-1], classes: [...IRIS_CLASSES] },
    ],
    trainingAccuracy: Number(trained.accuracy.toFixed(4)),
    example: {
      inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3] }],
    },
  };
  return { onnx, trained, metadata };
}

export interface IrisMetadata {
  name: string;
  format: 'onnx';
  runtime: 'onnx';
  description: string;
  source: string;
  inputs: { name: string; datatype: string; shape: number[]; features: string[] }[];
  outputs: { name: string; datatype: string; shape: number[]; classes?: string[] }[];
  trainingAccuracy: number;
  example: { inputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
}
