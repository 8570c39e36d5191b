// Breach incidents as the GraphQL API names them (issue 19), and the 72-hour clock.

export type IncidentState = "SUSPECTED" | "CONFIRMED" | "REPORTED" | "CLOSED" | "DISMISSED";
export type CompromisedKind = "USER" | "API_KEY" | "SESSION" | "EXPORT_LINK" | "PLATFORM";

export const STATES: IncidentState[] = [
  "SUSPECTED",
  "CONFIRMED",
  "REPORTED",
  "CLOSED",
  "DISMISSED",
];

/** The states an incident may be moved to by hand (filing the first report moves a confirmed
 * one to reported; the API has the last word). */
export const NEXT: Record<IncidentState, IncidentState[]> = {
  SUSPECTED: ["CONFIRMED", "DISMISSED"],
  CONFIRMED: ["DISMISSED"],
  REPORTED: ["CLOSED"],
  CLOSED: [],
  DISMISSED: [],
};

export const KIND_LABELS: Record<CompromisedKind, string> = {
  USER: "User",
  API_KEY: "API key",
  SESSION: "Session",
  EXPORT_LINK: "Export link",
  PLATFORM: "Platform (all principals)",
};

export interface Compromised {
  kind: CompromisedKind;
  id: string | null;
}

export interface StateChange {
  at: string;
  from: IncidentState | null;
  to: IncidentState;
  actorId: string | null;
  note: string | null;
}

export interface ContainmentAction {
  at: string;
  action: string;
  target: string | null;
  outcome: string;
}

export interface AuthorityReport {
  version: number;
  submittedAt: string;
  late: boolean;
  delayReason: string | null;
  document: unknown;
  html: string;
}

export interface IncidentSummary {
  id: string;
  state: IncidentState;
  version: number;
  origin: string;
  rule: string | null;
  nature: string | null;
  compromised: Compromised[];
  windowStart: string;
  windowEnd: string | null;
  detectedAt: string;
  deadline: string;
  hoursLeft: number;
  overdue: boolean;
}

export interface Incident extends IncidentSummary {
  history: StateChange[];
  containment: ContainmentAction[];
  reports: AuthorityReport[];
}

export const SUMMARY_FIELDS = `id state version origin rule nature compromised { kind id }
  windowStart windowEnd detectedAt deadline hoursLeft overdue`;

export const INCIDENT_FIELDS = `${SUMMARY_FIELDS}
  history { at from to actorId note }
  containment { at action target outcome }
  reports { version submittedAt late delayReason document html }`;

/** Whether the clock still runs: nothing has been reported and the incident is open. */
export function clockRuns(incident: IncidentSummary): boolean {
  return incident.state === "SUSPECTED" || incident.state === "CONFIRMED";
}

/** "41 h 12 min left" or "overdue by 3 h 5 min", from the deadline and the time *now*. */
export function clockText(deadline: string, now: number): string {
  const ms = new Date(deadline).getTime() - now;
  const minutes = Math.floor(Math.abs(ms) / 60_000);
  const span = `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return ms >= 0 ? `${span} left` : `overdue by ${span}`;
}

export function isOverdue(deadline: string, now: number): boolean {
  return new Date(deadline).getTime() < now;
}

export function describe(c: Compromised): string {
  return c.id ? `${KIND_LABELS[c.kind]} ${c.id}` : KIND_LABELS[c.kind];
}

/** A `datetime-local` value as an ISO instant (the browser's time zone). */
export function isoOf(local: string): string {
  return new Date(local).toISOString();
}

/** Now as a `datetime-local` value, to the minute, in the browser's time zone. */
export function localNow(offsetMs = 0): string {
  const d = new Date(Date.now() + offsetMs);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}
