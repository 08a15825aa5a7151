import { describe, expect, it } from "vitest";
import { addClause } from "./logquery";
import { parseTags } from "./tags";

describe("log query clauses", () => {
  it("adds a quoted clause, parenthesising a disjunction", () => {
    expect(addClause("", "level", "ERROR")).toBe('level:"ERROR"');
    expect(addClause("*", "level", "ERROR")).toBe('level:"ERROR"');
    expect(addClause("payment", "service", "check out")).toBe('payment AND service:"check out"');
    expect(addClause("a OR b", "host", "h1")).toBe('(a OR b) AND host:"h1"');
    expect(addClause("x", "service", 'we"ird', true)).toBe('x AND NOT service:"we\\"ird"');
  });
});

describe("trace search tags", () => {
  it("reads key=value pairs, quoted values with spaces", () => {
    expect(parseTags("")).toEqual({});
    expect(parseTags('http.status_code=500 error=true msg="card declined"')).toEqual({
      "http.status_code": "500",
      error: "true",
      msg: "card declined",
    });
    expect(parseTags("novalue")).toBeNull();
    expect(parseTags("=x")).toBeNull();
  });
});
