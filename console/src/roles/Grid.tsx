import { ACCESS, FLAGS, toggle, type Condition, type Sheet, type SheetGrant } from "./model";

interface GridProps {
  sheet: Sheet;
  grant: SheetGrant;
  onChange?: (grant: SheetGrant) => void;
  /** Per-field row notes (effective permissions: on which rows a field is seen). */
  notes?: Record<string, string>;
}

/** One datasheet's fields × read / mask / write, its sheet-level switches and row filter.
 * Without `onChange` it only shows (effective permissions, old versions). */
export function PermissionGrid({ sheet, grant, onChange, notes }: GridProps) {
  const readOnly = onChange === undefined;
  const id = `sheet-${sheet.datasheet}`;
  return (
    <section className="sheet" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{sheet.datasheet}</h3>
      <table className="grid">
        <caption className="visually-hidden">Field access on {sheet.datasheet}</caption>
        <thead>
          <tr>
            <th scope="col">Field</th>
            {ACCESS.map((a) => (
              <th scope="col" key={a}>
                {a[0]?.toUpperCase() + a.slice(1)}
              </th>
            ))}
            {notes && <th scope="col">Rows</th>}
          </tr>
        </thead>
        <tbody>
          {sheet.fields.map((field) => (
            <tr key={field}>
              <th scope="row">{field}</th>
              {ACCESS.map((access) => (
                <td key={access}>
                  <input
                    type="checkbox"
                    aria-label={`${sheet.datasheet} ${field} ${access}`}
                    checked={grant[access].includes(field)}
                    disabled={readOnly}
                    onChange={(e) => onChange?.(toggle(grant, field, access, e.target.checked))}
                  />
                </td>
              ))}
              {notes && <td>{notes[field] ?? ""}</td>}
            </tr>
          ))}
        </tbody>
      </table>
      <fieldset className="switches">
        <legend>Records of {sheet.datasheet}</legend>
        {FLAGS.map((flag) => (
          <label key={flag} className="inline">
            <input
              type="checkbox"
              checked={grant[flag]}
              disabled={readOnly}
              onChange={(e) => onChange?.({ ...grant, [flag]: e.target.checked })}
            />
            {flag}
          </label>
        ))}
      </fieldset>
      <RowFilterBuilder sheet={sheet} grant={grant} onChange={onChange} />
    </section>
  );
}

function RowFilterBuilder({ sheet, grant, onChange }: GridProps) {
  const filter = grant.rowFilter ?? { equals: [], ownOnly: false };
  const readOnly = onChange === undefined;
  const update = (equals: Condition[], ownOnly: boolean) =>
    onChange?.({
      ...grant,
      rowFilter: equals.length === 0 && !ownOnly ? null : { equals, ownOnly },
    });
  const setCondition = (index: number, condition: Condition) =>
    update(
      filter.equals.map((c, i) => (i === index ? condition : c)),
      filter.ownOnly,
    );
  return (
    <fieldset className="row-filter">
      <legend>Rows of {sheet.datasheet}</legend>
      {filter.equals.length === 0 && !filter.ownOnly && (
        <p className="muted">All rows (no row filter).</p>
      )}
      {filter.equals.map((condition, index) => (
        <div className="condition" key={index}>
          <label>
            Field
            <select
              value={condition.field}
              disabled={readOnly}
              aria-label={`${sheet.datasheet} row filter ${index + 1} field`}
              onChange={(e) => setCondition(index, { ...condition, field: e.target.value })}
            >
              {sheet.fields.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </label>
          <span aria-hidden="true">=</span>
          <label>
            Value
            <input
              value={condition.value}
              readOnly={readOnly}
              aria-label={`${sheet.datasheet} row filter ${index + 1} value`}
              onChange={(e) => setCondition(index, { ...condition, value: e.target.value })}
            />
          </label>
          {!readOnly && (
            <button
              type="button"
              onClick={() =>
                update(
                  filter.equals.filter((_, i) => i !== index),
                  filter.ownOnly,
                )
              }
            >
              Remove condition {index + 1}
            </button>
          )}
        </div>
      ))}
      <label className="inline">
        <input
          type="checkbox"
          checked={filter.ownOnly}
          disabled={readOnly}
          onChange={(e) => update(filter.equals, e.target.checked)}
        />
        Only records the user created
      </label>
      {!readOnly && (
        <button
          type="button"
          onClick={() =>
            update([...filter.equals, { field: sheet.fields[0] ?? "", value: "" }], filter.ownOnly)
          }
        >
          Add a condition on {sheet.datasheet}
        </button>
      )}
      <p className="muted">Conditions use plaintext fields; all of them must hold.</p>
    </fieldset>
  );
}
