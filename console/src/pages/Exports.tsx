import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { Check, ErrorBox, Field, FormatChoice, useAction } from "../components";
import { sameOrigin, when } from "../table";

interface Job {
  id: string;
  datasheet: string;
  format: string;
  columns: string[];
  total: number;
  url: string;
  expiresAt: string;
}

/** Start an export of a datasheet (the fields your roles may export) and download it once. */
export function Exports() {
  const [datasheet, setDatasheet] = useState("employees");
  const [format, setFormat] = useState("CSV");
  const [archived, setArchived] = useState(false);
  const [jobs, setJobs] = useState<Job[]>([]);
  const { busy, error, run } = useAction();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const data = await gql<{ startExport: Job }>(
        `mutation Export($d: String!, $f: ExportFormat!, $a: Boolean!) {
           startExport(datasheet: $d, format: $f, includeArchived: $a) {
             id datasheet format columns total url expiresAt } }`,
        { d: datasheet.trim(), f: format, a: archived },
      );
      setJobs([data.startExport, ...jobs]);
    });
  };

  return (
    <section aria-labelledby="exports-title">
      <h1 id="exports-title">Exports</h1>
      <form onSubmit={submit}>
        <Field label="Datasheet" value={datasheet} onChange={setDatasheet} required />
        <FormatChoice label="Format" value={format} onChange={setFormat} />
        <Check label="Include archived records" checked={archived} onChange={setArchived} />
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          Start the export
        </button>
      </form>
      {jobs.length > 0 && (
        <ul aria-label="Exports started">
          {jobs.map((job) => (
            <li key={job.id}>
              {job.datasheet}, {job.total} records as {job.format} ({job.columns.join(", ")}):{" "}
              <a href={sameOrigin(job.url)} download>
                download once
              </a>{" "}
              before {when(job.expiresAt)}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
