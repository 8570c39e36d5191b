import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { Field, useAction } from "../components";
import { Listing, when } from "../table";

interface AccessEvent {
  at: string;
  kind: string;
  principal: string;
  roles: string[];
  datasheet: string | null;
  fields: string[];
  records: string[];
  purpose: string | null;
  ip: string | null;
}

const EVENT_FIELDS = "at kind principal roles datasheet fields records purpose ip";
type Mode = "record" | "principal" | "logins";

/** Who saw what: by record, by principal, and sign-ins. */
export function AccessLog() {
  const [mode, setMode] = useState<Mode>("record");
  const [datasheet, setDatasheet] = useState("employees");
  const [id, setId] = useState("");
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [events, setEvents] = useState<AccessEvent[] | null>(null);
  const { busy: loading, error, run } = useAction();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      type Page = { nodes: AccessEvent[] };
      const iso = (value: string, fallback: Date) =>
        (value ? new Date(value) : fallback).toISOString();
      const data =
        mode === "record"
          ? (
              await gql<{ recordAccess: Page }>(
                `query ByRecord($d: String!, $id: ID!) { recordAccess(datasheet: $d, id: $id, first: 100) { nodes { ${EVENT_FIELDS} } } }`,
                { d: datasheet.trim(), id: id.trim() },
              )
            ).recordAccess
          : mode === "principal"
            ? (
                await gql<{ principalAccess: Page }>(
                  `query ByPrincipal($p: ID!, $s: DateTime!, $u: DateTime!) { principalAccess(principal: $p, since: $s, until: $u, first: 100) { nodes { ${EVENT_FIELDS} } } }`,
                  {
                    p: id.trim(),
                    s: iso(since, new Date(Date.now() - 7 * 864e5)),
                    u: iso(until, new Date()),
                  },
                )
              ).principalAccess
            : (
                await gql<{ loginHistory: Page }>(
                  `query Logins($u: ID) { loginHistory(userId: $u, first: 100) { nodes { ${EVENT_FIELDS} } } }`,
                  { u: id.trim() || null },
                )
              ).loginHistory;
      setEvents(data.nodes);
    });
  };

  return (
    <section aria-labelledby="access-title">
      <h1 id="access-title">Access log</h1>
      <form onSubmit={submit} aria-label="Access log query">
        <fieldset>
          <legend>Show</legend>
          {(
            [
              ["record", "Who saw a record"],
              ["principal", "What a user or key saw"],
              ["logins", "Sign-ins"],
            ] as const
          ).map(([value, label]) => (
            <label key={value} className="inline">
              <input
                type="radio"
                name="access-mode"
                checked={mode === value}
                onChange={() => {
                  setMode(value);
                  setEvents(null);
                }}
              />
              {label}
            </label>
          ))}
        </fieldset>
        {mode === "record" && (
          <Field label="Datasheet" value={datasheet} onChange={setDatasheet} required />
        )}
        <label>
          {mode === "record"
            ? "Record id"
            : mode === "principal"
              ? "User or API key id"
              : "User id (empty: everyone)"}
          <input required={mode !== "logins"} value={id} onChange={(e) => setId(e.target.value)} />
        </label>
        {mode === "principal" && (
          <>
            <Field
              label="Since (default: a week ago)"
              value={since}
              onChange={setSince}
              type="datetime-local"
            />
            <Field
              label="Until (default: now)"
              value={until}
              onChange={setUntil}
              type="datetime-local"
            />
          </>
        )}
        <button type="submit">Show</button>
      </form>
      <Listing
        what="access events"
        empty="Nothing recorded."
        source={{ data: events, loading, error }}
        rowKey={(_, i) => i}
        columns={[
          { header: "At", cell: (e) => when(e.at) },
          { header: "Kind", cell: (e) => e.kind },
          { header: "Principal", cell: (e) => e.principal },
          { header: "Roles", cell: (e) => e.roles.join(", ") },
          { header: "Datasheet", cell: (e) => e.datasheet ?? "" },
          { header: "Fields", cell: (e) => e.fields.join(", ") },
          {
            header: "Records",
            cell: (e) =>
              e.records.length > 3
                ? `${e.records.slice(0, 3).join(", ")} +${e.records.length - 3}`
                : e.records.join(", "),
          },
          { header: "Purpose", cell: (e) => e.purpose ?? "" },
          { header: "IP", cell: (e) => e.ip ?? "" },
        ]}
      />
    </section>
  );
}
