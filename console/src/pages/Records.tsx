import { useEffect, useState } from "react";
import { gql } from "../api";
import { Empty, ErrorBox, Loading, useLoad } from "../components";

interface TypeRef {
  kind: string;
  name: string | null;
  ofType: TypeRef | null;
}

interface IntrospectedType {
  name: string;
  kind: string;
  fields: { name: string; type: TypeRef; args?: { name: string }[] }[] | null;
}

/** A datasheet as the signed-in user's role shows it: its list query and its columns. */
export interface SheetView {
  query: string;
  typeName: string;
  columns: string[];
}

const META = new Set(["id", "version", "archived", "createdAt", "updatedAt"]);

function named(ref: TypeRef): TypeRef {
  return ref.ofType ? named(ref.ofType) : ref;
}

/** The datasheets and columns this user may see, from introspection (which the gateway
 * filters by the caller's policy: forbidden fields are absent). */
export async function loadViews(): Promise<SheetView[]> {
  const data = await gql<{
    __schema: { queryType: { name: string }; types: IntrospectedType[] };
  }>(`query Views { __schema { queryType { name } types { name kind
        fields { name args { name } type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }`);
  const types = new Map(data.__schema.types.map((t) => [t.name, t]));
  const root = types.get(data.__schema.queryType.name);
  const views: SheetView[] = [];
  for (const field of root?.fields ?? []) {
    const connection = types.get(named(field.type).name ?? "");
    if (
      !connection?.name.endsWith("Connection") ||
      !field.args?.some((a) => a.name === "includeArchived")
    )
      continue;
    const nodes = connection.fields?.find((f) => f.name === "nodes");
    const node = nodes && types.get(named(nodes.type).name ?? "");
    if (!node) continue;
    const columns = (node.fields ?? [])
      .filter((f) => !META.has(f.name) && ["SCALAR", "ENUM"].includes(named(f.type).kind))
      .map((f) => f.name);
    views.push({ query: field.name, typeName: node.name, columns });
  }
  return views;
}

type Row = Record<string, unknown> & { id: string; archived: boolean };

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
        <select value={chosen} onChange={(e) => setChosen(e.target.value)}>
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
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const page = useLoad(
    async () =>
      (
        await gql<Record<string, Page>>(
          `query Records($after: String, $archived: Boolean!) {
             ${view.query}(first: 25, after: $after, includeArchived: $archived) {
               nodes { id archived ${view.columns.join(" ")} }
               pageInfo { hasNextPage endCursor } } }`,
          { after, archived },
        )
      )[view.query],
    [view.query, after, archived],
  );
  return (
    <>
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
      <ErrorBox error={page.error} />
      {page.loading && <Loading what="records" />}
      {page.data && page.data.nodes.length === 0 && <Empty>No records here.</Empty>}
      {page.data && page.data.nodes.length > 0 && (
        <div className="scroll" tabIndex={0} aria-label={`${view.query} records`}>
          <table className="records" data-testid="records">
            <thead>
              <tr>
                {view.columns.map((c) => (
                  <th scope="col" key={c}>
                    {c}
                  </th>
                ))}
                {archived && <th scope="col">archived</th>}
              </tr>
            </thead>
            <tbody>
              {page.data.nodes.map((row) => (
                <tr key={row.id}>
                  {view.columns.map((c) => (
                    <td key={c}>{row[c] == null ? "" : String(row[c])}</td>
                  ))}
                  {archived && <td>{row.archived ? "yes" : ""}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
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
