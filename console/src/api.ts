// The console's only way to the gateway: GraphQL over POST /graphql, same origin.
//
// The access token lives in this module's memory only; the refresh token is in an HttpOnly
// cookie the page cannot read (cookie mode of the public sign-in operations, opted into with
// the X-Enclave-Session header; see docs/console.md). A reload refreshes from the cookie.

export type Variables = Record<string, unknown>;

export interface GraphQLErrorItem {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}

/** A refused operation: the first error's message and `extensions.code`. */
export class ApiError extends Error {
  readonly code: string;
  readonly extensions: Record<string, unknown>;

  constructor(message: string, code: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

export interface Session {
  accessToken: string;
  expiresIn: number;
  scope: string | null;
}

const SESSION_FIELDS = "accessToken expiresIn scope";
let session: Session | null = null;
let refreshTimer: number | undefined;
const listeners = new Set<() => void>();

export function currentSession(): Session | null {
  return session;
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function setSession(next: Session | null): void {
  session = next;
  window.clearTimeout(refreshTimer);
  if (next) {
    // Refresh a minute before the access token expires.
    const delay = Math.max(10, next.expiresIn - 60) * 1000;
    refreshTimer = window.setTimeout(() => void refresh(), delay);
  }
  listeners.forEach((l) => l());
}

async function post(body: unknown, headers: Record<string, string>): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError("the gateway cannot be reached", "NETWORK");
  }
  let payload: { data?: unknown; errors?: GraphQLErrorItem[] };
  try {
    payload = (await response.json()) as typeof payload;
  } catch {
    throw new ApiError(`the gateway answered ${response.status}`, "HTTP_" + response.status);
  }
  const first = payload.errors?.[0];
  if (first) {
    const ext = first.extensions ?? {};
    throw new ApiError(first.message, String(ext.code ?? "ERROR"), ext);
  }
  return payload.data;
}

/** A public (anonymous) sign-in operation, in cookie mode. */
async function publicOperation<T>(query: string, variables: Variables = {}): Promise<T> {
  return (await post({ query, variables }, { "x-enclave-session": "cookie" })) as T;
}

export async function signIn(
  tenant: string,
  email: string,
  password: string,
  code: string,
): Promise<Session> {
  const data = await publicOperation<{ login: Session }>(
    `mutation SignIn($t: ID!, $e: String!, $p: String!, $c: String) {
       login(tenant: $t, email: $e, password: $p, code: $c) { ${SESSION_FIELDS} } }`,
    { t: tenant, e: email, p: password, c: code || null },
  );
  setSession(data.login);
  return data.login;
}

let refreshing: Promise<boolean> | null = null;

/** A new access token from the session cookie; false (and signed out) if there is none. */
export function refresh(): Promise<boolean> {
  refreshing ??= publicOperation<{ refreshSession: Session }>(
    `mutation Refresh { refreshSession { ${SESSION_FIELDS} } }`,
  )
    .then((data) => {
      setSession(data.refreshSession);
      return true;
    })
    .catch(() => {
      setSession(null);
      return false;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function signOut(): Promise<void> {
  try {
    await gql("mutation SignOut { logout }");
  } finally {
    setSession(null);
    await refresh(); // refused now: the gateway clears the cookie
  }
}

/** Run an operation as the signed-in user (one refresh and retry if the token expired). */
export async function gql<T>(query: string, variables: Variables = {}): Promise<T> {
  const run = async (): Promise<T> => {
    if (!session) throw new ApiError("you are signed out", "UNAUTHENTICATED");
    return (await post(
      { query, variables },
      { authorization: `Bearer ${session.accessToken}` },
    )) as T;
  };
  try {
    return await run();
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED" && (await refresh())) {
      return run();
    }
    throw error;
  }
}

/** What GraphiQL's fetcher needs: the raw answer, errors included. */
export async function rawGql(body: Variables): Promise<unknown> {
  if (!session && !(await refresh())) throw new ApiError("you are signed out", "UNAUTHENTICATED");
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${session?.accessToken ?? ""}`,
    },
    body: JSON.stringify(body),
  });
  return response.json();
}
