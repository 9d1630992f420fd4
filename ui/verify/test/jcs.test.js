// RFC 8785 canonical JSON: the RFC's own examples for numbers, escapes and member order.

import { test } from "node:test";
import assert from "node:assert/strict";

import { canonicalSha256, canonicalize } from "../jcs.js";

test("numbers use the ECMAScript form (RFC 8785 §3.2.2.3 and Appendix B)", () => {
  /** @type {[number, string][]} */
  const cases = [
    [0, "0"], [-0, "0"], [1e21, "1e+21"], [1e-7, "1e-7"], [0.000001, "0.000001"],
    [333333333.33333329, "333333333.3333333"], [1e30, "1e+30"], [4.5, "4.5"], [2e-3, "0.002"],
    [9007199254740991, "9007199254740991"], [-1.7976931348623157e308, "-1.7976931348623157e+308"],
    [5e-324, "5e-324"], [295147905179352830000, "295147905179352830000"],
  ];
  for (const [n, want] of cases) assert.equal(canonicalize(n), want, String(n));
  assert.throws(() => canonicalize(NaN), /finite/);
  assert.throws(() => canonicalize(Infinity), /finite/);
});

test("members sort by UTF-16 code units (RFC 8785 §3.2.3 example)", () => {
  const input = JSON.parse('{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}');
  assert.equal(
    canonicalize(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test("strings escape only what JSON needs, lowercase \\u for controls", () => {
  assert.equal(canonicalize({ b: [true, null, "\u2028\u20ac/\u000f\n\"\\"], a: {} }), '{"a":{},"b":[true,null,"\u2028\u20ac/\\u000f\\n\\"\\\\"]}');
  // RFC 8785 §3.2.2 sample.
  const sample = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}');
  assert.equal(canonicalize(sample), '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  assert.throws(() => canonicalize("\ud800"), /surrogate/);
  assert.throws(() => canonicalize({ a: undefined }), /not a JSON value/);
});

test("args digest of {} is SHA-256 of the two bytes {}", async () => {
  assert.equal(await canonicalSha256({}), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  assert.equal(await canonicalSha256({ repo: "acme/api", number: 7 }), await canonicalSha256({ number: 7, repo: "acme/api" }));
});
