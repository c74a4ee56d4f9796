import { vi } from "vitest";

/** Runs `fn` with console.log captured into `logged` instead of printed. */
export async function quietly<T>(fn: () => Promise<T>, logged: string[] = []): Promise<T> {
  const spy = vi.spyOn(console, "log").mockImplementation((s) => logged.push(String(s)));
  try {
    return await fn();
  } finally {
    spy.mockRestore();
  }
}
