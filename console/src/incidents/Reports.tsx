import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { ErrorBox, TextBox, useAction } from "../components";
import { Listing, when } from "../table";
import { isOverdue, type AuthorityReport, type Incident } from "./model";

/** The Art. 33 report to the authority: its versions (phases), and filing the next one. */
export function Reports({ incident, reload }: { incident: Incident; reload: () => void }) {
  const [shown, setShown] = useState<number | null>(null);
  const report = incident.reports.find((r) => r.version === shown);
  return (
    <section aria-labelledby="reports-title">
      <h2 id="reports-title">Reports to the authority</h2>
      <Listing
        what="reports"
        empty="No report filed yet."
        source={{ data: incident.reports, loading: false }}
        label="Report versions"
        testId="reports"
        rowKey={(r) => r.version}
        columns={[
          { header: "Version", cell: (r) => r.version },
          { header: "Submitted", cell: (r) => when(r.submittedAt) },
          { header: "In time", cell: (r) => (r.late ? "late" : "yes") },
          { header: "Reason for the delay", cell: (r) => r.delayReason ?? "" },
          {
            header: "Document",
            cell: (r) => (
              <button
                type="button"
                aria-pressed={shown === r.version}
                onClick={() => setShown(shown === r.version ? null : r.version)}
              >
                View version {r.version}
              </button>
            ),
          },
        ]}
      />
      {report && <ReportView report={report} />}
      {incident.state === "CONFIRMED" || incident.state === "REPORTED" ? (
        <FileReport incident={incident} reload={reload} />
      ) : (
        <p className="muted">
          {incident.state === "SUSPECTED"
            ? "Confirm the incident to report it."
            : `No further reports: the incident is ${incident.state.toLowerCase()}.`}
        </p>
      )}
    </section>
  );
}

/** *html* without what the console's CSP refuses (and a report never needs): style sheets,
 * style attributes, scripts, links, event handlers. The style sheets go before it is parsed
 * (a parsed document keeps the page's CSP, which reports a style sheet in it). */
function inert(html: string): string {
  const unstyled = html.replace(/<style\b[^>]*>[\s\S]*?<\/style\s*>/gi, "");
  const doc = new DOMParser().parseFromString(unstyled, "text/html");
  doc.querySelectorAll("style, script, link, iframe, object, embed").forEach((e) => e.remove());
  doc.querySelectorAll("*").forEach((e) => {
    for (const name of e.getAttributeNames()) {
      if (name === "style" || name.startsWith("on")) e.removeAttribute(name);
    }
  });
  return "<!doctype html>" + doc.documentElement.outerHTML;
}

/** The report as the gateway renders it, in a sandbox where nothing in it can run (and
 * without its own style sheet, which the console's strict CSP would refuse). */
function ReportView({ report }: { report: AuthorityReport }) {
  return (
    <section aria-labelledby="report-view-title" className="report">
      <h3 id="report-view-title">Report version {report.version}</h3>
      <iframe
        title={`Report version ${report.version}`}
        sandbox=""
        srcDoc={inert(report.html)}
        className="report-frame"
      />
      <details>
        <summary>The same report as JSON</summary>
        <pre tabIndex={0}>{JSON.stringify(report.document, null, 2)}</pre>
      </details>
    </section>
  );
}

function FileReport({ incident, reload }: { incident: Incident; reload: () => void }) {
  const [consequences, setConsequences] = useState("");
  const [measures, setMeasures] = useState("");
  const [delay, setDelay] = useState("");
  const [filed, setFiled] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  const late = isOverdue(incident.deadline, Date.now());
  const next = incident.reports.length + 1;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setFiled(null);
    void run(async () => {
      const data = await gql<{ fileIncidentReport: { version: number; late: boolean } }>(
        `mutation FileReport($id: ID!, $i: IncidentReportInput!) {
           fileIncidentReport(id: $id, input: $i) { version late } }`,
        {
          id: incident.id,
          i: {
            likelyConsequences: consequences.trim() || null,
            measures: measures.trim() || null,
            delayReason: delay.trim() || null,
          },
        },
      );
      const r = data.fileIncidentReport;
      setFiled(`Filed report version ${r.version}${r.late ? " (late)" : ""}.`);
      setConsequences("");
      setMeasures("");
      setDelay("");
      reload();
    });
  };

  return (
    <form onSubmit={submit} aria-labelledby="file-report-title">
      <h3 id="file-report-title">
        {next === 1 ? "File the report" : `File an update (version ${next})`}
      </h3>
      <p className="muted">
        Nature, categories and numbers, the contact point and the measures taken are filled in from
        the incident; add what only you know.
      </p>
      <TextBox
        label="Likely consequences (empty: from the data categories)"
        value={consequences}
        onChange={setConsequences}
      />
      <TextBox
        label="Measures taken or proposed (empty: from the containment log)"
        value={measures}
        onChange={setMeasures}
      />
      {late && (
        <TextBox
          label="Reason for the delay (required: the 72 hours have passed)"
          value={delay}
          onChange={setDelay}
          required
          rows={2}
        />
      )}
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {next === 1 ? "File the report" : "File the update"}
      </button>
      {filed && <p role="status">{filed}</p>}
    </form>
  );
}
