import { createContext, useContext } from "react";

export interface Me {
  id: string;
  roles: string[];
  canExport: boolean;
}

export interface SessionInfo {
  me: Me;
  admin: boolean;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<SessionInfo | null>(null);

export function useSession(): SessionInfo {
  const info = useContext(SessionContext);
  if (!info) throw new Error("useSession outside a signed-in page");
  return info;
}
