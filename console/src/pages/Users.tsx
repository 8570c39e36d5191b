import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { Empty, ErrorBox, Loading, useLoad } from "../components";

interface User {
  id: string;
  email: string;
  roles: string[];
  canExport: boolean;
  version: number;
}

const USER_FIELDS = "id email roles canExport version";

export function Users() {
  const users = useLoad(
    async () => (await gql<{ users: User[] }>(`query Users { users { ${USER_FIELDS} } }`)).users,
    [],
  );
  const roles = useLoad(
    async () =>
      ["admin", ...(await gql<{ roles: { name: string }[] }>("query R { roles { name } }")).roles.map((r) => r.name)],
    [],
  );
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <ErrorBox error={users.error ?? roles.error} />
      {users.loading && !users.data && <Loading what="users" />}
      {users.data && users.data.length === 0 && <Empty>No users yet.</Empty>}
      {users.data && users.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Roles</th>
              <th scope="col">Export</th>
              <th scope="col">Version</th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.id}>
                <td>{u.email}</td>
                <td>{u.roles.join(", ")}</td>
                <td>{u.canExport ? "yes" : "no"}</td>
                <td>{u.version}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {roles.data && <CreateUser roles={roles.data} onCreated={users.reload} />}
    </section>
  );
}

function CreateUser({ roles, onCreated }: { roles: string[]; onCreated: () => void }) {
  const [email, setEmail] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [canExport, setCanExport] = useState(false);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await gql(
        `mutation CreateUser($e: String!, $r: [String!]!, $x: Boolean!, $p: String) {
           createUser(email: $e, roles: $r, canExport: $x, password: $p) { id } }`,
        { e: email.trim(), r: chosen, x: canExport, p: password || null },
      );
      setDone(`Created ${email.trim()}.`);
      setEmail("");
      setPassword("");
      setChosen([]);
      onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} aria-labelledby="create-user-title">
      <h2 id="create-user-title">Create a user</h2>
      <label>
        Email
        <input
          name="new-user-email"
          type="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
      </label>
      <fieldset>
        <legend>Roles</legend>
        {roles.map((r) => (
          <label key={r} className="inline">
            <input
              type="checkbox"
              checked={chosen.includes(r)}
              onChange={(e) =>
                setChosen(e.target.checked ? [...chosen, r] : chosen.filter((x) => x !== r))
              }
            />
            {r}
          </label>
        ))}
      </fieldset>
      <label className="inline">
        <input type="checkbox" checked={canExport} onChange={(e) => setCanExport(e.target.checked)} />
        May export
      </label>
      <label>
        Password (optional; 12 characters or more)
        <input
          name="new-user-password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      <ErrorBox error={error} />
      {done && (
        <p role="status" className="ok">
          {done}
        </p>
      )}
      <button type="submit" disabled={busy}>
        Create user
      </button>
    </form>
  );
}
