import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The build is served by the backend, same origin as the API and the DICOMweb proxy.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
  test: { environment: "node", include: ["src/**/*.test.{ts,tsx}"] },
});
