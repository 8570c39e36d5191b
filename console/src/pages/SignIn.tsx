import { useState, type FormEvent } from "react";
import { signIn } from "../api";
import { ErrorBox, Field } from "../components";

// The tenant of the last sign-in, offered again after signing out (it is not a secret).
let lastTenant = "";

export function SignIn() {
  const params = new URLSearchParams(window.location.search);
  const [tenant, setTenant] = useState(params.get("tenant") ?? lastTenant);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      lastTenant = tenant.trim();
      await signIn(lastTenant, email.trim(), password, code.trim());
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <main id="main" className="narrow">
      <h1>Sign in to the Enclave console</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <Field label="Tenant" value={tenant} onChange={setTenant} name="tenant" required />
        <Field
          label="Email"
          value={email}
          onChange={setEmail}
          name="email"
          type="email"
          autoComplete="username"
          required
        />
        <Field
          label="Password"
          value={password}
          onChange={setPassword}
          name="password"
          type="password"
          autoComplete="current-password"
          required
        />
        <Field
          label="Authentication code"
          value={code}
          onChange={setCode}
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
        />
        <p id="signin-help" className="muted">
          Enter the six-digit code from your authenticator app if you have set up two-factor
          sign-in.
        </p>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
