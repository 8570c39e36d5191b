import { useState, type FormEvent } from "react";
import { ApiError, gql } from "../api";
import { ErrorBox, Field, useAction, useLoad } from "../components";
import { Listing } from "../table";

/** When the detection rules open a suspected incident (per tenant, per hour). */
type Name =
  | "readRecords"
  | "readFactor"
  | "baselineHours"
  | "exportRecords"
  | "refusedRequests"
  | "failedSigninAccounts";
type Thresholds = Record<Name, number>;

const THRESHOLDS: { name: Name; label: string; hint: string }[] = [
  {
    name: "readRecords",
    label: "Records read per hour",
    hint: "A principal reading more distinct records in an hour than this…",
  },
  {
    name: "readFactor",
    label: "Times its own hourly mean",
    hint: "…and more than this many times its own mean over the baseline.",
  },
  { name: "baselineHours", label: "Baseline hours", hint: "The hours the mean is taken over." },
  {
    name: "exportRecords",
    label: "Records exported per hour",
    hint: "A principal exporting more records in an hour.",
  },
  {
    name: "refusedRequests",
    label: "Refused requests per hour",
    hint: "A principal getting more FORBIDDEN or NOT_FOUND answers in an hour (probing).",
  },
  {
    name: "failedSigninAccounts",
    label: "Accounts with failed sign-ins per hour",
    hint: "More of the tenant's accounts with failed sign-ins in an hour.",
  },
];

const FIELDS = THRESHOLDS.map((t) => t.name).join(" ");

/** The tenant's detection thresholds: the saved values, and a form to change them. */
export function DetectionThresholds() {
  const loaded = useLoad(
    async () =>
      (
        await gql<{ detectionThresholds: Thresholds }>(
          `query T { detectionThresholds { ${FIELDS} } }`,
        )
      ).detectionThresholds,
    [],
  );
  const [saved, setSaved] = useState<Thresholds | null>(null);
  const current = saved ?? loaded.data;
  return (
    <section aria-labelledby="thresholds-title">
      <h2 id="thresholds-title">Detection thresholds</h2>
      <p className="muted">
        Above any of these, a detection rule opens a suspected incident and sends the alert.
      </p>
      <Listing
        what="the detection thresholds"
        empty="No thresholds."
        source={{ ...loaded, data: current && THRESHOLDS }}
        label="Saved detection thresholds"
        testId="thresholds"
        rowKey={(t) => t.name}
        columns={[
          { header: "Threshold", cell: (t) => t.label },
          { header: "Saved value", cell: (t) => current?.[t.name] ?? "" },
        ]}
      />
      {current && (
        <ThresholdsForm key={JSON.stringify(current)} saved={current} onSaved={setSaved} />
      )}
      {saved && <p role="status">Saved the detection thresholds.</p>}
    </section>
  );
}

function ThresholdsForm({
  saved,
  onSaved,
}: {
  saved: Thresholds;
  onSaved: (thresholds: Thresholds) => void;
}) {
  const [values, setValues] = useState(() =>
    Object.fromEntries(THRESHOLDS.map((t) => [t.name, String(saved[t.name])])),
  );
  const { busy, error, run } = useAction();
  // The API names the refused input (`input.readFactor`): that field is marked invalid.
  const field = error instanceof ApiError ? String(error.extensions.field ?? "") : "";
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const input = Object.fromEntries(THRESHOLDS.map((t) => [t.name, Number(values[t.name])]));
      const data = await gql<{ setDetectionThresholds: Thresholds }>(
        `mutation SetThresholds($i: DetectionThresholdsInput!) {
           setDetectionThresholds(input: $i) { ${FIELDS} } }`,
        { i: input },
      );
      onSaved(data.setDetectionThresholds); // a new form with the saved values
    });
  };
  return (
    <form onSubmit={submit} aria-label="Detection thresholds">
      {THRESHOLDS.map((t) => {
        const invalid = field === `input.${t.name}`;
        return (
          <div key={t.name}>
            <Field
              label={t.label}
              value={values[t.name] ?? ""}
              onChange={(v) => setValues({ ...values, [t.name]: v })}
              type="number"
              min={1}
              step={1}
              required
              aria-invalid={invalid || undefined}
              aria-describedby={
                invalid ? `threshold-${t.name}-hint thresholds-error` : `threshold-${t.name}-hint`
              }
            />
            <p id={`threshold-${t.name}-hint`} className="muted hint">
              {t.hint}
            </p>
          </div>
        );
      })}
      <div id="thresholds-error">
        <ErrorBox error={error} />
      </div>
      <button type="submit" disabled={busy}>
        Save the thresholds
      </button>
    </form>
  );
}
