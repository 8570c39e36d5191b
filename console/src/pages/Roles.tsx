import { useEffect, useState, type FormEvent } from "react";
import { ApiError, gql } from "../api";
import { Empty, ErrorBox, Loading, useLoad } from "../components";
import { PermissionGrid } from "../roles/Grid";
import {
  ROLE_FIELDS,
  grantsFor,
  roleInput,
  type Role,
  type Sheet,
  type SheetGrant,
} from "../roles/model";
import { useSession } from "../session";

interface SheetPermission {
  datasheet: string;
  read: string[];
  mask: string[];
  write: string[];
}

/** Every datasheet and its fields: what the signed-in admin may see (everything). */
export async function loadSheets(userId: string): Promise<Sheet[]> {
  const data = await gql<{ effectivePermissions: { sheets: SheetPermission[] } }>(
    `query Sheets($u: ID!) { effectivePermissions(userId: $u) { sheets { datasheet read mask write } } }`,
    { u: userId },
  );
  return data.effectivePermissions.sheets.map((s) => ({
    datasheet: s.datasheet,
    fields: [...new Set([...s.read, ...s.mask, ...s.write])].sort(),
  }));
}

export function Roles() {
  const { me } = useSession();
  const sheets = useLoad(() => loadSheets(me.id), [me.id]);
  const roles = useLoad(
    async () => (await gql<{ roles: Role[] }>(`query Roles { roles { ${ROLE_FIELDS} } }`)).roles,
    [],
  );
  const [selected, setSelected] = useState<string | null>(null); // "" = a new role
  const [tab, setTab] = useState<"edit" | "versions" | "effective">("edit");
  const [notice, setNotice] = useState<string | null>(null); // outlives the editor's remount
  const open = (name: string, view: "edit" | "effective" = "edit") => {
    setSelected(name);
    setTab(view);
    setNotice(null);
  };

  if (sheets.error || roles.error) return <ErrorBox error={sheets.error ?? roles.error} />;
  if (!sheets.data || !roles.data) return <Loading what="roles" />;
  const role = roles.data.find((r) => r.name === selected) ?? null;

  return (
    <section aria-labelledby="roles-title" className="columns">
      <div className="list">
        <h1 id="roles-title">Roles</h1>
        <button type="button" onClick={() => open("")}>
          New role
        </button>
        <button type="button" onClick={() => open(selected ?? "", "effective")}>
          What can a user see?
        </button>
        {roles.data.length === 0 ? (
          <Empty>No roles yet: create one.</Empty>
        ) : (
          <ul aria-label="Roles">
            {roles.data.map((r) => (
              <li key={r.name}>
                <button
                  type="button"
                  className="link"
                  aria-current={r.name === selected ? "true" : undefined}
                  onClick={() => open(r.name)}
                >
                  {r.name} <span className="muted">v{r.version}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      <div className="detail">
        {tab === "effective" ? (
          <Effective sheets={sheets.data} />
        ) : selected === null ? (
          <Empty>Choose a role, or create a new one.</Empty>
        ) : (
          <>
            {role && (
              <div role="tablist" aria-label="Role views" className="tabs">
                <button
                  type="button"
                  role="tab"
                  aria-selected={tab === "edit"}
                  onClick={() => setTab("edit")}
                >
                  Permissions
                </button>
                <button
                  type="button"
                  role="tab"
                  aria-selected={tab === "versions"}
                  onClick={() => setTab("versions")}
                >
                  Versions
                </button>
              </div>
            )}
            {tab === "versions" && role ? (
              <Versions role={role} sheets={sheets.data} />
            ) : (
              <Editor
                key={`${selected}@${role?.version ?? 0}`}
                role={role}
                sheets={sheets.data}
                notice={notice}
                onSaved={(saved) => {
                  setSelected(saved.name);
                  setNotice(`Saved ${saved.name} as version ${saved.version}.`);
                  roles.reload();
                }}
              />
            )}
          </>
        )}
      </div>
    </section>
  );
}

interface EditorProps {
  role: Role | null;
  sheets: Sheet[];
  notice: string | null;
  onSaved: (role: Role) => void;
}

interface Conflict {
  theirs: Role;
  mine: number;
}

function Editor({ role, sheets, notice, onSaved }: EditorProps) {
  const [name, setName] = useState(role?.name ?? "");
  const [description, setDescription] = useState(role?.description ?? "");
  const [grants, setGrants] = useState<SheetGrant[]>(() => grantsFor(sheets, role));
  const [expected, setExpected] = useState(role?.version ?? 0);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const save = async (event?: FormEvent, over?: number) => {
    event?.preventDefault();
    setBusy(true);
    setError(null);
    const input = roleInput(name.trim(), description, grants);
    const version = over ?? expected;
    try {
      const data = role
        ? await gql<{ updateRole: Role }>(
            `mutation Save($v: Int!, $i: RoleInput!) { updateRole(expectedVersion: $v, input: $i) { ${ROLE_FIELDS} } }`,
            { v: version, i: input },
          )
        : await gql<{ createRole: Role }>(
            `mutation Create($i: RoleInput!) { createRole(input: $i) { ${ROLE_FIELDS} } }`,
            { i: input },
          );
      const savedRole = "updateRole" in data ? data.updateRole : data.createRole;
      setConflict(null);
      setExpected(savedRole.version);
      onSaved(savedRole);
    } catch (e) {
      if (
        role &&
        e instanceof ApiError &&
        e.code === "CONFLICT" &&
        "currentVersion" in e.extensions
      ) {
        const current = await gql<{ roles: Role[] }>(`query Roles { roles { ${ROLE_FIELDS} } }`);
        const theirs = current.roles.find((r) => r.name === role.name);
        if (theirs) setConflict({ theirs, mine: version });
      }
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void save(e)} aria-labelledby="editor-title">
      <h2 id="editor-title">{role ? `Role ${role.name}` : "New role"}</h2>
      {role && (
        <p className="muted">
          Editing version {expected}
          {role.updatedAt ? `, saved ${new Date(role.updatedAt).toLocaleString()}` : ""}.
        </p>
      )}
      <label>
        Name
        <input
          name="role-name"
          required
          readOnly={role !== null}
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <label>
        Description
        <input
          name="role-description"
          value={description}
          onChange={(e) => setDescription(e.target.value)}
        />
      </label>
      {sheets.map((sheet, index) => {
        const grant = grants[index];
        return grant ? (
          <PermissionGrid
            key={sheet.datasheet}
            sheet={sheet}
            grant={grant}
            onChange={(g) => setGrants(grants.map((x, i) => (i === index ? g : x)))}
          />
        ) : null;
      })}
      {conflict && (
        <ConflictView
          conflict={conflict}
          sheets={sheets}
          onOverwrite={() => void save(undefined, conflict.theirs.version)}
          onTakeTheirs={() => {
            setGrants(grantsFor(sheets, conflict.theirs));
            setDescription(conflict.theirs.description);
            setExpected(conflict.theirs.version);
            setConflict(null);
            setError(null);
          }}
        />
      )}
      <ErrorBox error={error} />
      {notice && !error && (
        <p role="status" className="ok">
          {notice}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : role ? "Save" : "Create role"}
        </button>
      </div>
    </form>
  );
}

function ConflictView({
  conflict,
  sheets,
  onOverwrite,
  onTakeTheirs,
}: {
  conflict: Conflict;
  sheets: Sheet[];
  onOverwrite: () => void;
  onTakeTheirs: () => void;
}) {
  const { theirs, mine } = conflict;
  return (
    <section className="conflict" aria-labelledby="conflict-title">
      <h3 id="conflict-title">
        Someone else saved version {theirs.version} while you were editing version {mine}
      </h3>
      <DiffView name={theirs.name} from={mine} to={theirs.version} />
      <details>
        <summary>Their version {theirs.version}</summary>
        {grantsFor(sheets, theirs).map((g, i) => {
          const sheet = sheets[i];
          return sheet ? <PermissionGrid key={sheet.datasheet} sheet={sheet} grant={g} /> : null;
        })}
      </details>
      <div className="actions">
        <button type="button" onClick={onTakeTheirs}>
          Discard my changes and load version {theirs.version}
        </button>
        <button type="button" onClick={onOverwrite}>
          Save mine over version {theirs.version}
        </button>
      </div>
    </section>
  );
}

interface SheetDiff {
  datasheet: string;
  gainedRead: string[];
  lostRead: string[];
  gainedMask: string[];
  lostMask: string[];
  gainedWrite: string[];
  lostWrite: string[];
  changed: string[];
}

function DiffView({ name, from, to }: { name: string; from: number; to: number }) {
  const diff = useLoad(
    async () =>
      (
        await gql<{ roleDiff: { sheets: SheetDiff[] } }>(
          `query Diff($n: String!, $a: Int!, $b: Int!) { roleDiff(name: $n, fromVersion: $a, toVersion: $b) {
             sheets { datasheet gainedRead lostRead gainedMask lostMask gainedWrite lostWrite changed } } }`,
          { n: name, a: from, b: to },
        )
      ).roleDiff.sheets,
    [name, from, to],
  );
  if (diff.error) return <ErrorBox error={diff.error} />;
  if (!diff.data) return <Loading what="the differences" />;
  if (diff.data.length === 0)
    return (
      <Empty>
        No differences between version {from} and {to}.
      </Empty>
    );
  const kinds: [keyof SheetDiff, string][] = [
    ["gainedRead", "+ read"],
    ["lostRead", "− read"],
    ["gainedMask", "+ mask"],
    ["lostMask", "− mask"],
    ["gainedWrite", "+ write"],
    ["lostWrite", "− write"],
    ["changed", "changed"],
  ];
  return (
    <table className="diff" aria-label={`Changes from version ${from} to ${to}`}>
      <thead>
        <tr>
          <th scope="col">Datasheet</th>
          <th scope="col">Change</th>
          <th scope="col">Fields or switches</th>
        </tr>
      </thead>
      <tbody>
        {diff.data.flatMap((sheet) =>
          kinds
            .filter(([key]) => (sheet[key] as string[]).length > 0)
            .map(([key, label]) => (
              <tr key={`${sheet.datasheet}-${key}`}>
                <td>{sheet.datasheet}</td>
                <td>{label}</td>
                <td>{(sheet[key] as string[]).join(", ")}</td>
              </tr>
            )),
        )}
      </tbody>
    </table>
  );
}

interface Version {
  version: number;
  at: string;
  by: string;
  deleted: boolean;
}

function Versions({ role }: { role: Role; sheets: Sheet[] }) {
  const versions = useLoad(
    async () =>
      (
        await gql<{ roleVersions: Version[] }>(
          "query Versions($n: String!) { roleVersions(name: $n) { version at by deleted } }",
          { n: role.name },
        )
      ).roleVersions,
    [role.name, role.version],
  );
  const [from, setFrom] = useState<number>(0);
  const [to, setTo] = useState<number>(0);
  useEffect(() => {
    const list = versions.data;
    if (list && list.length > 0) {
      setTo(list[list.length - 1]?.version ?? 0);
      setFrom(list[Math.max(0, list.length - 2)]?.version ?? 0);
    }
  }, [versions.data]);
  if (versions.error) return <ErrorBox error={versions.error} />;
  if (!versions.data) return <Loading what="versions" />;
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions of {role.name}</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Saved</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {versions.data.map((v) => (
            <tr key={v.version}>
              <td>
                {v.version}
                {v.deleted ? " (deleted)" : ""}
              </td>
              <td>{new Date(v.at).toLocaleString()}</td>
              <td>{v.by}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="inline-form">
        <VersionChoice
          label="From version"
          versions={versions.data}
          value={from}
          onChange={setFrom}
        />
        <VersionChoice label="To version" versions={versions.data} value={to} onChange={setTo} />
      </div>
      {from > 0 && to > 0 && <DiffView name={role.name} from={from} to={to} />}
    </section>
  );
}

function VersionChoice(props: {
  label: string;
  versions: Version[];
  value: number;
  onChange: (version: number) => void;
}) {
  return (
    <label>
      {props.label}
      <select
        aria-label={props.label}
        value={props.value}
        onChange={(e) => props.onChange(Number(e.target.value))}
      >
        {props.versions.map((v) => (
          <option key={v.version} value={v.version}>
            {v.version}
          </option>
        ))}
      </select>
    </label>
  );
}

interface FieldRows {
  field: string;
  access: string;
  allRows: boolean;
  rowFilters: { equals: { field: string; value: string }[]; ownOnly: boolean }[];
}

interface Effective {
  roles: string[];
  admin: boolean;
  canExport: boolean;
  sheets: (SheetGrant & {
    allRows: boolean;
    rowFilters: SheetGrant["rowFilter"][];
    fields: FieldRows[];
  })[];
}

interface UserRow {
  id: string;
  email: string;
}

function describeRows(f: FieldRows): string {
  if (f.allRows) return "all rows";
  return f.rowFilters
    .map((r) =>
      [
        ...r.equals.map((c) => `${c.field} = ${c.value}`),
        ...(r.ownOnly ? ["own records"] : []),
      ].join(" and "),
    )
    .join(" or ");
}

/** "What can this user see": a user's effective permissions, as the same grid. */
function Effective({ sheets }: { sheets: Sheet[] }) {
  const users = useLoad(
    async () => (await gql<{ users: UserRow[] }>("query Users { users { id email } }")).users,
    [],
  );
  const [userId, setUserId] = useState("");
  const effective = useLoad(
    async () =>
      userId
        ? (
            await gql<{ effectivePermissions: Effective }>(
              `query Effective($u: ID!) { effectivePermissions(userId: $u) {
                 roles admin canExport sheets {
                   datasheet read mask write create archive delete export report
                   allRows rowFilters { equals { field value } ownOnly }
                 fields { field access allRows rowFilters { equals { field value } ownOnly } } } } }`,
              { u: userId },
            )
          ).effectivePermissions
        : null,
    [userId],
  );
  if (users.error) return <ErrorBox error={users.error} />;
  if (!users.data) return <Loading what="users" />;
  return (
    <section aria-labelledby="effective-title">
      <h2 id="effective-title">What can this user see?</h2>
      <label>
        User
        <select aria-label="User" value={userId} onChange={(e) => setUserId(e.target.value)}>
          <option value="">Choose a user…</option>
          {users.data.map((u) => (
            <option key={u.id} value={u.id}>
              {u.email}
            </option>
          ))}
        </select>
      </label>
      {userId && effective.error ? <ErrorBox error={effective.error} /> : null}
      {userId && effective.loading && <Loading what="permissions" />}
      {effective.data && (
        <>
          <p>
            Roles: {effective.data.roles.join(", ") || "none"}
            {effective.data.admin ? " (admin: everything)" : ""}; export{" "}
            {effective.data.canExport ? "allowed" : "not allowed"}.
          </p>
          {effective.data.sheets.length === 0 && <Empty>This user sees no datasheet.</Empty>}
          {effective.data.sheets.map((s) => {
            const sheet = sheets.find((x) => x.datasheet === s.datasheet) ?? {
              datasheet: s.datasheet,
              fields: [],
            };
            const notes: Record<string, string> = {};
            for (const f of s.fields) notes[f.field] = describeRows(f);
            return (
              <PermissionGrid
                key={s.datasheet}
                sheet={sheet}
                grant={{ ...s, rowFilter: s.allRows ? null : (s.rowFilters[0] ?? null) }}
                notes={notes}
              />
            );
          })}
        </>
      )}
    </section>
  );
}
