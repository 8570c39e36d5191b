import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { Check, ErrorBox, Field, useAction, useLoad } from "../components";
import { Listing, when } from "../table";

interface User {
  id: string;
  email: string;
  roles: string[];
  canExport: boolean;
  twoFactorEnabled: boolean;
  version: number;
}

const USER_FIELDS = "id email roles canExport twoFactorEnabled version";

export function Users() {
  const [editing, setEditing] = useState<string | null>(null);
  const [history, setHistory] = useState<User | null>(null);
  const users = useLoad(
    async () => (await gql<{ users: User[] }>(`query Users { users { ${USER_FIELDS} } }`)).users,
    [],
  );
  const roles = useLoad(
    async () => [
      "admin",
      ...(await gql<{ roles: { name: string }[] }>("query R { roles { name } }")).roles.map(
        (r) => r.name,
      ),
    ],
    [],
  );
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <ErrorBox error={roles.error} />
      <Listing
        what="users"
        empty="No users yet."
        source={users}
        rowKey={(u) => u.id}
        columns={[
          { header: "Email", cell: (u) => u.email },
          { header: "Roles", cell: (u) => u.roles.join(", ") },
          { header: "Export", cell: (u) => (u.canExport ? "yes" : "no") },
          { header: "Two-factor", cell: (u) => (u.twoFactorEnabled ? "on" : "off") },
          { header: "Version", cell: (u) => u.version },
          {
            header: "Actions",
            cell: (u) => (
              <>
                <button type="button" onClick={() => setEditing(u.id)}>
                  Edit {u.email}
                </button>
                <button type="button" onClick={() => setHistory(u)}>
                  Sign-ins and sessions of {u.email}
                </button>
              </>
            ),
          },
        ]}
      />
      {roles.data && editing && users.data?.some((u) => u.id === editing) && (
        <EditUser
          key={editing}
          user={users.data.find((u) => u.id === editing) as User}
          roles={roles.data}
          onDone={() => {
            setEditing(null);
            users.reload();
          }}
        />
      )}
      {history && <SignIns key={history.id} user={history} />}
      {history && <Sessions key={history.id} user={history} />}
      {roles.data && <CreateUser roles={roles.data} onCreated={users.reload} />}
      <TwoFactorRule />
    </section>
  );
}

function CreateUser({ roles, onCreated }: { roles: string[]; onCreated: () => void }) {
  const [email, setEmail] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [canExport, setCanExport] = useState(false);
  const [password, setPassword] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const { busy, error, run } = useAction();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    void run(async () => {
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
    });
  };

  return (
    <form onSubmit={submit} aria-labelledby="create-user-title">
      <h2 id="create-user-title">Create a user</h2>
      <Field
        label="Email"
        value={email}
        onChange={setEmail}
        name="new-user-email"
        type="email"
        required
      />
      <RoleChoice roles={roles} chosen={chosen} onChange={setChosen} />
      <Check label="May export" checked={canExport} onChange={setCanExport} />
      <Field
        label="Password (optional; 12 characters or more)"
        value={password}
        onChange={setPassword}
        name="new-user-password"
        type="password"
        autoComplete="new-password"
      />
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

function RoleChoice({
  roles,
  chosen,
  onChange,
}: {
  roles: string[];
  chosen: string[];
  onChange: (roles: string[]) => void;
}) {
  return (
    <fieldset>
      <legend>Roles</legend>
      {roles.map((r) => (
        <label key={r} className="inline">
          <input
            type="checkbox"
            checked={chosen.includes(r)}
            onChange={(e) =>
              onChange(e.target.checked ? [...chosen, r] : chosen.filter((x) => x !== r))
            }
          />
          {r}
        </label>
      ))}
    </fieldset>
  );
}

function EditUser({ user, roles, onDone }: { user: User; roles: string[]; onDone: () => void }) {
  const [chosen, setChosen] = useState(user.roles);
  const [canExport, setCanExport] = useState(user.canExport);
  const [password, setPassword] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const { busy, error, run } = useAction();

  const save = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      await gql(
        `mutation UpdateUser($id: ID!, $v: Int!, $r: [String!], $x: Boolean) {
           updateUser(id: $id, expectedVersion: $v, roles: $r, canExport: $x) { id version } }`,
        { id: user.id, v: user.version, r: chosen, x: canExport },
      );
      onDone();
    });
  };
  const setUserPassword = () => {
    setDone(null);
    void run(async () => {
      await gql(
        "mutation SetPw($id: ID!, $p: String!) { setUserPassword(id: $id, password: $p) }",
        {
          id: user.id,
          p: password,
        },
      );
      setPassword("");
      setDone("Password set.");
    });
  };
  return (
    <form onSubmit={save} aria-labelledby="edit-user-title">
      <h2 id="edit-user-title">Edit {user.email}</h2>
      <RoleChoice roles={roles} chosen={chosen} onChange={setChosen} />
      <Check label="May export" checked={canExport} onChange={setCanExport} />
      <div className="actions">
        <button type="submit" disabled={busy}>
          Save (version {user.version})
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
      <label>
        New password for {user.email}
        <input
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      <button type="button" disabled={!password || busy} onClick={setUserPassword}>
        Set the password
      </button>
      <ErrorBox error={error} />
      {done && <p role="status">{done}</p>}
    </form>
  );
}

/** The tenant's rule: two-factor sign-in required of everyone, or not. */
function TwoFactorRule() {
  const [state, setState] = useState<string | null>(null);
  const { error, run } = useAction();
  const set = (required: boolean) =>
    void run(async () => {
      await gql("mutation Rule($r: Boolean!) { requireTwoFactor(required: $r) }", { r: required });
      setState(
        required ? "Two-factor sign-in is now required." : "Two-factor sign-in is now optional.",
      );
    });
  return (
    <section aria-labelledby="twofactor-title">
      <h2 id="twofactor-title">Two-factor sign-in</h2>
      <p className="muted">
        When required, a user without a second factor can only enrol one after signing in.
      </p>
      <button type="button" onClick={() => set(true)}>
        Require it of everyone
      </button>
      <button type="button" onClick={() => set(false)}>
        Make it optional
      </button>
      <ErrorBox error={error} />
      {state && <p role="status">{state}</p>}
    </section>
  );
}

interface SignInEvent {
  at: string;
  kind: string;
  ip: string | null;
  userAgent: string | null;
}

/** A user's login history (sign-ins, and each token's or key's first use). */
function SignIns({ user }: { user: User }) {
  const events = useLoad(
    async () =>
      (
        await gql<{ loginHistory: { nodes: SignInEvent[] } }>(
          "query Logins($u: ID) { loginHistory(userId: $u, first: 20) { nodes { at kind ip userAgent } } }",
          { u: user.id },
        )
      ).loginHistory.nodes,
    [user.id],
  );
  return (
    <section aria-labelledby="signins-title">
      <h2 id="signins-title">Sign-ins of {user.email}</h2>
      <Listing
        what="sign-ins"
        empty="No sign-ins recorded."
        source={events}
        rowKey={(_, i) => i}
        columns={[
          { header: "At", cell: (e) => when(e.at) },
          { header: "Kind", cell: (e) => e.kind },
          { header: "IP", cell: (e) => e.ip ?? "" },
          { header: "Browser or client", cell: (e) => e.userAgent ?? "" },
        ]}
      />
    </section>
  );
}

interface UserSession {
  id: string;
  openedAt: string;
  expiresAt: string;
  twoFactor: boolean;
}

/** A user's sign-in sessions open now, newest first. */
function Sessions({ user }: { user: User }) {
  const sessions = useLoad(
    async () =>
      (
        await gql<{ userSessions: UserSession[] }>(
          "query Sessions($u: ID!) { userSessions(userId: $u) { id openedAt expiresAt twoFactor } }",
          { u: user.id },
        )
      ).userSessions,
    [user.id],
  );
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions of {user.email}</h2>
      <Listing
        what="sessions"
        empty="No open sessions."
        source={sessions}
        rowKey={(s) => s.id}
        columns={[
          { header: "Opened", cell: (s) => when(s.openedAt) },
          { header: "Expires", cell: (s) => when(s.expiresAt) },
          { header: "Two-factor", cell: (s) => (s.twoFactor ? "yes" : "no") },
        ]}
      />
    </section>
  );
}
