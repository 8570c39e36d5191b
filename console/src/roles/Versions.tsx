import { useEffect, useState } from "react";
import { gql } from "../api";
import { Empty, ErrorBox, Loading, useLoad } from "../components";
import { DataTable, when } from "../table";
import type { Role } from "./model";

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

export function DiffView({ name, from, to }: { name: string; from: number; to: number }) {
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

export function Versions({ role }: { role: Role }) {
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
      <DataTable
        rows={versions.data}
        rowKey={(v) => v.version}
        columns={[
          { header: "Version", cell: (v) => `${v.version}${v.deleted ? " (deleted)" : ""}` },
          { header: "Saved", cell: (v) => when(v.at) },
          { header: "By", cell: (v) => v.by },
        ]}
      />
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
