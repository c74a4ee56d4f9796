import { describe, expect, test } from "vitest";
import { parseSubjectLabelFile, SubjectLabeler, subjectWords } from "../src/data/subject_labels.ts";

describe("subject labels", () => {
  test("synthetic spans win over file labels, which win over the first-chunk fallback", () => {
    const labeler = new SubjectLabeler({
      synthetic: [{ video: "a", exp_id: "0", token_span: [0, 3] }],
      file: [
        { video: "a", exp_id: "0", chunk_index: 2 },
        { video: "a", exp_id: "1", chunk_index: 1 },
        { video: "b", exp_id: "0", token_span: [2, 4] },
      ],
    });
    expect(labeler.label("a", "0")).toEqual({ source: "synthetic", tokenSpan: [0, 3] });
    expect(labeler.label("a", "1")).toEqual({ source: "file", chunkIndex: 1 });
    expect(labeler.label("b", "0")).toEqual({ source: "file", tokenSpan: [2, 4] });
    expect(labeler.label("c", "0")).toEqual({ source: "fallback-first-chunk", chunkIndex: 0 });
    expect(subjectWords("the red triangle moving left", [0, 3])).toBe("the red triangle");
  });

  test("files: the Ref-Shapes file counts as synthetic, any other as file", async () => {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(
      `${dir}/shapes.json`,
      JSON.stringify({
        generator: "ref-shapes",
        entries: [{ video: "v", exp_id: "0", token_span: [0, 2] }],
      }),
    );
    await Deno.writeTextFile(
      `${dir}/labels.json`,
      JSON.stringify([{ video: "w", exp_id: 3, chunk_index: 1 }]),
    );
    const labeler = await SubjectLabeler.load([`${dir}/shapes.json`, `${dir}/labels.json`]);
    expect(labeler.label("v", "0").source).toBe("synthetic");
    expect(labeler.label("w", "3")).toEqual({ source: "file", chunkIndex: 1 });
    await Deno.remove(dir, { recursive: true });
  });

  test("malformed entries name the field", () => {
    const bad = (entry: unknown) => () => parseSubjectLabelFile([entry], "l.json");
    expect(bad({ exp_id: "0", chunk_index: 0 })).toThrow(
      "subject labels l.json[0].video: expected a string",
    );
    expect(bad({ video: "v", exp_id: "0" })).toThrow(
      "subject labels l.json[0]: give exactly one of chunk_index, token_span",
    );
    expect(bad({ video: "v", exp_id: "0", token_span: [3, 2] })).toThrow(
      "subject labels l.json[0].token_span: expected [start, end) with 0 <= start < end",
    );
    expect(bad({ video: "v", exp_id: "0", chunk_index: -1 })).toThrow(
      "subject labels l.json[0].chunk_index: expected a non-negative integer",
    );
    expect(() => parseSubjectLabelFile({ rows: [] }, "x.json")).toThrow(
      'subject labels x.json: expected an array or an object with "entries"',
    );
  });
});
