import { useState } from "react";
import { ApiError, gql } from "../api";
import { ErrorBox, Field, Loading, useAction, useLoad } from "../components";
import { Link } from "../router";
import { Listing, when } from "../table";
import { Clock } from "./Clock";
import { Impact } from "./Impact";
import { describe, INCIDENT_FIELDS, NEXT, type Incident, type IncidentState } from "./model";
import { Reports } from "./Reports";

/** One incident: its clock, state, containment, impact and authority reports. */
export function IncidentDetail({ id }: { id: string }) {
  const loaded = useLoad(
    async () =>
      (
        await gql<{ incident: Incident | null }>(
          `query Incident($id: ID!) { incident(id: $id) { ${INCIDENT_FIELDS} } }`,
          { id },
        )
      ).incident,
    [id],
  );
  const incident = loaded.data;
  return (
    <section aria-labelledby="incident-title">
      <p>
        <Link to="/incidents">All incidents</Link>
      </p>
      <h1 id="incident-title">Incident {id}</h1>
      <ErrorBox error={loaded.error} />
      {loaded.loading && !incident && <Loading what="the incident" />}
      {loaded.data === null && <p className="muted empty">No such incident.</p>}
      {incident && <Body incident={incident} reload={loaded.reload} />}
    </section>
  );
}

function Body({ incident, reload }: { incident: Incident; reload: () => void }) {
  return (
    <>
      <p className="clock-line">
        72-hour clock: <Clock incident={incident} large />
      </p>
      <dl className="facts">
        <dt>State</dt>
        <dd data-testid="incident-state">
          {incident.state.toLowerCase()} (version {incident.version})
        </dd>
        <dt>Compromised</dt>
        <dd>{incident.compromised.map(describe).join(", ")}</dd>
        <dt>Window</dt>
        <dd>
          {when(incident.windowStart)} to {when(incident.windowEnd, "now (still open)")}
        </dd>
        <dt>Detected</dt>
        <dd>{when(incident.detectedAt)}</dd>
        <dt>Origin</dt>
        <dd>{[incident.origin, incident.rule].filter(Boolean).join(": ")}</dd>
        <dt>Nature</dt>
        <dd>{incident.nature ?? "not described yet"}</dd>
      </dl>
      <StateChange incident={incident} reload={reload} />
      <Containment incident={incident} reload={reload} />
      <Impact incident={incident} />
      <Reports incident={incident} reload={reload} />
      <section aria-labelledby="history-title">
        <h2 id="history-title">History</h2>
        <Listing
          what="history"
          empty="No state changes yet."
          source={{ data: incident.history, loading: false }}
          label="State changes"
          rowKey={(_, i) => i}
          columns={[
            { header: "At", cell: (h) => when(h.at) },
            { header: "From", cell: (h) => h.from?.toLowerCase() ?? "" },
            { header: "To", cell: (h) => h.to.toLowerCase() },
            { header: "By", cell: (h) => h.actorId ?? "" },
            { header: "Note", cell: (h) => h.note ?? "" },
          ]}
        />
      </section>
    </>
  );
}

/** Move the incident on, at the version shown; a stale version shows what changed. */
function StateChange({ incident, reload }: { incident: Incident; reload: () => void }) {
  const [note, setNote] = useState("");
  const [conflict, setConflict] = useState<number | null>(null);
  const { busy, error, run } = useAction();
  const next = NEXT[incident.state];
  const change = (state: IncidentState) => {
    const expected = incident.version;
    setConflict(null);
    void run(async () => {
      try {
        await gql(
          `mutation ChangeState($id: ID!, $s: IncidentState!, $v: Int!, $n: String) {
             changeIncidentState(id: $id, state: $s, expectedVersion: $v, note: $n) { id } }`,
          { id: incident.id, s: state, v: expected, n: note.trim() || null },
        );
        setNote("");
      } catch (e) {
        if (e instanceof ApiError && e.code === "CONFLICT") setConflict(expected);
        throw e;
      } finally {
        reload();
      }
    });
  };
  return (
    <section aria-labelledby="state-title">
      <h2 id="state-title">State</h2>
      {next.length === 0 ? (
        <p className="muted">This incident is {incident.state.toLowerCase()}: no further states.</p>
      ) : (
        <>
          <Field label="Note (optional)" value={note} onChange={setNote} />
          {next.map((s) => (
            <button key={s} type="button" disabled={busy} onClick={() => change(s)}>
              Mark {s.toLowerCase()} (version {incident.version})
            </button>
          ))}
        </>
      )}
      <ErrorBox error={error} />
      {conflict !== null && (
        <div className="conflict" role="region" aria-labelledby="incident-conflict">
          <h3 id="incident-conflict">Someone else changed this incident</h3>
          <p>
            You acted on version {conflict}; it is now version {incident.version},{" "}
            {incident.state.toLowerCase()}. Check the history below, then choose again.
          </p>
        </div>
      )}
    </section>
  );
}

/** One step: end sessions, revoke keys and export links, require a new password. */
function Containment({ incident, reload }: { incident: Incident; reload: () => void }) {
  const { busy, error, run } = useAction();
  const contain = () => {
    const message =
      "Contain this incident? The compromised principals' sessions end, their API keys and " +
      "unused export links are revoked and a new password is required, on every gateway.";
    if (!window.confirm(message)) return;
    void run(async () => {
      await gql("mutation Contain($id: ID!) { containIncident(id: $id) { id } }", {
        id: incident.id,
      });
      reload();
    });
  };
  return (
    <section aria-labelledby="containment-title">
      <h2 id="containment-title">Containment</h2>
      <button type="button" disabled={busy} onClick={contain}>
        {busy ? "Containing…" : "Contain"}
      </button>
      <ErrorBox error={error} />
      <Listing
        what="containment"
        empty="Nothing contained yet."
        source={{ data: incident.containment, loading: false }}
        label="Containment log"
        testId="containment"
        rowKey={(_, i) => i}
        columns={[
          { header: "At", cell: (a) => when(a.at) },
          { header: "Action", cell: (a) => a.action },
          { header: "Target", cell: (a) => a.target ?? "" },
          { header: "Outcome", cell: (a) => a.outcome },
        ]}
      />
    </section>
  );
}
