import { useEffect, useState } from "react";
import { when } from "../table";
import { clockRuns, clockText, isOverdue, type IncidentSummary } from "./model";

/** The time now, again every *everyMs* (the clock moves while the page is open). */
function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** The 72-hour clock of an incident: time left to report, or how far past it. */
export function Clock({ incident, large }: { incident: IncidentSummary; large?: boolean }) {
  const now = useNow();
  const runs = clockRuns(incident);
  const overdue = runs && isOverdue(incident.deadline, now);
  const className = ["clock", overdue ? "overdue" : "", large ? "large" : ""].join(" ").trim();
  return (
    <span className={className} data-testid="clock">
      {runs ? clockText(incident.deadline, now) : `clock stopped: ${incident.state.toLowerCase()}`}
      {large && <span className="muted"> (report due {when(incident.deadline)})</span>}
    </span>
  );
}
