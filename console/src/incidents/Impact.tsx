import { useState } from "react";
import { gql } from "../api";
import { ErrorBox, FormatChoice, useAction, useLoad } from "../components";
import { Listing, sameOrigin, when } from "../table";
import type { Incident } from "./model";

interface SheetImpact {
  datasheet: string;
  fields: string[];
  categories: string[];
  recordsRead: number;
  recordsExported: number;
  recordsChanged: number;
  recordsDeleted: number;
}

interface BreachImpact {
  since: string;
  until: string;
  principals: string[];
  dataSubjects: number;
  records: number;
  exportsDownloaded: number;
  categories: string[];
  sheets: SheetImpact[];
}

interface ExportJob {
  id: string;
  total: number;
  format: string;
  url: string;
  expiresAt: string;
}

const ARGS = "$c: [CompromisedInput!]!, $s: DateTime!, $u: DateTime";
const PASS = "compromised: $c, since: $s, until: $u";

function scope(incident: Incident) {
  return {
    c: incident.compromised.map((x) => ({ kind: x.kind, id: x.id })),
    s: incident.windowStart,
    u: incident.windowEnd,
  };
}

/** What the compromised principals received or changed in the window, per datasheet: the
 * incident's own impact (its principals and window, until now while it is open), the same
 * measure its authority report uses. */
export function Impact({ incident }: { incident: Incident }) {
  const impact = useLoad(async () => {
    const data = await gql<{ incident: { impact: BreachImpact } | null }>(
      `query IncidentImpact($id: ID!) { incident(id: $id) { impact {
         since until principals dataSubjects records exportsDownloaded categories
         sheets { datasheet fields categories recordsRead recordsExported recordsChanged
                  recordsDeleted } } } }`,
      { id: incident.id },
    );
    return data.incident?.impact ?? null;
  }, [incident.id, incident.version]);
  const data = impact.data;
  return (
    <section aria-labelledby="impact-title">
      <h2 id="impact-title">Impact</h2>
      {data && (
        <p data-testid="impact-summary">
          {data.dataSubjects} data subjects, {data.records} records, {data.exportsDownloaded}{" "}
          exports downloaded, between {when(data.since)} and {when(data.until)}. Categories:{" "}
          {data.categories.join(", ") || "none"}.
        </p>
      )}
      <Listing
        what="the impact"
        empty="Nothing was read, exported, changed or deleted in the window."
        source={{ ...impact, data: data?.sheets }}
        label="Impact per datasheet"
        testId="impact"
        rowKey={(s) => s.datasheet}
        columns={[
          { header: "Datasheet", cell: (s) => s.datasheet },
          { header: "Categories", cell: (s) => s.categories.join(", ") },
          { header: "Fields", cell: (s) => s.fields.join(", ") },
          { header: "Read", cell: (s) => s.recordsRead },
          { header: "Exported", cell: (s) => s.recordsExported },
          { header: "Changed", cell: (s) => s.recordsChanged },
          { header: "Deleted", cell: (s) => s.recordsDeleted },
        ]}
      />
      <Notify incident={incident} />
    </section>
  );
}

/** The people concerned, through the export machinery (one-time link), and the text. */
function Notify({ incident }: { incident: Incident }) {
  const [format, setFormat] = useState("CSV");
  const [job, setJob] = useState<ExportJob | null>(null);
  const [text, setText] = useState<string | null>(null);
  const exporting = useAction();
  const writing = useAction();
  const start = () => {
    setJob(null);
    void exporting.run(async () => {
      const data = await gql<{ startBreachNotificationExport: ExportJob }>(
        `mutation NotifyExport(${ARGS}, $f: ExportFormat!) {
           startBreachNotificationExport(${PASS}, format: $f) { id total format url expiresAt } }`,
        { ...scope(incident), f: format },
      );
      setJob(data.startBreachNotificationExport);
    });
  };
  const draft = () =>
    void writing.run(async () => {
      const data = await gql<{ breachNotificationText: string }>(
        `query NotifyText(${ARGS}) { breachNotificationText(${PASS}) }`,
        scope(incident),
      );
      setText(data.breachNotificationText);
    });
  return (
    <section aria-labelledby="notify-title">
      <h3 id="notify-title">Notifying the people concerned</h3>
      <FormatChoice label="List format" value={format} onChange={setFormat} />
      <button type="button" disabled={exporting.busy} onClick={start}>
        Export the notification list
      </button>
      <ErrorBox error={exporting.error} />
      {job && (
        <p role="status">
          {job.total} people as {job.format}:{" "}
          <a href={sameOrigin(job.url)} download>
            download the list once
          </a>{" "}
          before {when(job.expiresAt)}
        </p>
      )}
      <button type="button" disabled={writing.busy} onClick={draft}>
        Show the notification text
      </button>
      <ErrorBox error={writing.error} />
      {text !== null && (
        <pre className="notice" data-testid="notification-text" tabIndex={0}>
          {text}
        </pre>
      )}
    </section>
  );
}
