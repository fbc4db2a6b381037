import { useEffect, useState } from "react";

import { describeHealth, fetchHealth, type Health } from "./health";

export function App({ initialHealth }: { initialHealth?: Health }) {
  const [health, setHealth] = useState<Health | undefined>(initialHealth);
  const [error, setError] = useState<string>();

  useEffect(() => {
    if (initialHealth) return;
    fetchHealth().then(setHealth, () => setError("The platform could not be reached."));
  }, [initialHealth]);

  return (
    <main style={{ fontFamily: "system-ui, sans-serif", maxWidth: 720, margin: "3rem auto" }}>
      <h1>MedCloud</h1>
      <p>Privacy-preserving medical imaging: view, share and analyse DICOM studies with AI.</p>
      <section aria-label="Platform status">
        <h2>Platform status</h2>
        {error && <p role="alert">{error}</p>}
        {!health && !error && <p>Checking…</p>}
        {health && (
          <>
            <p data-testid="overall-status">Overall: {health.status === "ok" ? "all systems up" : "degraded"}</p>
            <ul>
              {describeHealth(health).map((line) => (
                <li key={line}>{line}</li>
              ))}
            </ul>
          </>
        )}
      </section>
    </main>
  );
}
