import { lazy, Suspense, useEffect, useState, useSyncExternalStore } from "react";
import { currentSession, gql, onSessionChange, refresh, signOut } from "./api";
import { ErrorBox, Loading } from "./components";
import { AccessLog } from "./pages/AccessLog";
import { Account, Enrol } from "./pages/Account";
import { ApiKeys } from "./pages/ApiKeys";
import { Audit } from "./pages/Audit";
import { Exports } from "./pages/Exports";
import { Incidents } from "./incidents/Incidents";
import { Records } from "./pages/Records";
import { Roles } from "./pages/Roles";
import { SignIn } from "./pages/SignIn";
import { Users } from "./pages/Users";
import { Link, usePath } from "./router";
import { SessionContext, useSession, type Me, type SessionInfo } from "./session";

// GraphiQL (and its editor) is loaded only when its page is opened.
const GraphiQLPage = lazy(() => import("./pages/GraphiQLPage"));

const PAGES = [
  { path: "/roles", label: "Roles", admin: true },
  { path: "/users", label: "Users", admin: true },
  { path: "/keys", label: "API keys", admin: true },
  { path: "/records", label: "Records", admin: false },
  { path: "/audit", label: "Audit log", admin: false },
  { path: "/access", label: "Access log", admin: true },
  { path: "/incidents", label: "Incidents", admin: true },
  { path: "/exports", label: "Exports", admin: false },
  { path: "/graphiql", label: "GraphiQL", admin: false },
  { path: "/account", label: "Account", admin: false },
];

export function App() {
  const session = useSyncExternalStore(onSessionChange, currentSession);
  const [starting, setStarting] = useState(true);
  useEffect(() => {
    void refresh().finally(() => setStarting(false)); // a reload signs in from the cookie
  }, []);
  if (starting) return <Loading what="your session" />;
  if (!session) return <SignIn />;
  if (session.scope === "enroll") return <Enrol required />;
  return <SignedIn />;
}

function SignedIn() {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    // Who is signed in changes only with a new sign-in, which mounts this afresh.
    gql<{ me: Me }>("query Me { me { id roles canExport } }").then(
      (data) => setMe(data.me),
      setError,
    );
  }, []);
  if (error) return <ErrorBox error={error} />;
  if (!me) return <Loading what="your account" />;
  const info: SessionInfo = { me, admin: me.roles.includes("admin"), signOut };
  return (
    <SessionContext.Provider value={info}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const path = usePath();
  const info = useSession();
  const [signingOut, setSigningOut] = useState(false);
  const visible = PAGES.filter((p) => !p.admin || info.admin);
  const fallback = visible[0]?.path ?? "/account";
  const current = visible.find((p) => path.startsWith(p.path))?.path ?? fallback;
  return (
    <>
      <header className="top">
        <span className="brand">Enclave console</span>
        <nav aria-label="Pages">
          <ul>
            {visible.map((p) => (
              <li key={p.path}>
                <Link to={p.path} aria-current={p.path === current ? "page" : undefined}>
                  {p.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          disabled={signingOut}
          onClick={() => {
            setSigningOut(true);
            void info.signOut();
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        <Page path={current} />
      </main>
    </>
  );
}

function Page({ path }: { path: string }) {
  switch (path) {
    case "/roles":
      return <Roles />;
    case "/users":
      return <Users />;
    case "/keys":
      return <ApiKeys />;
    case "/records":
      return <Records />;
    case "/audit":
      return <Audit />;
    case "/access":
      return <AccessLog />;
    case "/exports":
      return <Exports />;
    case "/incidents":
      return <Incidents />;
    case "/graphiql":
      return (
        <Suspense fallback={<Loading what="GraphiQL" />}>
          <GraphiQLPage />
        </Suspense>
      );
    default:
      return <Account />;
  }
}
