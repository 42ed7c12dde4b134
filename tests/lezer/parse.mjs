// Parses LogQL and TraceQL with Grafana's own Lezer grammars (the ones its query editors use).
// Reads [{"language": "logql"|"traceql", "text": "..."}] on stdin; writes [{"errors": [offset, ...]}].
import { readFileSync } from "node:fs";
import { parser as logql } from "@grafana/lezer-logql";
import { parser as traceql } from "@grafana/lezer-traceql";
const parsers = { logql, traceql };
const queries = JSON.parse(readFileSync(0, "utf8"));
const results = queries.map(({ language, text }) => {
  const tree = parsers[language].parse(text);
  const errors = [];
  tree.iterate({ enter: (node) => { if (node.type.isError) errors.push(node.from); } });
  return { errors };
});
process.stdout.write(JSON.stringify(results));
