import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { ErrorBox, useAction } from "../components";
import { Listing, when } from "../table";

interface Change {
  field: string;
  before: unknown;
  after: unknown;
}

interface Entry {
  sequence: number;
  at: string;
  actorKind: string;
  actorId: string;
  operation: string;
  datasheet: string | null;
  record: string | null;
  version: number | null;
  fields: string[];
  outcome: string | null;
  code: string | null;
  redacted: boolean;
  changes: Change[];
}

interface Verification {
  ok: boolean;
  entries: number;
  sealedThrough: number;
  unsealed: number;
  firstBadSequence: number | null;
  reason: string | null;
}

const FILTERS = ["actor", "datasheet", "record", "operation", "outcome"] as const;
type Filters = Record<(typeof FILTERS)[number] | "since" | "until", string>;
const NO_FILTERS: Filters = {
  actor: "",
  datasheet: "",
  record: "",
  operation: "",
  outcome: "",
  since: "",
  until: "",
};

function show(value: unknown): string {
  return value === null || value === undefined
    ? "∅"
    : typeof value === "string"
      ? value
      : JSON.stringify(value);
}

export function Audit() {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const { busy: loading, error, run } = useAction();

  const load = (after: string | null) =>
    run(async () => {
      const filter: Record<string, string> = {};
      for (const [key, value] of Object.entries(filters)) {
        if (value.trim())
          filter[key] =
            key === "since" || key === "until" ? new Date(value).toISOString() : value.trim();
      }
      const data = await gql<{
        auditLog: { nodes: Entry[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
      }>(
        `query Audit($after: String, $filter: AuditFilter) {
             auditLog(first: 50, after: $after, filter: $filter) {
               nodes { sequence at actorKind actorId operation datasheet record version fields
                       outcome code redacted changes { field before after } }
               pageInfo { hasNextPage endCursor } } }`,
        { after, filter },
      );
      setEntries((previous) => [...(after && previous ? previous : []), ...data.auditLog.nodes]);
      setCursor(data.auditLog.pageInfo.endCursor);
      setMore(data.auditLog.pageInfo.hasNextPage);
    });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void load(null);
  };

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <Verify />
      <form onSubmit={submit} className="filters" aria-label="Audit log filters">
        {FILTERS.map((key) => (
          <label key={key}>
            {key[0]?.toUpperCase() + key.slice(1)}
            <input
              value={filters[key]}
              onChange={(e) => setFilters({ ...filters, [key]: e.target.value })}
            />
          </label>
        ))}
        <label>
          Since
          <input
            type="datetime-local"
            value={filters.since}
            onChange={(e) => setFilters({ ...filters, since: e.target.value })}
          />
        </label>
        <label>
          Until
          <input
            type="datetime-local"
            value={filters.until}
            onChange={(e) => setFilters({ ...filters, until: e.target.value })}
          />
        </label>
        <button type="submit">Show entries</button>
      </form>
      <Listing
        what="audit entries"
        empty="No audit entries match."
        source={{ data: entries, loading, error }}
        scroll
        label="Audit entries"
        testId="audit"
        rowKey={(e) => e.sequence}
        columns={[
          { header: "#", cell: (e) => e.sequence },
          { header: "At", cell: (e) => when(e.at) },
          { header: "Actor", cell: (e) => `${e.actorKind} ${e.actorId}` },
          { header: "Operation", cell: (e) => e.operation },
          { header: "Datasheet", cell: (e) => e.datasheet ?? "" },
          { header: "Record", cell: (e) => e.record ?? "" },
          { header: "Version", cell: (e) => e.version ?? "" },
          { header: "Outcome", cell: (e) => [e.outcome, e.code].filter(Boolean).join(" ") },
          {
            header: "Changes",
            className: "changes",
            cell: (e) =>
              e.redacted
                ? "redacted"
                : e.changes.length > 0
                  ? e.changes
                      .map((c) => `${c.field}: ${show(c.before)} → ${show(c.after)}`)
                      .join("; ")
                  : e.fields.join(", "),
          },
        ]}
      />
      {more && (
        <button type="button" disabled={loading} onClick={() => void load(cursor)}>
          Load more
        </button>
      )}
    </section>
  );
}

function Verify() {
  const [result, setResult] = useState<Verification | null>(null);
  const { busy, error, run } = useAction();
  const verify = () => {
    setResult(null);
    return run(async () => {
      const data = await gql<{ auditVerify: Verification }>(
        "query Verify { auditVerify { ok entries sealedThrough unsealed firstBadSequence reason } }",
      );
      setResult(data.auditVerify);
    });
  };
  return (
    <div className="verify">
      <button type="button" disabled={busy} onClick={() => void verify()}>
        {busy ? "Verifying…" : "Verify the audit log"}
      </button>
      <ErrorBox error={error} />
      {result && (
        <p role="status" className={result.ok ? "ok" : "error"} data-testid="verify-result">
          {result.ok
            ? `Verified: ok. ${result.entries} entries, sealed through #${result.sealedThrough}, ${result.unsealed} not sealed yet.`
            : `Not ok: entry #${result.firstBadSequence ?? "?"} does not match (${result.reason ?? "no reason given"}).`}
        </p>
      )}
    </div>
  );
}
