// The tq.types worker label: sent only whole (a cut list would mislabel a type as unhandled), never
// over a label the worker set itself, and read back only when it is a JSON array of strings.
import { expect, test } from "bun:test";
import { MAX_LABEL_BYTES, MAX_WORKER_LABELS } from "../../../src/protocol/limits.ts";
import { declaredTypes, withTypesLabel } from "../../../src/protocol/worker-types-label.ts";

test("the handled types join the worker's own labels, sorted, as JSON", () => {
  expect(withTypesLabel({ zone: "eu-1" }, ["b", "a,with comma"])).toEqual([{ key: "zone", value: "eu-1" }, { key: "tq.types", value: '["a,with comma","b"]' }]);
  expect(declaredTypes({ "tq.types": '["a,with comma","b"]' })).toEqual(["a,with comma", "b"]);
});

test("left out when there are no handlers, when it would pass the label limits, or when the worker set its own", () => {
  expect(withTypesLabel({}, [])).toEqual([]);
  const long = Array.from({ length: 30 }, (_, i) => `type.number.${i}`);
  expect(JSON.stringify(long).length).toBeGreaterThan(MAX_LABEL_BYTES);
  expect(withTypesLabel({}, long)).toEqual([]);
  const full = Object.fromEntries(Array.from({ length: MAX_WORKER_LABELS }, (_, i) => [`k${i}`, "v"]));
  expect(withTypesLabel(full, ["a"])).toHaveLength(MAX_WORKER_LABELS);
  expect(withTypesLabel({ "tq.types": '["mine"]' }, ["a"])).toEqual([{ key: "tq.types", value: '["mine"]' }]);
});

test("a label that is not a JSON array of strings declares nothing", () => {
  for (const value of ["", "a,b", "{}", "[1]", '"a"', "[\"a\""]) expect(declaredTypes({ "tq.types": value })).toBeNull();
  expect(declaredTypes({ zone: "eu-1" })).toBeNull();
});
