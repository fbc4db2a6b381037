import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { App } from "./App";
import { describeHealth, fetchHealth, type Health } from "./health";

const degraded: Health = {
  status: "degraded",
  components: {
    database: { healthy: true, latency_ms: 1.4, detail: "PostgreSQL 15" },
    orthanc: { healthy: false, latency_ms: 3001, detail: "Orthanc is unreachable" },
  },
};

describe("platform status", () => {
  it("describes each component with its state and latency", () => {
    expect(describeHealth(degraded)).toEqual(["database: up (1 ms)", "orthanc: down (3001 ms)"]);
  });

  it("renders a degraded platform as degraded", () => {
    const html = renderToString(<App initialHealth={degraded} />);
    expect(html).toContain("Overall: <!-- -->degraded");
    expect(html).toContain("orthanc: down (3001 ms)");
  });

  it("reads the health endpoint of the same origin", async () => {
    const calls: string[] = [];
    const fake = (async (url: string) => {
      calls.push(url);
      return new Response(JSON.stringify(degraded), { status: 503 });
    }) as unknown as typeof fetch;
    await expect(fetchHealth(fake)).resolves.toEqual(degraded);
    expect(calls).toEqual(["/api/health/"]);
  });
});
