import type { ReactNode } from 'react';
import { Loading } from './ui';

/**
 * The list pattern every page repeats: a loading skeleton while the first answer is on its way,
 * an empty state when there are no rows, otherwise a scrollable data table.
 */
export function DataTable<T>({
  loading = false,
  rows,
  empty,
  head,
  row,
  label,
}: {
  /** True until the first answer arrives (a reload keeps showing the table). */
  loading?: boolean;
  rows: readonly T[];
  /** Shown instead of the table when there are no rows (usually an `<Empty>`); without it, an empty table. */
  empty?: ReactNode;
  /** The header cells (`<th>`s). */
  head: ReactNode;
  /** One `<tr>` (with its key) per row. */
  row: (item: T, index: number) => ReactNode;
  /** The table's accessible name, when the panel around it does not give one. */
  label?: string;
}) {
  if (loading) return <Loading />;
  if (rows.length === 0 && empty !== undefined) return <>{empty}</>;
  return (
    <div className="table-wrap">
      <table className="data" aria-label={label}>
        <thead>
          <tr>{head}</tr>
        </thead>
        <tbody>{rows.map(row)}</tbody>
      </table>
    </div>
  );
}
