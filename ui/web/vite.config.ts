import { defineConfig } from "vite";

// Preact's JSX through esbuild: no framework plugin needed.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    // Vite's hashed file names let the server cache /assets/* forever.
    assetsDir: "assets",
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080", "/jaeger": "http://127.0.0.1:8080" },
  },
});
