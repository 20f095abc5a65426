import { Link } from 'react-router';
import { Empty, PageHead } from '../components/ui';

export function NotFound() {
  return (
    <div className="page">
      <PageHead title="Not found" />
      <Empty title="No such page">
        <Link to="/">Back to the overview</Link>
      </Empty>
    </div>
  );
}
