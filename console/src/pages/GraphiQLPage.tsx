// Loaded only when opened (React.lazy): GraphiQL and its editor are not in the first load.
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { rawGql } from "../api";

type FetcherParams = Record<string, unknown>;

// Every request carries the signed-in session's token (rawGql adds it, refreshing if needed).
const fetcher = (params: FetcherParams) => rawGql(params) as Promise<Record<string, unknown>>;

const DEFAULT_QUERY = `# Runs as you, the signed-in user, through the gateway's own checks.
query Me {
  me { id roles canExport }
}
`;

export default function GraphiQLPage() {
  return (
    <div className="graphiql-frame">
      <h1 className="visually-hidden">GraphiQL</h1>
      <GraphiQL fetcher={fetcher} defaultQuery={DEFAULT_QUERY} />
    </div>
  );
}
