/** The dataset's caption cleaning: lower-case, whitespace runs collapsed to one space, trimmed. */
export function cleanCaption(caption: string): string {
  if (typeof caption !== "string") throw new Error("caption must be a string");
  // Python's str.split() whitespace: Unicode White_Space plus the \x1c-\x1f separators.
  // deno-lint-ignore no-control-regex
  return caption.toLowerCase().split(/[\p{White_Space}\x1c-\x1f]+/u).filter((w) => w !== "")
    .join(" ");
}
