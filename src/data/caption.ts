/** The reference's caption cleaning: lower case, whitespace runs collapsed to one space. */
export function cleanCaption(text: string): string {
  return text.toLowerCase().split(/\s+/).filter((w) => w.length > 0).join(" ");
}

/**
 * Horizontal-flip caption rule: every substring "left" and "right" swapped (plain substring
 * replacement, so "leftmost" becomes "rightmost"), as the reference does.
 */
export function swapLeftRight(caption: string): string {
  return caption.replaceAll("left", "@").replaceAll("right", "left").replaceAll("@", "right");
}
