import { defineConfig } from "vite";

// Served by the gateway at /console (gateway/endpoints/console.py) under a strict CSP: no
// inline script, so no module-preload polyfill (Vite would inline nothing, but be explicit).
export default defineConfig({
  base: "/console/",
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      onwarn(warning, warn) {
        // GraphiQL's dependencies mark React server-component boundaries ("use client"),
        // which mean nothing in a client-only bundle.
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
});
