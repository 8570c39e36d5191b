// Creates the gateway's least-privilege role and user on a fresh MongoDB data volume.
//
// Run by the official mongo image's entrypoint (mongosh, mounted under
// /docker-entrypoint-initdb.d/) only when /data/db is empty, i.e. once per volume.
// Changing ENCLAVE_DB_PASSWORD later does not change the user: run
// db.getSiblingDB("admin").changeUserPassword("enclave", "...") as root, or recreate
// the volume.
//
// Why the privileges are listed per collection name
// -------------------------------------------------
// Tenant data lives in one database per tenant, whose names are not known here, so
// resources use `db: ""` (= every database). MongoDB privileges are additive and have
// no "deny": a grant of update/remove on {db: "", collection: ""} (every collection of
// every database) would also cover each tenant's audit collections, and nothing could
// take it back. So read/write actions are granted on each record collection by name
// ({db: "", collection: "employees"} = the collection "employees" in every database),
// and the audit collections get only find + insert (+ createIndex, which cannot change a
// stored document; the first insert creates the collection implicitly, so no
// createCollection either): the gateway can append to and read the audit trail, but
// cannot rewrite or delete an entry.
//
// The one exception is dropDatabase on every database, needed to purge a tenant
// (erasure). It drops the tenant's audit trail with the rest; it also, like any
// database-wide grant, applies to enclave_control and encryption. A new record
// collection must be added to RECORD_COLLECTIONS below, or the gateway gets
// "not authorized" on it.

const password = process.env.ENCLAVE_DB_PASSWORD;
if (!password) {
  // Throwing makes mongosh exit non-zero, which aborts the image's init process.
  throw new Error("ENCLAVE_DB_PASSWORD is not set in the mongo container's environment");
}

const admin = db.getSiblingDB("admin");

const RECORD_COLLECTIONS = [
  "employees",
  "contacts",
  "applicants",
  "roles",
  "users",
  "api_keys",
  "exports",
  // Built-in sign-in: sessions (hashes of refresh secrets), the claims of used refresh
  // secrets, sign-in attempt slots, used TOTP steps (all pruned by the gateway).
  "sessions",
  "session_claims",
  "signin_failures",
  "totp_steps",
  // An API key's last use, apart from the key (so a use cannot undo a revocation).
  "api_key_uses",
  // Saved report definitions (their filters encrypted).
  "report_definitions",
  // One-time setup codes (hashes) and their claims: inserted, read, deleted.
  "setup_codes",
  "operations",
  "settings",
  // Erasures in progress (records being erased, under the email's ciphertext).
  "erasures",
  // An audit entry's values: replaced by a marker when a data subject is erased.
  "audit_values",
];
// Append-only: read and insert, never update or remove.
const AUDIT_COLLECTIONS = ["audit", "audit_outcomes", "audit_seals", "access_log"];

const READ_WRITE = ["find", "insert", "update", "remove", "createIndex", "createCollection"];
const APPEND_ONLY = ["find", "insert", "createIndex"];

const privileges = [
  // Database-level actions, every database: tenant purge, and listing (read-only).
  {
    resource: { db: "", collection: "" },
    actions: ["dropDatabase", "listCollections", "listIndexes"],
  },
  // Which tenant databases exist.
  { resource: { cluster: true }, actions: ["listDatabases"] },
  // Control plane: the tenant registry, and the client-side encryption key vault
  // (data keys are created, rewrapped and, for crypto-shredding, removed).
  { resource: { db: "enclave_control", collection: "tenants" }, actions: READ_WRITE },
  // Tenant state changes are claimed by inserting here: their history, append-only.
  { resource: { db: "enclave_control", collection: "transitions" }, actions: APPEND_ONLY },
  { resource: { db: "encryption", collection: "__keyVault" }, actions: READ_WRITE },
  ...RECORD_COLLECTIONS.map((name) => ({
    resource: { db: "", collection: name },
    actions: READ_WRITE,
  })),
  ...AUDIT_COLLECTIONS.map((name) => ({
    resource: { db: "", collection: name },
    actions: APPEND_ONLY,
  })),
];

if (admin.getRole("enclaveGateway") === null) {
  admin.createRole({ role: "enclaveGateway", privileges: privileges, roles: [] });
} else {
  admin.updateRole("enclaveGateway", { privileges: privileges, roles: [] });
}

if (admin.getUser("enclave") === null) {
  admin.createUser({
    user: "enclave",
    pwd: password,
    roles: [{ role: "enclaveGateway", db: "admin" }],
  });
}

print("enclave: role enclaveGateway and user enclave are in place on admin");
