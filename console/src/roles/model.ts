// Roles as the API has them (Role, SheetGrantInput), and the pure helpers the page uses.

export const FLAGS = ["create", "archive", "delete", "export", "report"] as const;
export type Flag = (typeof FLAGS)[number];
export const ACCESS = ["read", "mask", "write"] as const;
export type Access = (typeof ACCESS)[number];

export interface Condition {
  field: string;
  value: string;
}

export interface RowFilter {
  equals: Condition[];
  ownOnly: boolean;
}

export interface SheetGrant extends Record<Flag, boolean>, Record<Access, string[]> {
  datasheet: string;
  rowFilter: RowFilter | null;
}

export interface Role {
  name: string;
  description: string;
  version: number;
  updatedAt: string | null;
  sheets: SheetGrant[];
}

export interface Sheet {
  datasheet: string;
  fields: string[];
}

export const GRANT_FIELDS =
  "datasheet read mask write create archive delete export report " +
  "rowFilter { equals { field value } ownOnly }";
export const ROLE_FIELDS = `name description version updatedAt sheets { ${GRANT_FIELDS} }`;

export function emptyGrant(datasheet: string): SheetGrant {
  return {
    datasheet,
    read: [],
    mask: [],
    write: [],
    create: false,
    archive: false,
    delete: false,
    export: false,
    report: false,
    rowFilter: null,
  };
}

/** *grant* with *field*'s *access* switched on or off; read and mask exclude each other. */
export function toggle(grant: SheetGrant, field: string, access: Access, on: boolean): SheetGrant {
  const next = { ...grant };
  const set = (a: Access, value: boolean) => {
    const without = next[a].filter((f) => f !== field);
    next[a] = value ? [...without, field] : without;
  };
  set(access, on);
  if (on && access === "read") set("mask", false);
  if (on && access === "mask") set("read", false);
  return next;
}

function grantUsed(g: SheetGrant): boolean {
  return ACCESS.some((a) => g[a].length > 0) || FLAGS.some((f) => g[f]) || g.rowFilter !== null;
}

/** The RoleInput a role's editor state stands for (unused sheets left out). */
export function roleInput(name: string, description: string, grants: SheetGrant[]) {
  return {
    name,
    description,
    sheets: grants.filter(grantUsed).map((g) => ({
      datasheet: g.datasheet,
      read: [...g.read].sort(),
      mask: [...g.mask].sort(),
      write: [...g.write].sort(),
      create: g.create,
      archive: g.archive,
      delete: g.delete,
      export: g.export,
      report: g.report,
      rowFilter:
        g.rowFilter && (g.rowFilter.ownOnly || g.rowFilter.equals.length > 0)
          ? {
              ownOnly: g.rowFilter.ownOnly,
              equals: g.rowFilter.equals.map((c) => ({ field: c.field, value: c.value })),
            }
          : null,
    })),
  };
}

/** One grant per sheet of the catalogue, the role's where it has one. */
export function grantsFor(sheets: Sheet[], role: { sheets: SheetGrant[] } | null): SheetGrant[] {
  return sheets.map(
    (s) => role?.sheets.find((g) => g.datasheet === s.datasheet) ?? emptyGrant(s.datasheet),
  );
}
