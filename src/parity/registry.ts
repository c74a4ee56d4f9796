import type { ParityAdapter } from "./fixture.ts";

const adapters = new Map<string, ParityAdapter>();

export function registerParityAdapter(a: ParityAdapter): void {
  adapters.set(a.fixture, a);
}

export function parityAdapter(fixture: string): ParityAdapter | undefined {
  return adapters.get(fixture);
}

export function parityFixtures(): string[] {
  return [...adapters.keys()].sort();
}
