// The one shape every list in the console has: its refusal, a loading state, an empty state,
// then a table of rows with a header per column.
import type { ReactNode } from "react";
import { Empty, ErrorBox, Loading } from "./components";

export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  className?: string;
}

export interface TableProps<T> {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T, index: number) => string | number;
  /** The table's accessible name. */
  label?: string;
  testId?: string;
  /** In a focusable box that scrolls sideways (wide tables). */
  scroll?: boolean;
  className?: string;
}

export function DataTable<T>(props: TableProps<T>) {
  const { rows, columns, rowKey, label, testId, scroll, className } = props;
  const table = (
    <table className={className} data-testid={testId} aria-label={scroll ? undefined : label}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" key={c.header}>
              {c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={rowKey(row, i)}>
            {columns.map((c) => (
              <td key={c.header} className={c.className}>
                {c.cell(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
  if (!scroll) return table;
  return (
    <div className="scroll" tabIndex={0} aria-label={label}>
      {table}
    </div>
  );
}

/** Rows as they load (`useLoad`'s answer, or rows at hand with `loading: false`). */
export interface Source<T> {
  data: T[] | null | undefined;
  loading: boolean;
  error?: unknown;
}

export interface ListingProps<T> extends Omit<TableProps<T>, "rows"> {
  /** What is loading, for the loading state ("API keys"). */
  what: string;
  /** Said when there are no rows. */
  empty: ReactNode;
  source: Source<T>;
}

/** A list's refusal, loading and empty states, then its table. */
export function Listing<T>({ what, empty, source, ...table }: ListingProps<T>) {
  const { data: rows, loading, error } = source;
  return (
    <>
      <ErrorBox error={error} />
      {loading && !rows && <Loading what={what} />}
      {rows && rows.length === 0 && <Empty>{empty}</Empty>}
      {rows && rows.length > 0 && <DataTable rows={rows} {...table} />}
    </>
  );
}

/** A time as the admin's browser shows times; *none* when there is none. */
export function when(iso: string | null | undefined, none = ""): string {
  return iso ? new Date(iso).toLocaleString() : none;
}

/** A link the gateway built from the request's own base URL, on this origin. */
export function sameOrigin(url: string): string {
  const parsed = new URL(url, window.location.href);
  return parsed.pathname + parsed.search;
}
