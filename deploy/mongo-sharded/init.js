// One-shot set-up of a sharded region (docker-compose profile `sharded-eu`), run by the
// `mongo-eu-sharded-init` container with `mongosh --nodb --file`. Safe to rerun: each step
// first looks whether it is already done.
//
//   1. rs.initiate on the config server replica set and on each shard replica set;
//   2. on mongos: the root user, the gateway's role and user (the same script as the
//      single-node regions, deploy/mongo-init/01-enclave-user.js), then sh.addShard for
//      each shard.
//
// How it authenticates: the members of a sharded cluster share one keyfile (their internal
// authentication), and a client holding that keyfile may authenticate as the internal user
// `__system` (database `local`, SCRAM-SHA-1, password = the keyfile without whitespace).
// That is the only identity a fresh cluster has: with keyfile authentication on, the
// localhost exception would need this script to run inside each container, and the
// image's own initdb (MONGO_INITDB_ROOT_*) cannot run on a config server (a config server
// is never a standalone). The root user is created once mongos answers; from then on
// people use it, and the keyfile stays with the cluster's members and this container.
//
// Environment: SHARDED_CONFIG ("cfg-eu/mongo-eu-cfg:27017"), SHARDED_SHARDS
// ("shard-eu-a/mongo-eu-shard-a:27017,shard-eu-b/mongo-eu-shard-b:27017"), SHARDED_MONGOS
// ("mongo-eu-mongos:27017"), SHARDED_KEYFILE, MONGO_ROOT_USERNAME, MONGO_ROOT_PASSWORD,
// ENCLAVE_DB_PASSWORD.

const env = process.env;
const key = fs.readFileSync(env.SHARDED_KEYFILE, "utf8").replace(/\s/g, "");
const WAIT_SECONDS = 180;

function required(name) {
  if (!env[name]) {
    throw new Error(`${name} is not set in the init container's environment`);
  }
  return env[name];
}

// "name/host:port" -> { name, host }
function replicaSet(spec) {
  const [name, host] = spec.split("/");
  if (!name || !host) {
    throw new Error(`expected name/host:port, got ${spec}`);
  }
  return { name, host };
}

// A connection to one server as the cluster's internal user.
function asCluster(host) {
  const uri =
    `mongodb://__system:${encodeURIComponent(key)}@${host}/admin` +
    "?authSource=local&authMechanism=SCRAM-SHA-1&directConnection=true" +
    "&serverSelectionTimeoutMS=3000";
  return connect(uri);
}

// Retries *step* once a second until it returns a truthy value, or fails after WAIT_SECONDS.
function waitFor(what, step) {
  let last = null;
  for (let i = 0; i < WAIT_SECONDS; i++) {
    try {
      const done = step();
      if (done) {
        return done;
      }
      last = null;
    } catch (e) {
      last = e;
    }
    sleep(1000);
  }
  throw new Error(`gave up waiting for ${what}: ${last}`);
}

function initiate(set, extra) {
  const admin = waitFor(`${set.host} to answer`, () => asCluster(set.host));
  try {
    admin.adminCommand({ replSetGetStatus: 1 });
    print(`${set.name}: already initiated`);
  } catch (e) {
    if (e.codeName !== "NotYetInitialized") {
      throw e;
    }
    admin.adminCommand({
      replSetInitiate: { _id: set.name, ...extra, members: [{ _id: 0, host: set.host }] },
    });
    print(`${set.name}: initiated`);
  }
  waitFor(`${set.name} to elect a primary`, () => admin.hello().isWritablePrimary);
}

// Everything below runs in a function: 01-enclave-user.js, loaded into this script's global
// scope, declares top-level constants of its own (admin, password, ...).
function main() {
  const config = replicaSet(required("SHARDED_CONFIG"));
  const shards = required("SHARDED_SHARDS").split(",").map(replicaSet);
  const mongos = required("SHARDED_MONGOS");

  initiate(config, { configsvr: true });
  shards.forEach((shard) => initiate(shard, {}));

  // mongos starts serving once it has read the config servers; until then it refuses.
  // A global: 01-enclave-user.js works on `db`.
  db = waitFor(`mongos ${mongos} to answer`, () => {
    const conn = asCluster(mongos);
    conn.adminCommand({ listShards: 1 });
    return conn;
  });

  const admin = db.getSiblingDB("admin");
  const rootUser = env.MONGO_ROOT_USERNAME || "root";
  if (admin.getUser(rootUser) === null) {
    admin.createUser({
      user: rootUser,
      pwd: required("MONGO_ROOT_PASSWORD"),
      roles: [{ role: "root", db: "admin" }],
    });
    print(`mongos: user ${rootUser} created`);
  }
  // Users of a sharded cluster live on its config servers, whichever mongos created them.
  load("/docker-entrypoint-initdb.d/01-enclave-user.js");

  const present = new Set(admin.adminCommand({ listShards: 1 }).shards.map((s) => s._id));
  for (const shard of shards) {
    if (present.has(shard.name)) {
      print(`mongos: shard ${shard.name} already added`);
      continue;
    }
    admin.adminCommand({ addShard: `${shard.name}/${shard.host}`, name: shard.name });
    print(`mongos: shard ${shard.name} added`);
  }
  print("sharded region ready");
}

main();
