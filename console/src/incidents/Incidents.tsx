import { useState } from "react";
import { gql } from "../api";
import { useLoad } from "../components";
import { Link, usePath } from "../router";
import { Listing, when } from "../table";
import { Clock } from "./Clock";
import { Contact } from "./Contact";
import { IncidentDetail } from "./Detail";
import {
  describe,
  STATES,
  SUMMARY_FIELDS,
  type IncidentState,
  type IncidentSummary,
} from "./model";
import { OpenIncident } from "./OpenIncident";
import { DetectionThresholds } from "./Thresholds";

/** /incidents: the list and the form to open one; /incidents/<id>: one incident. */
export function Incidents() {
  const path = usePath();
  const id = idOf(path.slice("/incidents/".length));
  if (path.startsWith("/incidents/") && id) return <IncidentDetail key={id} id={id} />;
  return <IncidentList />;
}

function idOf(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not percent-encoded as we write links: the API says it is not found
  }
}

interface Page {
  nodes: IncidentSummary[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

function IncidentList() {
  const [state, setState] = useState<IncidentState | "">("");
  const [after, setAfter] = useState<string | null>(null);
  const incidents = useLoad(
    async () =>
      (
        await gql<{ incidents: Page }>(
          `query Incidents($s: IncidentState, $a: String) {
             incidents(state: $s, first: 50, after: $a) {
               nodes { ${SUMMARY_FIELDS} } pageInfo { hasNextPage endCursor } } }`,
          { s: state || null, a: after },
        )
      ).incidents,
    [state, after],
  );
  const page = incidents.data;
  return (
    <section aria-labelledby="incidents-title">
      <h1 id="incidents-title">Incidents</h1>
      <p className="muted">
        A personal data breach is reported to the supervisory authority within 72 hours of its
        detection (GDPR Art. 33); each incident's clock is shown beside it.
      </p>
      <label>
        State
        <select
          value={state}
          onChange={(e) => {
            setState(e.target.value as IncidentState | "");
            setAfter(null);
          }}
        >
          <option value="">Any state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s.toLowerCase()}
            </option>
          ))}
        </select>
      </label>
      <Listing
        what="incidents"
        empty={state ? `No ${state.toLowerCase()} incidents.` : "No incidents."}
        source={{ ...incidents, data: page?.nodes }}
        label="Incidents"
        testId="incidents"
        rowKey={(i) => i.id}
        columns={[
          {
            header: "Incident",
            cell: (i) => <Link to={`/incidents/${encodeURIComponent(i.id)}`}>Incident {i.id}</Link>,
          },
          { header: "State", cell: (i) => i.state.toLowerCase() },
          { header: "72-hour clock", cell: (i) => <Clock incident={i} /> },
          { header: "Detected", cell: (i) => when(i.detectedAt) },
          { header: "Compromised", cell: (i) => i.compromised.map(describe).join(", ") },
          { header: "Origin", cell: (i) => [i.origin, i.rule].filter(Boolean).join(": ") },
        ]}
      />
      {after && (
        <button type="button" onClick={() => setAfter(null)}>
          First page
        </button>
      )}
      {page?.pageInfo.hasNextPage && (
        <button type="button" onClick={() => setAfter(page.pageInfo.endCursor)}>
          Next page
        </button>
      )}
      <OpenIncident />
      <Contact />
      <DetectionThresholds />
    </section>
  );
}
