import { useState, type FormEvent } from "react";
import { gql } from "../api";
import { ErrorBox, Field, Loading, useAction, useLoad } from "../components";

interface TenantContact {
  name: string;
  email: string;
  phone: string | null;
}

/** The contact point the authority report names (Art. 33(3)(b)), one per tenant. */
export function Contact() {
  const loaded = useLoad(
    async () =>
      (
        await gql<{ tenantContact: TenantContact | null }>(
          "query C { tenantContact { name email phone } }",
        )
      ).tenantContact,
    [],
  );
  return (
    <section aria-labelledby="contact-title">
      <h2 id="contact-title">Contact point for the authority</h2>
      <ErrorBox error={loaded.error} />
      {loaded.loading && loaded.data === undefined && <Loading what="the contact point" />}
      {loaded.data !== undefined && (
        <ContactForm key={loaded.data?.email ?? ""} contact={loaded.data} />
      )}
    </section>
  );
}

function ContactForm({ contact }: { contact: TenantContact | null }) {
  const [name, setName] = useState(contact?.name ?? "");
  const [email, setEmail] = useState(contact?.email ?? "");
  const [phone, setPhone] = useState(contact?.phone ?? "");
  const [saved, setSaved] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSaved(null);
    void run(async () => {
      const data = await gql<{ setTenantContact: TenantContact }>(
        `mutation SetContact($i: TenantContactInput!) { setTenantContact(input: $i) { name email } }`,
        { i: { name: name.trim(), email: email.trim(), phone: phone.trim() || null } },
      );
      setSaved(`Saved: ${data.setTenantContact.name}, ${data.setTenantContact.email}.`);
    });
  };
  return (
    <form onSubmit={submit} aria-label="Contact point">
      {!contact && <p className="muted empty">No contact point yet: reports name this one.</p>}
      <Field label="Contact name" value={name} onChange={setName} required />
      <Field label="Contact email" value={email} onChange={setEmail} type="email" required />
      <Field label="Contact phone (optional)" value={phone} onChange={setPhone} type="tel" />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        Save the contact point
      </button>
      {saved && <p role="status">{saved}</p>}
    </form>
  );
}
