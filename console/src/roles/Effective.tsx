import { useState } from "react";
import { gql } from "../api";
import { Empty, ErrorBox, Loading, useLoad } from "../components";
import { PermissionGrid } from "./Grid";
import type { Sheet, SheetGrant } from "./model";

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
export function Effective({ sheets }: { sheets: Sheet[] }) {
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
