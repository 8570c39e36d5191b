import { useState, type FormEvent } from "react";
import { ApiError, gql } from "../api";
import { Empty, ErrorBox, Field, Loading, useLoad } from "../components";
import { Effective } from "../roles/Effective";
import { PermissionGrid } from "../roles/Grid";
import { DiffView, Versions } from "../roles/Versions";
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
              <Versions role={role} />
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
      <Field
        label="Name"
        value={name}
        onChange={setName}
        name="role-name"
        required
        readOnly={role !== null}
      />
      <Field
        label="Description"
        value={description}
        onChange={setDescription}
        name="role-description"
      />
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
