-- GET /v1/shipments/{id}, the simplest SQL that returns the same data:
-- one statement, the shipment LEFT JOINed to its four addresses, its
-- parcel and its customs info, by id. The ceiling the targets are judged
-- against (docs/benchmarks.md); get_one.sql is what the server sends.
\set n random(1, :nids)
SELECT id AS sid FROM bench_ids WHERE n = :n \gset
SELECT *
{{shipment_joined}}
WHERE shipments.id = :sid;
