import { describe, expect, test } from "vitest";
import { BASE_GLOBALS, defineGlobals, unpickle } from "../src/io/pickle.ts";
import { CHECKPOINT_FAMILIES, renameKey, renameKeys } from "../src/io/key_maps.ts";

const hex = (text: string) => new Uint8Array(text.match(/../g)!.map((b) => Number.parseInt(b, 16)));
const latin1 = (text: string) => new Uint8Array([...text].map((c) => c.charCodeAt(0)));

// pickle.dumps({'a': [1, 2.5, 'xé✓', None, True, False], 'b': (1,), 'big': 2**70, 'neg': -5,
//               'od': OrderedDict([('k', 1)]), 's': {3}}, protocol=P) for P = 0 and 1.
const PROTOCOL_0 = hex(
  "286470300a56610a70310a286c70320a49310a6146322e350a615678e95c75323731330a70330a614e614930310a61" +
    "4930300a617356620a70340a2849310a7470350a73566269670a70360a4c31313830353931363230373137343131" +
    "3330333432344c0a73566e65670a70370a492d350a73566f640a70380a63636f6c6c656374696f6e730a4f726465" +
    "726564446963740a70390a2874527031300a566b0a7031310a49310a737356730a7031320a635f5f6275696c7469" +
    "6e5f5f0a7365740a7031330a28286c7031340a49330a61747031350a527031360a732e",
);
const PROTOCOL_1 = hex(
  "7d71002858010000006171015d7102284b01474004000000000000580600000078c3a9e29c9371034e4930310a4930" +
    "300a655801000000627104284b01747105580300000062696771064c3131383035393136323037313734313133303" +
    "33432344c0a58030000006e656771074afbffffff58020000006f64710863636f6c6c656374696f6e730a4f72646572" +
    "6564446963740a71092952710a58010000006b710b4b0173580100000073710c635f5f6275696c74696e5f5f0a7365" +
    "740a710d285d710e4b036174710f527110752e",
);

describe("restricted pickle VM", () => {
  test.each([["protocol 0 (text opcodes)", PROTOCOL_0], ["protocol 1", PROTOCOL_1]])(
    "%s",
    (_name, bytes) => {
      const { value, end } = unpickle(bytes);
      expect(end).toBe(bytes.length);
      expect(value).toEqual(
        new Map<string, unknown>([
          ["a", [1, 2.5, "x\u00e9\u2713", null, true, false]],
          ["b", [1]],
          ["big", 2n ** 70n],
          ["neg", -5],
          ["od", new Map([["k", 1]])],
          ["s", new Set([3])],
        ]),
      );
    },
  );

  test("consecutive pickles are read from the returned end offset", () => {
    const two = latin1("\x80\x02K\x07.\x80\x02X\x02\x00\x00\x00hi.");
    const first = unpickle(two);
    expect(first).toEqual({ value: 7, end: 5 });
    expect(unpickle(two, {}, first.end)).toEqual({ value: "hi", end: two.length });
  });

  test("globals outside the allow-list are refused by name, never called", () => {
    const evil = latin1("\x80\x02csubprocess\ncheck_output\nX\x02\x00\x00\x00ls\x85R.");
    expect(() => unpickle(evil, { source: "evil.pkl" })).toThrow(
      "pickle: refusing global subprocess.check_output (not in the allow-list) (offset 2 of evil.pkl)",
    );
    const stackGlobal = latin1("\x80\x04\x8c\x08builtins\x8c\x04eval\x93.");
    expect(() => unpickle(stackGlobal)).toThrow(/refusing global builtins\.eval/);
  });

  test("custom allow-lists, NEWOBJ + BUILD on Namespace, and BUILD refusal", () => {
    const namespace = latin1(
      "\x80\x02cargparse\nNamespace\n)\x81}(X\x02\x00\x00\x00lrG?\x1a6\xe2\xeb\x1cC-ub.",
    );
    expect(unpickle(namespace).value).toEqual({ lr: 1e-4 });
    const globals = new Map([
      ...BASE_GLOBALS,
      ...defineGlobals({ "m.Point": { call: () => ({}) } }),
    ]);
    const built = latin1("\x80\x02cm\nPoint\n)R}b.");
    expect(() => unpickle(built, { globals })).toThrow(
      /BUILD \(__setstate__\) is not supported for m\.Point/,
    );
  });

  test("corrupt input gives specific errors", () => {
    expect(() => unpickle(latin1("\x80\x02\xff"))).toThrow(
      /unknown opcode 0xff \(corrupt pickle\?\) \(offset 2/,
    );
    expect(() => unpickle(latin1("\x80\x02X\x05\x00\x00\x00ab"))).toThrow(
      /unexpected end of data: needed 5 more bytes \(truncated file\?\)/,
    );
    expect(() => unpickle(latin1("\x80\x02."))).toThrow(/stack underflow/);
    expect(() => unpickle(latin1("\x80\x02h\x03."))).toThrow(/memo key 3 is missing/);
    expect(() => unpickle(latin1("\x80\x02K\x01Q."))).toThrow(/no persistent_load handler/);
    expect(() => unpickle(latin1("\x80\x02K\x01K\x02R."))).toThrow(/REDUCE on non-callable number/);
  });
});

describe("checkpoint key maps", () => {
  test("GLIP keys are mapped and everything else dropped", () => {
    const glip = new Map([
      ["module.backbone.body.layers.0.blocks.0.attn.qkv.weight", 1],
      ["module.language_backbone.body.model.encoder.layer.0.output.dense.bias", 2],
      ["module.rpn.head.cls_logits.weight", 3],
      ["module.language_backbone.tokenizer_vocab", 4],
    ]);
    expect([...renameKeys(glip, "glip")]).toEqual([
      ["backbone.0.body.layers.0.blocks.0.attn.qkv.weight", 1],
      ["text_encoder.model.encoder.layer.0.output.dense.bias", 2],
    ]);
  });

  test("dmformer is the identity apart from stripping module.", () => {
    expect(CHECKPOINT_FAMILIES).toEqual(["dmformer", "glip"]);
    expect(renameKey("module.transformer.level_embed", "dmformer")).toBe("transformer.level_embed");
    expect(renameKey("class_embed.0.bias", "dmformer")).toBe("class_embed.0.bias");
  });

  test("collisions and unknown families are errors", () => {
    const clash = new Map([["module.a", 1], ["a", 2]]);
    expect(() => renameKeys(clash, "dmformer")).toThrow(/"a" and "module\.a" both map to "a"/);
    // @ts-expect-error: deliberately wrong family name
    expect(() => renameKeys(clash, "detr")).toThrow(
      /unknown checkpoint family "detr" \(known: dmformer, glip\)/,
    );
  });
});
