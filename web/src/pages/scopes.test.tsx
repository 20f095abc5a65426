import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { renderAt, serveFixtures } from '../test/render';
import DeploymentNew from './DeploymentNew';
import Deployments from './Deployments';
import Models from './Models';
import { TaskActions } from './Tasks';
import Benchmarks from './bench/Benchmarks';

const task = (state: string) =>
  ({
    id: 'task_1',
    queue: 'deployments',
    kind: 'reconcile',
    payload: {},
    priority: 0,
    state,
    attempts: 3,
    maxAttempts: 3,
    runAt: 0,
    lease: null,
    cancelRequestedAt: null,
    idempotencyKey: null,
    result: null,
    error: null,
    createdAt: 0,
    updatedAt: 0,
    startedAt: null,
    finishedAt: null,
  }) as Parameters<typeof TaskActions>[0]['t'];

describe('what a key may not do is not offered', () => {
  it('a read key sees deployments and models but no button to create either', async () => {
    serveFixtures({ 'GET /api/v1/deployments': { body: { items: [] } }, 'GET /api/v1/models': { body: { items: [] } } });
    renderAt(<Deployments />, { scopes: ['read'] });
    await screen.findByText('No deployments');
    expect(screen.queryByRole('link', { name: 'New deployment' })).toBeNull();
  });

  it('a deploy key is offered to create deployments and register models', async () => {
    serveFixtures({ 'GET /api/v1/deployments': { body: { items: [] } }, 'GET /api/v1/models': { body: { items: [] } } });
    renderAt(
      <>
        <Deployments />
        <Models />
      </>,
      { scopes: ['deploy'] },
    );
    expect(await screen.findByRole('link', { name: 'New deployment' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Register model' })).toBeTruthy();
  });

  it('only a bench key may start benchmarks', async () => {
    serveFixtures({ 'GET /api/v1/benchmarks': { body: { items: [], nextCursor: null } } });
    const read = renderAt(<Benchmarks />, { scopes: ['read'] });
    await screen.findByText('No benchmarks yet');
    expect(screen.queryByRole('link', { name: 'New benchmark' })).toBeNull();
    read.unmount();
    renderAt(<Benchmarks />, { scopes: ['bench'] });
    expect(await screen.findByRole('link', { name: 'New benchmark' })).toBeTruthy();
  });

  it('retry and cancel are offered on tasks only to keys that may change them', () => {
    const read = renderAt(<TaskActions t={task('dead')} canChange={false} onChanged={() => undefined} />, { scopes: ['read'] });
    expect(screen.queryByRole('button')).toBeNull();
    read.unmount();
    renderAt(
      <>
        <TaskActions t={task('dead')} canChange onChanged={() => undefined} />
        <TaskActions t={task('queued')} canChange onChanged={() => undefined} />
      </>,
      { scopes: ['deploy'] },
    );
    expect(screen.getByRole('button', { name: 'Retry task task_1' })).toBeTruthy();
    expect(screen.getAllByRole('button').map((b) => b.textContent)).toEqual(['Retry', 'Cancel']);
  });

  it('a read key opening the new-deployment page is told why it cannot', () => {
    renderAt(<DeploymentNew />, { scopes: ['read'] });
    expect(screen.getByText('This key cannot create deployments')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Create deployment' })).toBeNull();
  });
});

describe('a refused deployment', () => {
  it('shows the API’s detail and hint, and each field error next to its field', async () => {
    const calls = serveFixtures({
      'GET /api/v1/runtimes': { body: { items: [{ name: 'onnx', kind: 'builtin', description: 'ONNX models', protocol: 'kserve-v2', requiresModel: true, formats: ['onnx'], gpu: 'optional', cpu: 1, memoryBytes: 0 }] } },
      'GET /api/v1/models': { body: { items: [] } },
      'POST /api/v1/deployments': {
        status: 400,
        body: {
          code: 'CATAPULT_VALIDATION_FAILED',
          detail: 'The request body failed validation.',
          hint: 'Fix the fields listed in `errors` and send the request again.',
          errors: [{ path: 'body/name', message: 'lower-case letters, digits, dots, dashes and underscores, 1-63 characters' }],
        },
      },
    });
    renderAt(<DeploymentNew />, { scopes: ['deploy'] });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Name'), 'Bad Name');
    await waitFor(() => expect(screen.getByRole('option', { name: /onnx/ })).toBeTruthy());
    await user.selectOptions(screen.getByLabelText('Runtime'), 'onnx');
    await user.click(screen.getByRole('button', { name: 'Create deployment' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The request body failed validation.');
    expect(alert.textContent).toContain('Fix the fields listed');
    const name = screen.getByLabelText('Name');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    const described = name.getAttribute('aria-describedby')!.split(' ').map((id) => document.getElementById(id)?.textContent);
    expect(described).toContain('lower-case letters, digits, dots, dashes and underscores, 1-63 characters');
    // The error is shown at the field, not repeated in the summary.
    expect(alert.textContent).not.toContain('1-63 characters');
    expect(calls.requests.find((r) => r.method === 'POST')?.body).toMatchObject({ name: 'Bad Name', runtime: 'onnx', replicas: 1 });
  });

  it('stops a form with a bad replica count before it is sent', async () => {
    const calls = serveFixtures({ 'GET /api/v1/runtimes': { body: { items: [] } }, 'GET /api/v1/models': { body: { items: [] } } });
    renderAt(<DeploymentNew />, { scopes: ['deploy'] });
    const user = userEvent.setup();
    await user.clear(screen.getByLabelText('Replicas'));
    await user.click(screen.getByRole('button', { name: 'Create deployment' }));
    expect(screen.getByLabelText('Replicas').getAttribute('aria-invalid')).toBe('true');
    expect(calls.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });
});

describe('a deployment written as YAML', () => {
  it('marks the line of a field the server refused', async () => {
    serveFixtures({
      'GET /api/v1/runtimes': { body: { items: [] } },
      'GET /api/v1/models': { body: { items: [] } },
      'POST /api/v1/deployments': {
        status: 400,
        body: {
          code: 'CATAPULT_VALIDATION_FAILED',
          detail: 'The request body failed validation.',
          hint: 'Fix the fields listed in `errors`.',
          errors: [{ path: 'body/replicas', message: 'Too small: expected number to be >=0' }],
        },
      },
    });
    renderAt(<DeploymentNew />, { scopes: ['deploy'] });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Name'), 'web');
    await user.click(screen.getByRole('tab', { name: 'YAML' }));
    // The form carried over: the YAML holds the name typed in the form.
    const editor = await screen.findByRole('textbox', { name: 'Deployment spec' });
    expect(editor.textContent).toContain('name: web');
    await user.click(screen.getByRole('button', { name: 'Create deployment' }));
    const problems = await screen.findByRole('list', { name: 'Problems in the YAML' });
    // The line the user sees `replicas:` on, counting the editor's lines from 1.
    const lineOfReplicas = [...editor.querySelectorAll('.cm-line')].findIndex((l) => l.textContent?.startsWith('replicas:')) + 1;
    expect(lineOfReplicas).toBeGreaterThan(0);
    expect(problems.textContent).toMatch(/^Line \d+:\d+replicas Too small/);
    expect(problems.textContent).toContain(`Line ${lineOfReplicas}`);
    expect((await screen.findByRole('alert')).textContent).toContain('The request body failed validation.');
  });
});
