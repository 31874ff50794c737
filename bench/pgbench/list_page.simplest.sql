-- GET /v1/shipments?status=:status&page_size=20&before_id=… (or after_id=…),
-- the simplest SQL that returns the same data: one statement, the 21
-- shipments (the page and one to tell whether there are more) on the
-- cursor's side of it in (created_at, id) order, with that status, each
-- LEFT JOINed to its addresses, parcel and customs info. The ceiling the
-- targets are judged against; list_page.sql is what the server sends.
--
-- Each statement sits alone in a pipeline only because pgbench 15, in
-- prepared mode, prepares a statement under \if when it is first run
-- but names it as if it were prepared with the script ("prepared
-- statement P_2 does not exist"); a pipeline prepares them all up front.
-- A pipeline of one statement is the same round trip.
\set n random(1, :nlist)
\set older random(0, 1)
SELECT id AS cursor FROM bench_list_ids WHERE n = :n \gset
\if :older
\startpipeline
SELECT *
{{shipment_joined}}
WHERE shipments.status = :status AND (shipments.created_at, shipments.id) < ((SELECT c.created_at FROM shipments AS c WHERE c.id = :cursor), :cursor)
ORDER BY shipments.created_at DESC, shipments.id DESC LIMIT 21;
\endpipeline
\else
\startpipeline
SELECT *
{{shipment_joined}}
WHERE shipments.status = :status AND (shipments.created_at, shipments.id) > ((SELECT c.created_at FROM shipments AS c WHERE c.id = :cursor), :cursor)
ORDER BY shipments.created_at ASC, shipments.id ASC LIMIT 21;
\endpipeline
\endif
