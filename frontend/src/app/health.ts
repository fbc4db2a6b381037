export type ComponentHealth = { healthy: boolean; latency_ms: number; detail?: string };  // detail: admins only
export type Health = { status: "ok" | "degraded"; components: Record<string, ComponentHealth> };

/** One line per component, for the status panel of the start page. */
export function describeHealth(health: Health): string[] {
  return Object.entries(health.components).map(
    ([name, c]) => `${name}: ${c.healthy ? "up" : "down"} (${c.latency_ms.toFixed(0)} ms)`,
  );
}

export async function fetchHealth(fetcher: typeof fetch = fetch): Promise<Health> {
  const response = await fetcher("/api/health/", { credentials: "same-origin" });
  return (await response.json()) as Health;
}
