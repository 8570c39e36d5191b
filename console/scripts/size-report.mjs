// Prints what the first load of /console costs: the JavaScript index.html loads and what it
// imports statically, gzip-compressed; lazy chunks (GraphiQL) are listed apart. Fails the
// build past the budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dist = new URL("../dist/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL(".vite/manifest.json", dist), "utf8"));
const gz = (file) => gzipSync(readFileSync(new URL(file, dist)), { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

const entry = Object.values(manifest).find((c) => c.isEntry);
const first = new Set();
const walk = (key) => {
  const chunk = manifest[key];
  if (!chunk || first.has(chunk.file)) return;
  first.add(chunk.file);
  for (const dep of chunk.imports ?? []) walk(dep);
};
walk(Object.keys(manifest).find((k) => manifest[k] === entry));
const lazy = new Set(
  Object.values(manifest)
    .map((c) => c.file)
    .filter((f) => f.endsWith(".js") && !first.has(f)),
);
const rows = (files) => [...files].map((f) => [f, gz(f)]).sort((a, b) => b[1] - a[1]);
const firstRows = rows(first);
const total = firstRows.reduce((s, [, n]) => s + n, 0);
console.log("console build: first load of /console (gzip)");
for (const [f, n] of firstRows) console.log(`  ${kb(n).padStart(10)}  ${f}`);
console.log(`  ${kb(total).padStart(10)}  total, budget ${kb(BUDGET)}`);
const lazyRows = rows(lazy);
const lazyTotal = lazyRows.reduce((s, [, n]) => s + n, 0);
console.log(`lazy-loaded when opened (GraphiQL): ${lazyRows.length} files, ${kb(lazyTotal)} gzip`);
for (const [f, n] of lazyRows.slice(0, 3)) console.log(`  ${kb(n).padStart(10)}  ${f}`);
if (total > BUDGET) {
  console.error(`first load ${kb(total)} is over the ${kb(BUDGET)} budget`);
  process.exit(1);
}
