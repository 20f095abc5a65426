import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { SessionFixture } from '../auth/session';
import { renderAt, serveFixtures, unlabelledControls } from '../test/render';
import { CreateTokenForm } from './admin/JoinTokens';
import { CreateKeyForm } from './admin/Keys';
import { DeploymentFormFields, EMPTY_FORM } from './DeploymentNew';
import { RegisterModelForm } from './Models';
import { TryIt } from './TryIt';
import BenchmarkNew from './bench/BenchmarkNew';
import type { Deployment } from './Deployments';

const never = () => new Promise<never>(() => undefined);

const deployment = (protocol: string, urls: Record<string, string>): Deployment =>
  ({
    id: 'dep_1',
    name: 'demo',
    modelId: null,
    runtime: 'simulator',
    protocol,
    spec: {},
    generation: 1,
    state: 'active',
    reason: null,
    conditions: [],
    urls,
    replicas: { desired: 1, ready: 1, total: 1, items: [] },
    createdAt: 0,
    updatedAt: 0,
  });

describe('every input on every form has a label', () => {
  it('(the check finds an input nobody labelled)', () => {
    const { container } = render(
      <div>
        <label htmlFor="a">A</label>
        <input id="a" />
        <input placeholder="no label" />
      </div>,
    );
    expect(unlabelledControls(container)).toHaveLength(1);
  });

  it('register a model', () => {
    const { container } = render(<RegisterModelForm register={never} onDone={() => undefined} />);
    expect(container.querySelectorAll('input, textarea').length).toBeGreaterThanOrEqual(5);
    expect(unlabelledControls(container)).toEqual([]);
  });

  it('create an API key and a join token', () => {
    const { container } = render(
      <>
        <CreateKeyForm create={never} onCreated={() => undefined} />
        <CreateTokenForm create={never} onCreated={() => undefined} />
      </>,
    );
    expect(container.querySelectorAll('input, select, textarea').length).toBeGreaterThanOrEqual(12);
    expect(unlabelledControls(container)).toEqual([]);
  });

  it('create a deployment', () => {
    const { container } = render(<DeploymentFormFields form={EMPTY_FORM} set={() => undefined} runtimes={[]} models={[]} error={undefined} />);
    expect(container.querySelectorAll('input, select, textarea').length).toBeGreaterThanOrEqual(14);
    expect(unlabelledControls(container)).toEqual([]);
  });

  it('try a chat model and an HTTP deployment', () => {
    const { container } = render(
      <MemoryRouter>
        <SessionFixture scopes={['read']}>
          <TryIt d={deployment('openai', { openai: 'http://127.0.0.1:8000/v1', model: 'demo' })} />
          <TryIt d={deployment('http', { http: 'http://127.0.0.1:8000/v2/models/md-dep_1' })} />
        </SessionFixture>
      </MemoryRouter>,
    );
    expect(container.querySelectorAll('input, textarea').length).toBeGreaterThanOrEqual(4);
    expect(unlabelledControls(container)).toEqual([]);
  });

  it('create a benchmark, in the form and in the YAML editor', async () => {
    serveFixtures({
      'GET /api/v1/deployments': { body: { items: [deployment('openai', { openai: 'http://127.0.0.1:8000/v1' })] } },
      'POST /api/v1/benchmarks/validate': { body: { valid: true, errors: [] } },
    });
    renderAt(<BenchmarkNew />, { scopes: ['bench'] });
    await screen.findByRole('textbox', { name: 'Recipe' });
    expect(unlabelledControls(document.body)).toEqual([]);
    await userEvent.click(screen.getByRole('tab', { name: 'Form' }));
    await screen.findByLabelText('Concurrency');
    expect(document.body.querySelectorAll('input, select').length).toBeGreaterThanOrEqual(15);
    expect(unlabelledControls(document.body)).toEqual([]);
  });
});

describe('the join token form', () => {
  const submitted = async (choice: string | null) => {
    const bodies: unknown[] = [];
    render(<CreateTokenForm create={(body) => (bodies.push(body), never())} onCreated={() => undefined} />);
    if (choice) await userEvent.selectOptions(screen.getByLabelText('Expires'), choice);
    await userEvent.click(screen.getByRole('button', { name: /create/i }));
    return bodies[0];
  };

  it('asks for a one-day token by default', async () => {
    expect(await submitted(null)).toEqual({ expiresInSeconds: 86_400 });
  });

  it('says "never" explicitly, since a token given no expiry lasts the server’s default', async () => {
    expect(await submitted('Never')).toEqual({ expiresAt: null });
  });
});
