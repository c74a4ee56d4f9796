// Each adapter registers itself on import; one line per fixture family.
import "./losses.ts";
