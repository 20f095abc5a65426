import { useNavigate, useParams } from 'react-router';
import { useSession } from '../auth/session';
import { Tabs } from '../components/Tabs';
import { Empty, PageHead } from '../components/ui';
import Audit from './admin/Audit';
import JoinTokens from './admin/JoinTokens';
import Keys from './admin/Keys';

const TABS = ['keys', 'join-tokens', 'audit'] as const;
type Tab = (typeof TABS)[number];

export default function Admin() {
  const session = useSession();
  const { tab: raw } = useParams();
  const navigate = useNavigate();
  const tab: Tab = (TABS as readonly string[]).includes(raw ?? '') ? (raw as Tab) : 'keys';
  if (!session.can('admin')) {
    return (
      <div className="page">
        <PageHead title="Admin" />
        <Empty title="Admin needs an admin key">API keys, join tokens and the audit log are open to keys with the admin scope only.</Empty>
      </div>
    );
  }
  return (
    <div className="page">
      <PageHead title="Admin" sub="Who may call the API and the gateway, which machines may join, and what was changed." />
      <Tabs
        label="Admin"
        tabs={[
          { key: 'keys', label: 'API keys' },
          { key: 'join-tokens', label: 'Join tokens' },
          { key: 'audit', label: 'Audit log' },
        ]}
        selected={tab}
        onSelect={(t) => void navigate(`/admin/${t}`, { replace: true })}
      >
        {tab === 'keys' ? <Keys /> : tab === 'join-tokens' ? <JoinTokens /> : <Audit />}
      </Tabs>
    </div>
  );
}
