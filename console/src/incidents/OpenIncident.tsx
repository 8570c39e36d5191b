import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { ErrorBox, Field, TextBox, useAction, useLoad } from "../components";
import { navigate } from "../router";
import { isoOf, KIND_LABELS, localNow, type CompromisedKind } from "./model";

const KINDS: CompromisedKind[] = ["USER", "API_KEY", "SESSION", "EXPORT_LINK"];

interface Row {
  kind: CompromisedKind;
  id: string;
}

interface Choice {
  id: string;
  label: string;
}

/** Users and API keys to pick from by name (sessions and export links are named by id). */
function useChoices() {
  return useLoad(async () => {
    const data = await gql<{
      users: { id: string; email: string }[];
      apiKeys: { id: string; name: string; revoked: boolean }[];
    }>("query Principals { users { id email } apiKeys { id name revoked } }");
    const choices: Partial<Record<CompromisedKind, Choice[]>> = {
      USER: data.users.map((u) => ({ id: u.id, label: u.email })),
      API_KEY: data.apiKeys.map((k) => ({
        id: k.id,
        label: k.revoked ? `${k.name} (revoked)` : k.name,
      })),
    };
    return choices;
  }, []);
}

/** Open an incident: what was compromised, and the window in which it may have been used. */
export function OpenIncident() {
  const [rows, setRows] = useState<Row[]>([{ kind: "USER", id: "" }]);
  const [start, setStart] = useState(() => localNow(-24 * 3600_000));
  const [end, setEnd] = useState("");
  const [nature, setNature] = useState("");
  const [detected, setDetected] = useState("");
  const choices = useChoices();
  const { busy, error, run } = useAction();

  const change = (index: number, row: Row) => setRows(rows.map((r, i) => (i === index ? row : r)));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const data = await gql<{ openIncident: { id: string } }>(
        `mutation OpenIncident($i: OpenIncidentInput!) { openIncident(input: $i) { id } }`,
        {
          i: {
            compromised: rows.map((r) => ({ kind: r.kind, id: r.id.trim() })),
            windowStart: isoOf(start),
            windowEnd: end ? isoOf(end) : null,
            nature: nature.trim() || null,
            detectedAt: detected ? isoOf(detected) : null,
          },
        },
      );
      navigate(`/incidents/${encodeURIComponent(data.openIncident.id)}`);
    });
  };

  return (
    <form onSubmit={submit} aria-labelledby="open-incident-title">
      <h2 id="open-incident-title">Open an incident</h2>
      <ErrorBox error={choices.error} />
      {rows.map((row, i) => {
        const n = i + 1;
        const options = choices.data?.[row.kind];
        return (
          <fieldset key={i} className="condition">
            <legend>Compromised {n}</legend>
            <label>
              Kind
              <select
                aria-label={`Compromised ${n} kind`}
                value={row.kind}
                onChange={(e) => change(i, { kind: e.target.value as CompromisedKind, id: "" })}
              >
                {KINDS.map((k) => (
                  <option key={k} value={k}>
                    {KIND_LABELS[k]}
                  </option>
                ))}
              </select>
            </label>
            {options ? (
              <label>
                Which
                <select
                  aria-label={`Compromised ${n} which`}
                  required
                  value={row.id}
                  onChange={(e) => change(i, { ...row, id: e.target.value })}
                >
                  <option value="">Choose…</option>
                  {options.map((o) => (
                    <option key={o.id} value={o.id}>
                      {o.label}
                    </option>
                  ))}
                </select>
              </label>
            ) : (
              <label>
                Id
                <input
                  aria-label={`Compromised ${n} id`}
                  required
                  value={row.id}
                  onChange={(e) => change(i, { ...row, id: e.target.value })}
                />
              </label>
            )}
            {rows.length > 1 && (
              <button type="button" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
                Remove compromised {n}
              </button>
            )}
          </fieldset>
        );
      })}
      <button type="button" onClick={() => setRows([...rows, { kind: "USER", id: "" }])}>
        Add another
      </button>
      <Field
        label="Window start (since when it may have been used)"
        value={start}
        onChange={setStart}
        type="datetime-local"
        required
      />
      <Field
        label="Window end (empty: still open)"
        value={end}
        onChange={setEnd}
        type="datetime-local"
      />
      <Field
        label="Became known at (empty: now; starts the 72-hour clock)"
        value={detected}
        onChange={setDetected}
        type="datetime-local"
      />
      <TextBox label="Nature of the breach" value={nature} onChange={setNature} />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        Open the incident
      </button>
    </form>
  );
}
