import { type FormEvent, useEffect, useState } from 'react';
import { ApiError, authedFetch, readBody, toApiError } from '../api/client';
import { SseParser } from '../api/sse';
import { CheckField, TextAreaField, TextField } from '../components/Field';
import { Icon } from '../components/Icon';
import { CodeBlock } from '../components/Code';
import { ErrorAlert, Panel, StateBadge } from '../components/ui';
import { formatMs } from '../lib/format';
import type { Deployment } from './Deployments';

interface Outcome {
  status: number;
  ms: number;
  ttftMs?: number;
  body: unknown;
  text?: string;
  requestId?: string | null;
  replica?: string | null;
}

interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

/** A request body for a KServe v2 model from its metadata: one example per input, dynamic dims as 1. */
export function exampleInferBody(inputs: readonly TensorMeta[]): { inputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] } {
  return {
    inputs: inputs.map((i) => {
      const shape = i.shape.map((d) => (d < 0 ? 1 : d));
      const n = shape.reduce((a, b) => a * b, 1);
      const value = i.datatype === 'BOOL' ? false : i.datatype === 'BYTES' ? '' : i.datatype.startsWith('FP') ? 1.0 : 1;
      // Varied values read better than a row of identical ones, and exercise a classifier.
      const data = Array.from({ length: Math.min(n, 4096) }, (_, k) => (typeof value === 'number' && i.datatype.startsWith('FP') ? Math.round((1 + ((k * 37) % 50) / 10) * 10) / 10 : value));
      return { name: i.name, shape, datatype: i.datatype, data };
    }),
  };
}

/** JSON with two-space indents, but arrays of numbers and strings on one line, as people write tensors. */
export function compactJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\[\s*((?:[-\d.eE+]+|"[^"]*"|true|false|null)(?:,\s*(?:[-\d.eE+]+|"[^"]*"|true|false|null))*)\s*\]/g, (_, inner: string) => `[${inner.split(/,\s*/).join(', ')}]`);
}

export interface ModelMetadata {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
  platform?: string;
}

/** A KServe v2 deployment's model metadata (inputs, outputs), read through the gateway once a replica is ready. */
export function useKserveMetadata(d: Deployment): { meta: ModelMetadata | null; error: ApiError | undefined } {
  const inferUrl = d.urls['kserve-v2'] ?? '';
  const metaUrl = inferUrl.replace(/\/infer$/, '');
  const ready = d.replicas.ready > 0;
  const [meta, setMeta] = useState<ModelMetadata | null>(null);
  const [error, setError] = useState<ApiError | undefined>();
  useEffect(() => {
    if (!ready || !metaUrl || d.protocol !== 'kserve-v2') return;
    let cancelled = false;
    authedFetch(metaUrl)
      .then(async (res) => {
        const json = await readBody(res);
        if (cancelled) return;
        if (!res.ok) throw toApiError(res.status, json);
        const m = json as { inputs?: TensorMeta[]; outputs?: TensorMeta[]; platform?: string };
        setMeta({ inputs: m.inputs ?? [], outputs: m.outputs ?? [], ...(m.platform ? { platform: m.platform } : {}) });
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (!cancelled) setError(err as ApiError);
      });
    return () => {
      cancelled = true;
    };
  }, [metaUrl, ready, d.protocol]);
  return { meta, error };
}

function Result({ outcome, error }: { outcome: Outcome | null; error: ApiError | undefined }) {
  if (error) return <ErrorAlert error={error} title="The request did not complete" />;
  if (!outcome) return <div className="empty">Send a request to see the status, latency and response here.</div>;
  const ok = outcome.status >= 200 && outcome.status < 300;
  const outputs = ok && typeof outcome.body === 'object' && outcome.body !== null && Array.isArray((outcome.body as { outputs?: unknown }).outputs) ? ((outcome.body as { outputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] }).outputs) : null;
  return (
    <div className="stack" style={{ gap: 10 }} aria-live="polite">
      <div className="row" style={{ gap: 14 }}>
        <StateBadge state={ok ? 'succeeded' : 'failed'} label={`HTTP ${outcome.status}`} />
        <span>
          <span className="faint">latency</span> <strong>{formatMs(outcome.ms)}</strong>
        </span>
        {outcome.ttftMs !== undefined ? (
          <span>
            <span className="faint">first token</span> <strong>{formatMs(outcome.ttftMs)}</strong>
          </span>
        ) : null}
        {outcome.replica ? <span className="faint small">replica {outcome.replica}</span> : null}
        {outcome.requestId ? <span className="faint small mono">{outcome.requestId}</span> : null}
      </div>
      {outcome.text !== undefined ? (
        <div className="alert info">
          <div className="title">Response</div>
          <div style={{ whiteSpace: 'pre-wrap' }}>{outcome.text}</div>
        </div>
      ) : null}
      {outputs ? (
        <table className="data" aria-label="Model outputs">
          <thead>
            <tr>
              <th>Output</th>
              <th>Datatype</th>
              <th>Shape</th>
              <th>Data</th>
            </tr>
          </thead>
          <tbody>
            {outputs.map((o) => (
              <tr key={o.name}>
                <td className="name">{o.name}</td>
                <td className="mono">{o.datatype}</td>
                <td className="mono">[{o.shape.join(', ')}]</td>
                <td className="mono">{JSON.stringify(o.data.slice(0, 32)).replace(/,/g, ', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <CodeBlock label="Response body" code={typeof outcome.body === 'string' ? outcome.body : compactJson(outcome.body)} wrap />
    </div>
  );
}

function OpenAiTry({ d }: { d: Deployment }) {
  const [message, setMessage] = useState('Hello! In one sentence, what are you?');
  const [maxTokens, setMaxTokens] = useState('48');
  const [stream, setStream] = useState(true);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<ApiError | undefined>();
  const base = d.urls.openai ?? '';
  const model = d.urls.model ?? d.name;

  const send = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setOutcome(null);
    const body = { model, messages: [{ role: 'user', content: message }], max_tokens: Number(maxTokens) || 48, stream };
    const t0 = performance.now();
    try {
      const res = await authedFetch(`${base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const meta = { status: res.status, requestId: res.headers.get('x-request-id'), replica: res.headers.get('x-catapult-replica') };
      if (stream && res.ok && res.body && (res.headers.get('content-type') ?? '').includes('text/event-stream')) {
        let text = '';
        let ttftMs: number | undefined;
        const chunks: unknown[] = [];
        const parser = new SseParser((m) => {
          if (m.data === '[DONE]') return;
          try {
            const chunk = JSON.parse(m.data) as { choices?: { delta?: { content?: string } }[] };
            chunks.push(chunk);
            const piece = chunk.choices?.[0]?.delta?.content ?? '';
            if (piece && ttftMs === undefined) ttftMs = performance.now() - t0;
            text += piece;
            setOutcome({ ...meta, ms: performance.now() - t0, ...(ttftMs !== undefined ? { ttftMs } : {}), text, body: `${chunks.length} chunks…` });
          } catch {
            // a keep-alive or non-JSON line
          }
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
        }
        setOutcome({ ...meta, ms: performance.now() - t0, ...(ttftMs !== undefined ? { ttftMs } : {}), text, body: chunks.at(-1) ?? '' });
      } else {
        const json = await readBody(res);
        const ms = performance.now() - t0;
        const text = (json as { choices?: { message?: { content?: string } }[] }).choices?.[0]?.message?.content;
        setOutcome({ ...meta, ms, body: json, ...(text !== undefined ? { text } : {}) });
        if (!res.ok) setError(toApiError(res.status, json));
      }
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="split">
      <Panel title="Request" meta={`POST ${base}/chat/completions`}>
        <form className="form" onSubmit={(e) => void send(e)} aria-label="Chat completion request">
          <TextAreaField label="Message" rows={4} value={message} onChange={(e) => setMessage(e.target.value)} />
          <div className="form-grid">
            <TextField label="Max tokens" type="number" min={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} />
            <CheckField label="Stream tokens" checked={stream} onChange={(e) => setStream(e.target.checked)} hint="Shows time to first token" />
          </div>
          <div className="form-actions">
            <button type="submit" className="btn primary" disabled={busy || d.replicas.ready === 0}>
              <Icon name="send" />
              {busy ? 'Sending…' : 'Send request'}
            </button>
            {d.replicas.ready === 0 ? <span className="warn-text">No replica is ready yet.</span> : <span className="faint">Sent through the gateway with your key.</span>}
          </div>
        </form>
      </Panel>
      <Panel title="Response">
        <Result outcome={outcome} error={error} />
      </Panel>
    </div>
  );
}

function KserveTry({ d }: { d: Deployment }) {
  const inferUrl = d.urls['kserve-v2'] ?? '';
  const { meta, error: metaError } = useKserveMetadata(d);
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<ApiError | undefined>();
  const ready = d.replicas.ready > 0;

  useEffect(() => {
    if (meta) setBody((b) => b || compactJson(exampleInferBody(meta.inputs)));
  }, [meta]);

  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      JSON.parse(body);
    } catch (err) {
      setError(new ApiError(0, 'JSON', `The request body is not JSON: ${(err as Error).message}`, 'Fix the body and send again.'));
      return;
    }
    setBusy(true);
    setOutcome(null);
    const t0 = performance.now();
    try {
      const res = await authedFetch(inferUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const json = await readBody(res);
      setOutcome({ status: res.status, ms: performance.now() - t0, body: json, requestId: res.headers.get('x-request-id'), replica: res.headers.get('x-catapult-replica') });
      if (!res.ok) setError(toApiError(res.status, json));
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="split">
      <Panel title="Request" meta={`POST ${inferUrl}`}>
        <form className="form" onSubmit={(e) => void send(e)} aria-label="Inference request">
          <ErrorAlert error={metaError} title="The model's metadata could not be read" />
          {meta ? (
            <table className="data" aria-label="Model inputs">
              <thead>
                <tr>
                  <th>Input</th>
                  <th>Datatype</th>
                  <th>Shape</th>
                </tr>
              </thead>
              <tbody>
                {meta.inputs.map((i) => (
                  <tr key={i.name}>
                    <td className="name">{i.name}</td>
                    <td className="mono">{i.datatype}</td>
                    <td className="mono">[{i.shape.join(', ')}]</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <TextAreaField label="Request body (KServe v2 JSON)" rows={10} value={body} onChange={(e) => setBody(e.target.value)} hint="Built from the model's metadata; dynamic dimensions are 1." />
          <div className="form-actions">
            <button type="submit" className="btn primary" disabled={busy || !ready || body === ''}>
              <Icon name="send" />
              {busy ? 'Sending…' : 'Send request'}
            </button>
            {!ready ? <span className="warn-text">No replica is ready yet.</span> : <span className="faint">Sent through the gateway with your key.</span>}
          </div>
        </form>
      </Panel>
      <Panel title="Response">
        <Result outcome={outcome} error={error} />
      </Panel>
    </div>
  );
}

function HttpTry({ d }: { d: Deployment }) {
  const base = d.urls.http ?? '';
  const [path, setPath] = useState('/');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<ApiError | undefined>();
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const t0 = performance.now();
    try {
      const res = await authedFetch(base + (path.startsWith('/') ? path : `/${path}`));
      const json = await readBody(res);
      setOutcome({ status: res.status, ms: performance.now() - t0, body: json, requestId: res.headers.get('x-request-id'), replica: res.headers.get('x-catapult-replica') });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="split">
      <Panel title="Request" meta={`GET ${base}…`}>
        <form className="form" onSubmit={(e) => void send(e)} aria-label="HTTP request">
          <TextField label="Path" value={path} onChange={(e) => setPath(e.target.value)} hint="Appended to the deployment's gateway URL" />
          <div className="form-actions">
            <button type="submit" className="btn primary" disabled={busy}>
              <Icon name="send" />
              Send request
            </button>
          </div>
        </form>
      </Panel>
      <Panel title="Response">
        <Result outcome={outcome} error={error} />
      </Panel>
    </div>
  );
}

/** Sends a request through the data-plane gateway, as a client would, with the signed-in key. */
export function TryIt({ d }: { d: Deployment }) {
  if (d.protocol === 'openai') return <OpenAiTry d={d} />;
  if (d.protocol === 'kserve-v2') return <KserveTry d={d} />;
  return <HttpTry d={d} />;
}
