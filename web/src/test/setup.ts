import { cleanup } from '@testing-library/react';
import { afterEach, beforeEach, vi } from 'vitest';
import { serveFixtures } from './render';

// Component tests never reach a network: anything a test does not answer is a 404 problem.
beforeEach(() => {
  serveFixtures({});
});

// Testing Library unmounts between tests only when vitest globals are on; they are not here.
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
  localStorage.clear();
});
