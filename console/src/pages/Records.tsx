import { useEffect, useState, type FormEvent } from "react";
import { gql } from "../api";
import { Empty, ErrorBox, Loading, useAction, useLoad } from "../components";
import { Listing } from "../table";

interface TypeRef {
  kind: string;
  name: string | null;
  ofType: TypeRef | null;
}

interface Introspected {
  name: string;
  type: TypeRef;
  args?: { name: string; type: TypeRef }[];
}

interface IntrospectedType {
  name: string;
  kind: string;
  fields: Introspected[] | null;
  inputFields: Introspected[] | null;
}

export interface InputField {
  name: string;
  /** The named type: "Int" values are sent as numbers, everything else as text. */
  type: string;
  required: boolean;
}

/** A datasheet as the signed-in user's role shows it: its list query, its columns, the
 * fields it may filter on and write, and the writes it may make (absent if not allowed). */
export interface SheetView {
  query: string;
  typeName: string;
  columns: string[];
  filterType: string | null;
  filters: InputField[];
  create: InputField[] | null;
  update: InputField[] | null;
  archive: boolean;
  delete: boolean;
}

const META = new Set(["id", "version", "archived", "createdAt", "updatedAt"]);
const TYPE_REF =
  "type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

function named(ref: TypeRef): TypeRef {
  return ref.ofType ? named(ref.ofType) : ref;
}

/** The datasheets, columns and writes this user may see and make, from introspection (which
 * the gateway filters by the caller's policy: forbidden fields and mutations are absent). */
export async function loadViews(): Promise<SheetView[]> {
  const data = await gql<{
    __schema: {
      queryType: { name: string };
      mutationType: { name: string } | null;
      types: IntrospectedType[];
    };
  }>(`query Views { __schema { queryType { name } mutationType { name } types { name kind
        fields { name args { name ${TYPE_REF} } ${TYPE_REF} }
        inputFields { name ${TYPE_REF} } } } }`);
  const types = new Map(data.__schema.types.map((t) => [t.name, t]));
  const mutations = new Map(
    (types.get(data.__schema.mutationType?.name ?? "")?.fields ?? []).map((f) => [f.name, f]),
  );
  const inputs = (typeName: string | null): InputField[] =>
    (types.get(typeName ?? "")?.inputFields ?? []).map((f) => ({
      name: f.name,
      type: named(f.type).name ?? "String",
      required: f.type.kind === "NON_NULL",
    }));
  const inputOf = (mutation: string): string | null => {
    const arg = mutations.get(mutation)?.args?.find((a) => a.name === "input");
    return arg ? named(arg.type).name : null;
  };
  const views: SheetView[] = [];
  for (const field of types.get(data.__schema.queryType.name)?.fields ?? []) {
    const connection = types.get(named(field.type).name ?? "");
    if (!connection?.name.endsWith("Connection")) continue;
    if (!field.args?.some((a) => a.name === "includeArchived")) continue;
    const nodes = connection.fields?.find((f) => f.name === "nodes");
    const node = nodes && types.get(named(nodes.type).name ?? "");
    if (!node) continue;
    const filterArg = field.args.find((a) => a.name === "filter");
    const filterType = filterArg ? named(filterArg.type).name : null;
    const t = node.name;
    views.push({
      query: field.name,
      typeName: t,
      columns: (node.fields ?? [])
        .filter((f) => !META.has(f.name) && ["SCALAR", "ENUM"].includes(named(f.type).kind))
        .map((f) => f.name),
      filterType,
      filters: inputs(filterType),
      create: mutations.has(`create${t}`) ? inputs(inputOf(`create${t}`)) : null,
      update: mutations.has(`update${t}`) ? inputs(inputOf(`update${t}`)) : null,
      archive: mutations.has(`archive${t}`) && mutations.has(`restore${t}`),
      delete: mutations.has(`delete${t}`),
    });
  }
  return views;
}

type Row = Record<string, unknown> & { id: string; version: number; archived: boolean };

interface Page {
  nodes: Row[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export function Records() {
  const views = useLoad(loadViews, []);
  const [chosen, setChosen] = useState("");
  useEffect(() => {
    if (!chosen && views.data?.[0]) setChosen(views.data[0].query);
  }, [views.data, chosen]);
  if (views.error) return <ErrorBox error={views.error} />;
  if (!views.data) return <Loading what="datasheets" />;
  if (views.data.length === 0)
    return (
      <section>
        <h1>Records</h1>
        <Empty>Your roles show you no datasheet.</Empty>
      </section>
    );
  const view = views.data.find((v) => v.query === chosen);
  return (
    <section aria-labelledby="records-title">
      <h1 id="records-title">Records</h1>
      <label>
        Datasheet
        <select aria-label="Datasheet" value={chosen} onChange={(e) => setChosen(e.target.value)}>
          {views.data.map((v) => (
            <option key={v.query} value={v.query}>
              {v.query}
            </option>
          ))}
        </select>
      </label>
      {view && <Table key={view.query} view={view} />}
    </section>
  );
}

function Table({ view }: { view: SheetView }) {
  const [archived, setArchived] = useState(false);
  const [filter, setFilter] = useState<Record<string, string>>({});
  const [applied, setApplied] = useState<Record<string, string>>({});
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [editing, setEditing] = useState<Row | "new" | null>(null);
  const after = cursors[cursors.length - 1] ?? null;
  const filterVariable = view.filterType ? `, $filter: ${view.filterType}` : "";
  const page = useLoad(
    async () =>
      (
        await gql<Record<string, Page>>(
          `query Records($after: String, $archived: Boolean!${filterVariable}) {
             ${view.query}(first: 25, after: $after, includeArchived: $archived${view.filterType ? ", filter: $filter" : ""}) {
               nodes { id version archived ${view.columns.join(" ")} }
               pageInfo { hasNextPage endCursor } } }`,
          { after, archived, filter: typed(view.filters, applied) },
        )
      )[view.query],
    [view.query, after, archived, applied],
  );
  const action = useAction();
  const act = (verb: "archive" | "restore" | "delete", row: Row) => {
    if (verb === "delete" && !window.confirm(`Delete record ${row.id}? It cannot be undone.`))
      return;
    void action.run(async () => {
      await gql(
        `mutation Act($id: ID!, $v: Int!) { ${verb}${view.typeName}(id: $id, expectedVersion: $v) { __typename } }`,
        { id: row.id, v: row.version },
      );
      page.reload();
    });
  };
  const actions = (row: Row) => (
    <>
      {view.update && (
        <button type="button" onClick={() => setEditing(row)}>
          Edit
        </button>
      )}
      {view.archive && (
        <button type="button" onClick={() => act(row.archived ? "restore" : "archive", row)}>
          {row.archived ? "Restore" : "Archive"}
        </button>
      )}
      {view.delete && (
        <button type="button" onClick={() => act("delete", row)}>
          Delete
        </button>
      )}
    </>
  );
  const search = (event: FormEvent) => {
    event.preventDefault();
    setApplied(filter);
    setCursors([null]);
  };

  return (
    <>
      {view.filters.length > 0 && (
        <form onSubmit={search} className="filters" aria-label={`Filter ${view.query}`}>
          {view.filters.map((f) => (
            <label key={f.name}>
              {f.name} equals
              <input
                value={filter[f.name] ?? ""}
                onChange={(e) => setFilter({ ...filter, [f.name]: e.target.value })}
              />
            </label>
          ))}
          <button type="submit">Filter</button>
        </form>
      )}
      <label className="inline">
        <input
          type="checkbox"
          checked={archived}
          onChange={(e) => {
            setArchived(e.target.checked);
            setCursors([null]);
          }}
        />
        Show archived records
      </label>
      {view.create && (
        <button type="button" onClick={() => setEditing("new")}>
          New record
        </button>
      )}
      {editing && (
        <RecordForm
          key={editing === "new" ? "new" : `${editing.id}@${editing.version}`}
          view={view}
          row={editing === "new" ? null : editing}
          onDone={() => {
            setEditing(null);
            page.reload();
          }}
        />
      )}
      <ErrorBox error={action.error} />
      <Listing
        what="records"
        empty="No records here."
        source={{ ...page, data: page.data?.nodes }}
        scroll
        label={`${view.query} records`}
        testId="records"
        className="records"
        rowKey={(row) => row.id}
        columns={[
          ...view.columns.map((c) => ({
            header: c,
            cell: (row: Row) => (row[c] == null ? "" : String(row[c])),
          })),
          ...(archived
            ? [{ header: "archived", cell: (row: Row) => (row.archived ? "yes" : "") }]
            : []),
          ...(view.update || view.archive || view.delete
            ? [{ header: "Actions", className: "actions", cell: (row: Row) => actions(row) }]
            : []),
        ]}
      />
      <div className="actions">
        <button
          type="button"
          disabled={cursors.length < 2}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous page
        </button>
        <button
          type="button"
          disabled={!page.data?.pageInfo.hasNextPage}
          onClick={() => setCursors([...cursors, page.data?.pageInfo.endCursor ?? null])}
        >
          Next page
        </button>
      </div>
    </>
  );
}

/** The non-empty *values* of *fields*, as the API types them. */
function typed(fields: InputField[], values: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const value = values[f.name]?.trim();
    if (value) out[f.name] = f.type === "Int" ? Number(value) : value;
  }
  return out;
}

/** Create a record, or edit one at its version (a stale version is CONFLICT). */
function RecordForm({
  view,
  row,
  onDone,
}: {
  view: SheetView;
  row: Row | null;
  onDone: () => void;
}) {
  const fields = (row ? view.update : view.create) ?? [];
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      fields.map((f) => [f.name, row?.[f.name] == null ? "" : String(row[f.name])]),
    ),
  );
  const { busy, error, run } = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const input = typed(fields, values);
      if (row) {
        // Only what changed: an omitted field is left alone, null clears it.
        for (const f of fields) {
          const before = row[f.name] == null ? "" : String(row[f.name]);
          if ((values[f.name] ?? "") === before) delete input[f.name];
          else if (!values[f.name]?.trim()) input[f.name] = null;
        }
        await gql(
          `mutation Update($id: ID!, $v: Int!, $i: ${view.typeName}UpdateInput!) {
             update${view.typeName}(id: $id, expectedVersion: $v, input: $i) { id } }`,
          { id: row.id, v: row.version, i: input },
        );
      } else {
        await gql(
          `mutation Create($i: ${view.typeName}CreateInput!) { create${view.typeName}(input: $i) { id } }`,
          { i: input },
        );
      }
      onDone();
    });
  };
  return (
    <form onSubmit={submit} aria-labelledby="record-form-title" className="record-form">
      <h2 id="record-form-title">
        {row ? `Edit record ${row.id} (version ${row.version})` : `New ${view.typeName}`}
      </h2>
      <div className="filters">
        {fields.map((f) => (
          <label key={f.name}>
            {f.name}
            {f.required && !row ? " (required)" : ""}
            <input
              required={f.required && !row}
              inputMode={f.type === "Int" ? "numeric" : undefined}
              value={values[f.name] ?? ""}
              onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
            />
          </label>
        ))}
      </div>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {row ? "Save" : "Create"}
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}
