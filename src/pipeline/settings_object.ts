/**
 * A user's settings object (a config section, a library option) over `defaults`: anything but a
 * plain object, or a key that `defaults` does not have, is a one-line error naming `where`.
 * Checking the values is left to the caller.
 */
export function mergeSettings<T extends object>(input: unknown, defaults: T, where: string): T {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new Error(`${where}: expected true, false or an object of settings`);
  }
  for (const key of Object.keys(input)) {
    if (!(key in defaults)) {
      throw new Error(
        `${where}: unknown setting "${key}" (known: ${Object.keys(defaults).join(", ")})`,
      );
    }
  }
  return { ...defaults, ...input } as T;
}
