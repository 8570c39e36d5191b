import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { Check, Empty, ErrorBox, Field, useAction, useLoad } from "../components";
import { Listing, when } from "../table";

interface ApiKey {
  id: string;
  name: string;
  role: string;
  canExport: boolean;
  createdAt: string;
  revoked: boolean;
  lastUsedAt: string | null;
}

const KEY_FIELDS = "id name role canExport createdAt revoked lastUsedAt";

export function ApiKeys() {
  const keys = useLoad(
    async () =>
      (await gql<{ apiKeys: ApiKey[] }>(`query Keys { apiKeys { ${KEY_FIELDS} } }`)).apiKeys,
    [],
  );
  const roles = useLoad(
    async () =>
      (await gql<{ roles: { name: string }[] }>("query R { roles { name } }")).roles.map(
        (r) => r.name,
      ),
    [],
  );
  const { error, run } = useAction();

  const revoke = (key: ApiKey) => {
    if (!window.confirm(`Revoke ${key.name}? It stops working at once, everywhere.`)) return;
    void run(async () => {
      await gql("mutation Revoke($id: ID!) { revokeApiKey(id: $id) { id } }", { id: key.id });
      keys.reload();
    });
  };

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <ErrorBox error={error} />
      <Listing
        what="API keys"
        empty="No API keys yet."
        source={keys}
        rowKey={(k) => k.id}
        columns={[
          { header: "Name", cell: (k) => k.name },
          { header: "Role", cell: (k) => k.role },
          { header: "Export", cell: (k) => (k.canExport ? "yes" : "no") },
          { header: "Created", cell: (k) => when(k.createdAt) },
          { header: "Last used", cell: (k) => when(k.lastUsedAt, "never") },
          {
            header: "State",
            cell: (k) =>
              k.revoked ? (
                "revoked"
              ) : (
                <button type="button" onClick={() => revoke(k)}>
                  Revoke {k.name}
                </button>
              ),
          },
        ]}
      />
      {roles.data && <CreateKey roles={roles.data} onCreated={keys.reload} />}
    </section>
  );
}

function CreateKey({ roles, onCreated }: { roles: string[]; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState(roles[0] ?? "");
  const [canExport, setCanExport] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const { busy, error, run } = useAction();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setCreated(null);
    setCopied(false);
    void run(async () => {
      const data = await gql<{ createApiKey: { key: string } }>(
        `mutation CreateKey($n: String!, $r: String!, $x: Boolean!) {
           createApiKey(name: $n, role: $r, canExport: $x) { key apiKey { id } } }`,
        { n: name.trim(), r: role, x: canExport },
      );
      setCreated(data.createApiKey.key);
      setName("");
      onCreated();
    });
  };

  return (
    <form onSubmit={submit} aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create an API key</h2>
      {roles.length === 0 ? (
        <Empty>Create a role first: a key is scoped to one role.</Empty>
      ) : (
        <>
          <Field label="Name" value={name} onChange={setName} name="key-name" required />
          <label>
            Role
            <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <Check label="May export" checked={canExport} onChange={setCanExport} />
          <ErrorBox error={error} />
          <button type="submit" disabled={busy}>
            Create key
          </button>
        </>
      )}
      {created && (
        <div role="status" className="once">
          <p>The key, shown this once (only its hash is stored):</p>
          <p>
            <code data-testid="new-key">{created}</code>
          </p>
          <button
            type="button"
            onClick={() =>
              void navigator.clipboard.writeText(created).then(
                () => setCopied(true),
                () => setCopied(false),
              )
            }
          >
            {copied ? "Copied" : "Copy the key"}
          </button>
        </div>
      )}
    </form>
  );
}
