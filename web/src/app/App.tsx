import { Suspense, lazy } from 'react';
import { BrowserRouter, Route, Routes } from 'react-router';
import { EventsProvider } from '../api/events';
import { SessionProvider, useSession, useSessionState } from '../auth/session';
import { ToastProvider } from '../components/Toast';
import { Loading } from '../components/ui';
import Overview from '../pages/Overview';
import { Layout } from './Layout';
import { NotFound } from './NotFound';
import { SignInForm } from './SignIn';

// Pages beyond the overview load on first visit, so the first page a user sees stays small.
const Workers = lazy(() => import('../pages/Workers'));
const WorkerDetail = lazy(() => import('../pages/WorkerDetail'));
const Models = lazy(() => import('../pages/Models'));
const ModelDetail = lazy(() => import('../pages/ModelDetail'));
const Deployments = lazy(() => import('../pages/Deployments'));
const DeploymentNew = lazy(() => import('../pages/DeploymentNew'));
const DeploymentDetail = lazy(() => import('../pages/DeploymentDetail'));
const Benchmarks = lazy(() => import('../pages/bench/Benchmarks'));
const BenchmarkNew = lazy(() => import('../pages/bench/BenchmarkNew'));
const BenchmarkDetail = lazy(() => import('../pages/bench/BenchmarkDetail'));
const BenchmarkCompare = lazy(() => import('../pages/bench/BenchmarkCompare'));
const Tasks = lazy(() => import('../pages/Tasks'));
const Admin = lazy(() => import('../pages/Admin'));

function Console() {
  const session = useSession();
  return (
    <EventsProvider apiKey={session.key} enabled={session.can('read')}>
      <Layout>
        <Suspense fallback={<div className="page"><Loading rows={5} /></div>}>
          <Routes>
            <Route path="/" element={<Overview />} />
            <Route path="/workers" element={<Workers />} />
            <Route path="/workers/:id" element={<WorkerDetail />} />
            <Route path="/models" element={<Models />} />
            <Route path="/models/:id" element={<ModelDetail />} />
            <Route path="/deployments" element={<Deployments />} />
            <Route path="/deployments/new" element={<DeploymentNew />} />
            <Route path="/deployments/:id" element={<DeploymentDetail />} />
            <Route path="/benchmarks" element={<Benchmarks />} />
            <Route path="/benchmarks/new" element={<BenchmarkNew />} />
            <Route path="/benchmarks/compare" element={<BenchmarkCompare />} />
            <Route path="/benchmarks/:id" element={<BenchmarkDetail />} />
            <Route path="/tasks" element={<Tasks />} />
            <Route path="/admin" element={<Admin />} />
            <Route path="/admin/:tab" element={<Admin />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </Layout>
    </EventsProvider>
  );
}

function Gate() {
  const { session, signIn, endedBecause, restoring } = useSessionState();
  if (restoring) return <div className="signin" role="status" aria-label="Checking the saved key" />;
  if (!session) return <SignInForm onSignIn={signIn} endedBecause={endedBecause} />;
  return <Console />;
}

export function App() {
  return (
    <BrowserRouter>
      <SessionProvider>
        <ToastProvider>
          <Gate />
        </ToastProvider>
      </SessionProvider>
    </BrowserRouter>
  );
}
