import { useState, type FormEvent } from "react";
import { gql, signOut } from "../api";
import { ErrorBox, Field, useAction } from "../components";

interface Enrollment {
  secret: string;
  uri: string;
}

/** Two-factor enrolment: a secret to enter in an authenticator app, confirmed by a code.
 * `required`: the tenant requires it and this session may do nothing else. */
export function Enrol({ required = false }: { required?: boolean }) {
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null);
  const [current, setCurrent] = useState("");
  const [code, setCode] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();

  const start = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const data = await gql<{ enrollTotp: Enrollment }>(
        "mutation Enrol($c: String) { enrollTotp(code: $c) { secret uri } }",
        { c: current.trim() || null },
      );
      setEnrollment(data.enrollTotp);
    });
  };

  const confirm = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      await gql("mutation Confirm($c: String!) { confirmTotp(code: $c) }", { c: code.trim() });
      setDone(true);
    });
  };

  const body = done ? (
    <div role="status">
      <p>Two-factor sign-in is set up. From now on, sign in with a code from your app.</p>
      {required && (
        <button type="button" onClick={() => void signOut()}>
          Sign in again
        </button>
      )}
    </div>
  ) : enrollment ? (
    <form onSubmit={confirm}>
      <p>Enter this secret in your authenticator app (or open the link on your phone):</p>
      <p>
        <code className="secret" data-testid="totp-secret">
          {enrollment.secret}
        </code>
      </p>
      <p>
        <a href={enrollment.uri}>Open in an authenticator app</a>
      </p>
      <Field
        label="Code from the app"
        value={code}
        onChange={setCode}
        name="confirm-code"
        inputMode="numeric"
        autoComplete="one-time-code"
        required
      />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        Confirm
      </button>
    </form>
  ) : (
    <form onSubmit={start}>
      <Field
        label="Current code (only to replace a second factor you already have)"
        value={current}
        onChange={setCurrent}
        name="current-code"
        inputMode="numeric"
      />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        Set up two-factor sign-in
      </button>
    </form>
  );

  if (!required) return body;
  return (
    <main id="main" className="narrow">
      <h1>Set up two-factor sign-in</h1>
      <p>Your organisation requires a second factor before you can use the console.</p>
      {body}
    </main>
  );
}

export function Account() {
  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title">Account</h1>
      <h2>Two-factor sign-in</h2>
      <Enrol />
      <h2>Password</h2>
      <ChangePassword />
    </section>
  );
}

function ChangePassword() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setDone(false);
    void run(async () => {
      await gql("mutation Pw($c: String!, $n: String!) { changePassword(current: $c, new: $n) }", {
        c: current,
        n: next,
      });
      setDone(true);
      setCurrent("");
      setNext("");
    });
  };
  return (
    <form onSubmit={submit}>
      <Field
        label="Current password"
        value={current}
        onChange={setCurrent}
        type="password"
        autoComplete="current-password"
        required
      />
      <Field
        label="New password (12 characters or more)"
        value={next}
        onChange={setNext}
        type="password"
        autoComplete="new-password"
        required
        minLength={12}
      />
      <ErrorBox error={error} />
      {done && <p role="status">Password changed.</p>}
      <button type="submit" disabled={busy}>
        Change password
      </button>
    </form>
  );
}
